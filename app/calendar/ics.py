"""`GET /v1/calendar.ics`: due dates, Committee reviews and activity dates as an RFC 5545 calendar.

Every event is all-day (VALUE=DATE) with a UID that stays the same from one download to the next
(so a subscribed calendar updates events instead of duplicating them), and a DTSTAMP that is the
last revision of what it was made from (RFC 5545 3.8.7.2, for a calendar without METHOD): the
file is the same while nothing changed, and its ETag lets a client skip the download.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from icalendar import Calendar as ICalendar
from icalendar import Event
from sqlalchemy import func, select
from sqlmodel import Session, col

from app.calendar.models import DEFAULT_WINDOW_MONTHS, CalendarParams
from app.calendar.service import reporting_calendar
from app.models.activities import Activity, ActivityCountry
from app.models.ratifications import Ratification
from app.models.reports import GovernmentReport
from app.records import FIRST_DAY, LAST_DAY, as_utc, utcnow

DOMAIN = "workplan"
EPOCH = datetime(1990, 1, 1, tzinfo=UTC)


def _event(uid: str, day: date, summary: str, description: str, stamp: datetime, end: date | None = None) -> Event:
    event = Event()
    event.add("uid", f"{uid}@{DOMAIN}")
    event.add("dtstamp", as_utc(stamp))
    event.add("dtstart", day)
    last = end or day
    if last < date.max:
        # DTEND of an all-day event is exclusive: the day after the last one.
        event.add("dtend", last + timedelta(days=1))
    else:
        # No date names the day after 9999-12-31 (only a stored date leads there): the same span.
        event.add("duration", timedelta(days=(last - day).days + 1))
    event.add("summary", summary)
    event.add("description", description)
    event.add("transp", "TRANSPARENT")
    return event


def _within(day: date, params: CalendarParams) -> bool:
    return not ((params.due_from and day < params.due_from) or (params.due_to and day > params.due_to))


def _revision(session: Session, countries: Sequence[str]) -> datetime:
    """The last change to the ratifications and reports the due dates come from."""
    latest = EPOCH
    for model in (Ratification, GovernmentReport):
        statement = select(func.max(model.updated_at))
        if countries:
            statement = statement.where(col(model.country).in_(countries))
        found = session.execute(statement).scalar()
        if found is not None:
            latest = max(latest, as_utc(found))
    return latest


WINDOW = relativedelta(months=DEFAULT_WINDOW_MONTHS)


def build_calendar(session: Session, params: CalendarParams) -> bytes:
    """The feed; without `due_from`/`due_to`, report due dates within 12 months of `as_of`."""
    ical = ICalendar()
    ical.add("prodid", "-//NGO Group for the CRC//workplan reporting calendar//EN")
    ical.add("version", "2.0")
    ical.add("calscale", "GREGORIAN")
    ical.add("x-wr-calname", "Reporting calendar")
    due_from, due_to = params.due_from, params.due_to
    if due_from is None and due_to is None:
        as_of = min(params.as_of or utcnow().date(), LAST_DAY)
        due_from, due_to = max(as_of - WINDOW, FIRST_DAY), min(as_of + WINDOW, LAST_DAY)
    calendar = reporting_calendar(
        session,
        countries=params.country,
        instruments=params.instrument,
        as_of=params.as_of,
        overdue=params.overdue,
        statuses=params.status,
        due_from=due_from,
        due_to=due_to,
    )
    revision = _revision(session, params.country)
    for item in calendar.items:
        if item.due_date is None:
            continue  # no day to put it on: the JSON calendar lists it, with its reason
        status = item.status.value.replace("_", " ")
        source = item.due_source.value if item.due_source else "treaty"
        if item.due_source_document:
            source += f", {item.due_source_document}"
        ical.add_component(
            _event(
                f"due-{item.country}-{item.instrument.value}-{item.cycle}",
                item.due_date,
                f"{item.country}: {item.instrument.value} {item.kind} report (cycle {item.cycle}) {status}",
                f"Due {item.due_date.isoformat()} ({source}), {status}: {item.rule}.",
                revision,
            )
        )
    for report in _reviews(session, params):
        report_id, country, instrument, session_number, review_date, symbol, updated_at = report
        if _within(review_date, params):
            where = f"Committee session {session_number}" if session_number else "Committee"
            ical.add_component(
                _event(
                    f"review-{report_id}",
                    review_date,
                    f"{where}: review of {country}'s {instrument} report",
                    f"{symbol or 'Report'}: /v1/government-reports/{report_id}",
                    updated_at,
                )
            )
    if params.overdue is None and not params.instrument and not params.status:
        for activity_id, code, title, start, end, updated_at in _activities(session, params):
            if _within(start, params):
                ical.add_component(
                    _event(
                        f"activity-{activity_id}",
                        start,
                        f"{code}: {title}",
                        f"/v1/activities/{activity_id}",
                        updated_at,
                        end,
                    )
                )
    return bytes(ical.to_ical())


def _reviews(session: Session, params: CalendarParams) -> Sequence[Any]:
    statement = (
        select(
            col(GovernmentReport.id),
            col(GovernmentReport.country),
            col(GovernmentReport.instrument),
            col(GovernmentReport.committee_session),
            col(GovernmentReport.review_date),
            col(GovernmentReport.symbol),
            col(GovernmentReport.updated_at),
        )
        .where(col(GovernmentReport.deleted_at).is_(None), col(GovernmentReport.review_date).is_not(None))
        .order_by(col(GovernmentReport.review_date), col(GovernmentReport.id))
    )
    if params.country:
        statement = statement.where(col(GovernmentReport.country).in_(params.country))
    if params.instrument:
        statement = statement.where(col(GovernmentReport.instrument).in_(params.instrument))
    return session.execute(statement).all()


def _activities(session: Session, params: CalendarParams) -> Sequence[Any]:
    statement = (
        select(
            col(Activity.id),
            col(Activity.code),
            col(Activity.title),
            col(Activity.planned_start),
            col(Activity.planned_end),
            col(Activity.updated_at),
        )
        .where(col(Activity.deleted_at).is_(None), col(Activity.planned_start).is_not(None))
        .order_by(col(Activity.planned_start), col(Activity.id))
    )
    if params.country:
        statement = statement.where(
            col(Activity.id).in_(
                select(col(ActivityCountry.activity_id)).where(col(ActivityCountry.country).in_(params.country))
            )
        )
    return session.execute(statement).all()
