"""A State's reporting calendar as a timeline: one lane per expected report, as SVG shapes.

The lanes come from `app.calendar.service.reporting_calendar` (what `/v1/reporting-calendar`
answers), with the review dates of the reports on record that satisfy each item.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.calendar.rules import Expected
from app.pages.status import status_words
from app.pages.text import day
from app.reads import Item

WIDTH = 760
LABEL_WIDTH = 170
LANE_HEIGHT = 30
AXIS_HEIGHT = 28
RIGHT_PAD = 16
ORDINALS = {2: "2nd", 3: "3rd"}


@dataclass(frozen=True)
class Event:
    kind: str  # due, no_report, overdue, submitted, reviewed
    day: date
    text: str


@dataclass
class Lane:
    """One report a State owes, as the calendar computed it."""

    label: str
    events: list[Event]
    is_overdue: bool = False  # as the page says it (app.pages.status), so the shape agrees with the words
    notes: list[str] = field(default_factory=list)
    reports: list[Item] = field(default_factory=list)
    activity_ids: list[str] = field(default_factory=list)


@dataclass
class Timeline:
    country: str
    lanes: list[Lane] = field(default_factory=list)


def label(item: Expected) -> str:
    cycle = "initial" if item.cycle == 1 else f"{ORDINALS.get(item.cycle, f'{item.cycle}th')} periodic"
    return f"{item.instrument.value} {cycle}"


def notes(item: Expected) -> list[str]:
    """What a reader should know of an item beyond its date and status (all public)."""
    found = []
    if item.committee_due_date is not None and item.committee_due_date != item.nominal_due_date:
        found.append(f"date set by the Committee (the treaty's: {day(item.nominal_due_date)})")
    if item.includes:
        found.append("covers the " + " and ".join(i.value for i in item.includes))
    return found


def lane(item: Expected, reports: Mapping[str, Item]) -> Lane:
    """The lane of one calendar item; `reports` holds the public reports on record by id."""
    on_record = [reports[r] for r in item.report_ids if r in reports]
    events = []
    key = status_words(item).key
    overdue = key == "overdue"
    if item.due_date is not None:
        if overdue:
            events.append(Event("overdue", item.due_date, f"overdue by {item.days_late} days"))
        elif key == "no_report":  # passed, but nobody keeps the State's history: not a claim of lateness
            events.append(Event("no_report", item.due_date, "due; no report on record"))
        else:
            events.append(Event("due", item.due_date, "due"))
    if item.submitted_date is not None:
        events.append(Event("submitted", item.submitted_date, "submitted"))
    reviews = sorted(date.fromisoformat(r["review_date"]) for r in on_record if r["review_date"])
    if reviews:
        events.append(Event("reviewed", reviews[0], "reviewed by the Committee"))
    return Lane(label(item), events, overdue, notes(item), on_record, item.activity_ids)


@dataclass
class Drawing:
    """Coordinates for the template: every number the SVG needs, computed here."""

    width: int
    height: int
    years: list[tuple[int, float]]
    as_of_x: float | None
    lanes: list[dict[str, Any]]


def draw(timeline: Timeline, first_year: int, last_year: int, as_of: date) -> Drawing:
    """Lay the timeline on a common axis from 1 January `first_year` to 31 December `last_year`."""
    # The axis ends where its last day does: a 1 January after it would not exist in year 9999.
    start, last = date(first_year, 1, 1), date(last_year, 12, 31)
    span = (last - start).days + 1
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
            xs.append(x(as_of))
        lanes.append(
            {
                "label": lane.label,
                "y": y,
                "points": points,
                "line": (min(xs), max(xs)) if len(xs) > 1 else None,
                "overdue": lane.is_overdue,
            }
        )
    height = AXIS_HEIGHT + LANE_HEIGHT * len(timeline.lanes) + 8
    as_of_x = x(as_of) if start <= as_of <= last else None
    return Drawing(WIDTH, height, years, as_of_x, lanes)


def year_range(all_timelines: list[Timeline], as_of: date) -> tuple[int, int]:
    days = [event.day for t in all_timelines for lane in t.lanes for event in lane.events]
    if any(lane.is_overdue for t in all_timelines for lane in t.lanes):
        days.append(as_of)
    if not days:
        return as_of.year, as_of.year
    return min(days).year, max(days).year
