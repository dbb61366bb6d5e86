"""The reporting calendar as timelines: one per country, one lane per report, drawn as SVG shapes.

`Lane` is what a timeline needs of a report, whatever computed it: today the government-report
list (`lanes_from_reports`); the computed reporting calendar can hand over lanes of its own.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.reads import Item

WIDTH = 760
LABEL_WIDTH = 170
LANE_HEIGHT = 30
AXIS_HEIGHT = 28
RIGHT_PAD = 16


@dataclass(frozen=True)
class Event:
    kind: str  # due, overdue, submitted, reviewed
    day: date
    text: str


@dataclass
class Lane:
    """One report (or expected report) of a country."""

    label: str
    events: list[Event]
    days_late: int | None = None
    report: Item | None = None

    @property
    def is_overdue(self) -> bool:
        return self.days_late is not None and self.days_late > 0


@dataclass
class Timeline:
    country: str
    lanes: list[Lane] = field(default_factory=list)

    @property
    def overdue(self) -> int:
        return sum(lane.is_overdue for lane in self.lanes)

    @property
    def most_late(self) -> int:
        return max((lane.days_late or 0 for lane in self.lanes), default=0)


def _label(report: Item) -> str:
    cycles = report["cycle_from"], report["cycle_to"]
    cycle = "" if cycles[0] is None else f" {cycles[0]}"
    if cycles[0] is not None and cycles[1] not in (None, cycles[0]):
        cycle += f"\N{EN DASH}{cycles[1]}"
    return f"{report['instrument']}{cycle} {report['kind'].replace('_', ' ')}"


def lane_from_report(report: Item) -> Lane:
    events = []
    days_late = report.get("days_late")
    if report["due_date"]:
        late = days_late is not None and days_late > 0
        text = f"overdue by {days_late} days" if late else "due"
        events.append(Event("overdue" if late else "due", date.fromisoformat(report["due_date"]), text))
    if report["submitted_date"]:
        events.append(Event("submitted", date.fromisoformat(report["submitted_date"]), "submitted"))
    if report["review_date"]:
        events.append(Event("reviewed", date.fromisoformat(report["review_date"]), "reviewed by the Committee"))
    return Lane(_label(report), events, days_late, report)


def timelines(lanes: Iterable[tuple[str, Lane]]) -> list[Timeline]:
    """Per country: countries with overdue reports first (the latest report first), then A to Z;
    in each, overdue lanes first, then by first date."""
    by_country: dict[str, Timeline] = defaultdict(lambda: Timeline(""))
    for country, lane in lanes:
        timeline = by_country[country]
        timeline.country = country
        timeline.lanes.append(lane)
    for timeline in by_country.values():
        timeline.lanes.sort(key=lambda lane: (not lane.is_overdue, min((e.day for e in lane.events), default=date.max)))
    return sorted(by_country.values(), key=lambda t: (t.overdue == 0, -t.most_late, t.country))


def lanes_from_reports(reports: Iterable[Item]) -> list[tuple[str, Lane]]:
    return [(report["country"], lane_from_report(report)) for report in reports]


@dataclass
class Drawing:
    """Coordinates for the template: every number the SVG needs, computed here."""

    width: int
    height: int
    years: list[tuple[int, float]]
    today_x: float | None
    lanes: list[dict[str, Any]]


def draw(timeline: Timeline, first_year: int, last_year: int, today: date) -> Drawing:
    """Lay the timeline on a common axis from 1 January `first_year` to 1 January `last_year` + 1."""
    start, end = date(first_year, 1, 1), date(last_year + 1, 1, 1)
    span = (end - start).days
    plot = WIDTH - LABEL_WIDTH - RIGHT_PAD

    def x(day: date) -> float:
        return round(LABEL_WIDTH + plot * (day - start).days / span, 1)

    step = max(1, (last_year - first_year + 1) // 8)
    years = [(year, x(date(year, 1, 1))) for year in range(first_year, last_year + 1, step)]
    lanes = []
    for index, lane in enumerate(timeline.lanes):
        y = AXIS_HEIGHT + index * LANE_HEIGHT + LANE_HEIGHT / 2
        points = [{"kind": e.kind, "x": x(e.day), "text": f"{e.text}: {e.day.isoformat()}"} for e in lane.events]
        xs = [x(e.day) for e in lane.events]
        if lane.is_overdue:
            xs.append(x(today))
        lanes.append(
            {
                "label": lane.label,
                "y": y,
                "points": points,
                "line": (min(xs), max(xs)) if len(xs) > 1 else None,
                "late_to": x(today) if lane.is_overdue else None,
                "overdue": lane.is_overdue,
            }
        )
    height = AXIS_HEIGHT + LANE_HEIGHT * len(timeline.lanes) + 8
    today_x = x(today) if start <= today < end else None
    return Drawing(WIDTH, height, years, today_x, lanes)


def year_range(all_timelines: list[Timeline], today: date) -> tuple[int, int]:
    days = [event.day for t in all_timelines for lane in t.lanes for event in lane.events]
    if any(lane.is_overdue for t in all_timelines for lane in t.lanes):
        days.append(today)
    if not days:
        return today.year, today.year
    return min(days).year, max(days).year
