"""What each page shows, read through the API's own services and readers: no query of its own.

Each function takes the session and the same parameter model as the matching `/v1` list, and
returns plain dicts (the API's JSON items) grouped the way a person reads them.
"""

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlmodel import Session

from app.activities import service as activities
from app.activities.kind import ACTIVITY
from app.activities.service import ActivityListParams
from app.calendar import service as calendar_service
from app.calendar.models import CalendarParams
from app.calendar.service import Expected
from app.lists import Listing
from app.objectives import service as objectives
from app.objectives.kind import OBJECTIVE
from app.objectives.service import ObjectiveListParams
from app.pages import timeline
from app.pages.status import StatusWords, status_words
from app.partners import service as partners
from app.partners.kind import PARTNER
from app.partners.service import PartnerListParams
from app.ratifications import service as ratifications
from app.ratifications.kind import RATIFICATION
from app.reads import Item, Reader
from app.records import FIRST_DAY, LAST_DAY
from app.reports import service as reports
from app.reports.kind import GOVERNMENT_REPORT
from app.reports.service import GovernmentReportListParams
from app.vocabularies import Instrument
from app.work_plans import service as work_plans
from app.work_plans.kind import WORK_PLAN
from app.work_plans.service import WorkPlanListParams

# A page shows at most this many records (one API page); the CSV export has them all.
PAGE_SIZE = 200
CLOSED_STATUSES = frozenset({"completed", "cancelled"})


@dataclass
class Shown:
    """Items of one list page, and whether the list has more than the page shows."""

    items: list[Item]
    truncated: bool = False


def read(session: Session, listing: Listing[Any], reader: Reader) -> Shown:
    rows, next_cursor = listing.page(session, reader.columns)
    return Shown(reader.build(session, rows), next_cursor is not None)


def all_work_plans(session: Session) -> list[Item]:
    """Every plan, latest period first (the API's default order)."""
    params = WorkPlanListParams(limit=PAGE_SIZE)
    return read(session, work_plans.list_work_plans(session, params), WORK_PLAN.reader).items


def choose_plan(session: Session, plans: list[Item], wanted: uuid.UUID | None) -> Item | None:
    """The plan asked for (listed or not), else the latest adopted one, else the latest."""
    if wanted is not None:
        return next(iter(WORK_PLAN.reader.by_ids(session, [wanted])), None)
    adopted = [plan for plan in plans if plan["status"] == "adopted"]
    return next(iter(adopted or plans), None)


def all_partners(session: Session, params: PartnerListParams | None = None) -> Shown:
    params = params or PartnerListParams(limit=PAGE_SIZE)
    return read(session, partners.list_partners(session, params), PARTNER.reader)


@dataclass
class ObjectiveSection:
    objective: Item
    activities: list[Item] = field(default_factory=list)


@dataclass
class PlanView:
    plan: Item
    sections: list[ObjectiveSection]
    matching: int
    truncated: bool
    by_status: list[tuple[str, int]]
    hidden_objectives: int
    late: int


def plan_view(session: Session, plan: Item, params: ActivityListParams, filtered: bool, today: date) -> PlanView:
    """The plan's objectives in order, each with its activities matching `params` (the
    `/v1/activities` filters), partners named; unmatched objectives are left out when filtering."""
    plan_id = uuid.UUID(plan["id"])
    objective_params = ObjectiveListParams(work_plan_id=[plan_id], limit=PAGE_SIZE)
    objective_listing = objectives.list_objectives(session, objective_params)
    sections = {item["id"]: ObjectiveSection(item) for item in read(session, objective_listing, OBJECTIVE.reader).items}
    scoped = params.model_copy(update={"work_plan_id": [plan_id], "limit": PAGE_SIZE, "include": ["partners"]})
    listing = activities.list_activities(session, scoped)
    rows, next_cursor = listing.page(session, ACTIVITY.reader.columns)
    items = activities.with_includes(session, rows, scoped.include)
    for item in items:
        names = {partner["id"]: partner for partner in item.pop("partners")}
        item["taking_part"] = [
            {"partner": names[p["partner_id"]], "role": p["role"]}
            for p in item["participants"]
            if p["partner_id"] in names
        ]
        item["is_late"] = is_late(item, today)
        section = sections.get(item["objective_id"])
        if section is not None:
            section.activities.append(item)
    shown = [s for s in sections.values() if s.activities or not filtered]
    counts = Counter(item["status"] for item in items)
    return PlanView(
        plan,
        shown,
        len(items),
        next_cursor is not None,
        sorted(counts.items(), key=lambda pair: -pair[1]),
        len(sections) - len(shown),
        sum(item["is_late"] for item in items),
    )


def is_late(activity: Item, today: date) -> bool:
    """Still open after its planned end."""
    end = activity["planned_end"]
    return activity["status"] not in CLOSED_STATUSES and end is not None and date.fromisoformat(end) < today


@dataclass
class ActivityView:
    activity: Item
    objective: Item | None
    plan: Item | None
    taking_part: list[dict[str, Any]]
    reports: list[Item]
    is_late: bool


def activity_view(session: Session, activity_id: uuid.UUID, today: date) -> ActivityView:
    """One activity with its objective, plan, partners and monitored reports; NotFound if none."""
    activity = ACTIVITY.reader.get(session, activity_id)
    objective = next(iter(OBJECTIVE.reader.by_ids(session, [uuid.UUID(activity["objective_id"])])), None)
    plan = next(iter(WORK_PLAN.reader.by_ids(session, [uuid.UUID(activity["work_plan_id"])])), None)
    partner_ids = [uuid.UUID(p["partner_id"]) for p in activity["participants"]]
    names = {p["id"]: p for p in PARTNER.reader.by_ids(session, partner_ids, include_deleted=True)}
    taking_part = [
        {"partner": names[p["partner_id"]], "role": p["role"]}
        for p in activity["participants"]
        if p["partner_id"] in names
    ]
    report_ids = [uuid.UUID(i) for i in activity["government_report_ids"]]
    monitored = GOVERNMENT_REPORT.reader.by_ids(session, report_ids)
    return ActivityView(activity, objective, plan, taking_part, monitored, is_late(activity, today))


# /reports shows, unless asked for other dates, what fell due in the past year and what falls due
# in the next two: the window a coordinator plans in (all cycles since 1990 would be thousands).
WINDOW_BACK = relativedelta(years=1)
WINDOW_AHEAD = relativedelta(years=2)


@dataclass
class Row:
    """One calendar item as a page shows it."""

    item: Expected
    label: str
    status: StatusWords
    notes: list[str]


def row(item: Expected) -> Row:
    return Row(item, timeline.label(item), status_words(item), timeline.notes(item))


@dataclass
class Upcoming:
    """What /reports shows: the items due in the window, the items with no date, and a count of
    the overdue items before the window, with every State on the calendar (for the filter)."""

    as_of: date
    window: tuple[date, date]
    rows: list[Row]
    unknown: list[Row]
    overdue_before: int
    countries: list[str]


def window(params: CalendarParams, as_of: date) -> tuple[date, date]:
    """The due dates /reports shows: `due_from`/`due_to` as asked, else the past year and the next two."""
    # A `due_to` alone before the default start still shows the year before it.
    anchor = min(as_of, params.due_to) if params.due_to else as_of
    start = params.due_from or max(FIRST_DAY, anchor - WINDOW_BACK)
    end = params.due_to or min(LAST_DAY, max(as_of, start) + WINDOW_AHEAD)
    return start, end


def upcoming(session: Session, params: CalendarParams, as_of: date) -> Upcoming:
    """The calendar, narrowed by the service as `/v1/reporting-calendar` narrows it (country,
    instrument, overdue), in the window of `window`; with every State on the calendar, for the form."""
    start, end = window(params, as_of)
    calendar = calendar_service.reporting_calendar(
        session,
        countries=params.country,
        instruments=params.instrument,
        overdue=params.overdue,
        as_of=as_of,
        until=end,
    )
    rows, unknown, overdue_before = [], [], 0
    for item in calendar.items:
        if item.due_date is None:
            unknown.append(row(item))
        elif start <= item.due_date <= end:
            rows.append(row(item))
        elif item.due_date < start and item.is_overdue:
            overdue_before += 1
    rows.sort(key=lambda r: (r.item.due_date, r.item.country, r.item.cycle))
    return Upcoming(as_of, (start, end), rows, unknown, overdue_before, ratifications.countries_on_record(session))


@dataclass
class StateView:
    """A State's page: its ratifications, every item of its calendar by instrument, its public
    reports on record, and its timeline."""

    country: str
    ratifications: list[Item]
    sections: list[tuple[str, list[Row]]]
    reports: list[Item]
    line: timeline.Timeline


def state_view(session: Session, country: str, as_of: date, instruments: list[Instrument]) -> StateView | None:
    """None where no ratification of `country` is on record."""
    calendar = calendar_service.reporting_calendar(session, countries=[country], instruments=instruments, as_of=as_of)
    ratified = read(
        session,
        ratifications.list_ratifications(
            session, ratifications.RatificationListParams(country=[country], limit=PAGE_SIZE)
        ),
        RATIFICATION.reader,
    ).items
    ratified.sort(key=lambda r: [i.value for i in Instrument].index(r["instrument"]))
    if not ratified and not calendar.items:
        return None
    listing = reports.list_reports(
        session,
        GovernmentReportListParams(country=[country], instrument=instruments, limit=PAGE_SIZE, sort="due_date"),
    )
    on_record = read(session, listing, GOVERNMENT_REPORT.reader).items
    by_id = {report["id"]: report for report in on_record}
    sections: dict[str, list[Row]] = {}
    for item in calendar.items:
        sections.setdefault(item.instrument.value, []).append(row(item))
    line = timeline.Timeline(country, [timeline.lane(item, by_id) for item in calendar.items])
    return StateView(country, ratified, list(sections.items()), on_record, line)
