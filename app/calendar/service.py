"""The reporting calendar from the database: ratifications and reports in, expected reports out.

`reporting_calendar` is the public entry point (the HTML pages draw on it too): three queries
whatever the number of States (ratifications, report cycles, the activities that monitor them),
then the pure rules of app/calendar/rules.py and app/treaties.py.
"""

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlmodel import Session, col

from app.calendar.rules import Expected, Filed, Party, Status, expected_reports
from app.models.activities import Activity, ActivityGovernmentReport
from app.models.ratifications import Ratification
from app.models.reports import GovernmentReport
from app.records import LAST_DAY, utcnow
from app.treaties import party_in_force
from app.vocabularies import Instrument, ReportKind

DEFAULT_HORIZON = relativedelta(years=5)

__all__ = ["Calendar", "Expected", "Gap", "coverage_gaps", "reporting_calendar"]


@dataclass(frozen=True)
class Calendar:
    """What `reporting_calendar` answers: the items and the dates they were worked out for."""

    as_of: date
    until: date
    items: list[Expected]


def reporting_calendar(
    session: Session,
    *,
    countries: Sequence[str] = (),
    instruments: Sequence[Instrument] = (),
    as_of: date | None = None,
    until: date | None = None,
    overdue: bool | None = None,
    statuses: Sequence[Status] = (),
    due_from: date | None = None,
    due_to: date | None = None,
) -> Calendar:
    """Every report each State owes, by country, instrument and cycle (stable; the pages use it).

    - `countries` (ISO alpha-3) and `instruments` narrow the items; the rules still see all of
      a State's instruments, since a CRC party reports on the protocols in its CRC cycle.
    - `as_of` (default: today, UTC) is the day `status`, `days_late` and `satisfied_by` are
      judged on: a report submitted after it satisfies nothing yet.
    - `until` (default: `due_to`, else `as_of` + 5 years, the next report of every cycle): cycles
      run while their nominal date is on or before it; never after LAST_DAY, the calendar's horizon.
    - `overdue`, `statuses`, `due_from`, `due_to` filter on the result (the applicable `due_date`;
      an item whose date is unknown is in no date range).

    Only States with a ratification on record appear, and only reports with a `cycle_from` (and
    not `additional_information`) are placed in a cycle.

    Items are `app.calendar.rules.Expected`, ordered by country, instrument (CRC, OPSC, OPAC) and
    cycle; `activity_ids` on each names the live activities monitoring a report of that cycle.
    """
    as_of = as_of or utcnow().date()
    # `as_of` may be any day (the CLI takes one unchecked): five years after LAST_DAY is still a date.
    until = min(until or due_to or min(as_of, LAST_DAY) + DEFAULT_HORIZON, LAST_DAY)
    parties = _parties(session, countries)
    reports = _reports(session, list(parties))
    monitors = _monitors(session, [r.id for filed in reports.values() for r in filed])
    items: list[Expected] = []
    for country in sorted(parties):
        for item in expected_reports(parties[country], reports.get(country, []), as_of, until):
            if instruments and item.instrument not in instruments:
                continue
            if overdue is not None and item.is_overdue != overdue:
                continue
            if statuses and item.status not in statuses:
                continue
            if (due_from or due_to) and not _within(item.due_date, due_from, due_to):
                continue  # an item whose date is unknown is in no range
            item.activity_ids = sorted({a for r in item.report_ids for a in monitors.get(r, ())})
            items.append(item)
    return Calendar(as_of=as_of, until=until, items=items)


def _within(day: date | None, start: date | None, end: date | None) -> bool:
    return day is not None and not ((start and day < start) or (end and day > end))


def _parties(session: Session, countries: Sequence[str]) -> dict[str, list[Party]]:
    statement = select(
        col(Ratification.country),
        col(Ratification.instrument),
        col(Ratification.action),
        col(Ratification.deposited_on),
        col(Ratification.entry_into_force_override),
        col(Ratification.succession_effective_on),
        col(Ratification.reports_tracked_from),
        col(Ratification.disputed),
    ).where(col(Ratification.deleted_at).is_(None))
    if countries:
        statement = statement.where(col(Ratification.country).in_(countries))
    parties: dict[str, list[Party]] = {}
    rows = session.execute(statement.order_by(Ratification.country))
    for country, name, action, deposited_on, override, succession, tracked_from, disputed in rows:
        instrument = Instrument(name)
        in_force, reason = party_in_force(instrument, action, deposited_on, override, succession, disputed)
        parties.setdefault(country, []).append(Party(country, instrument, in_force, reason, tracked_from))
    return parties


def _reports(session: Session, countries: list[str]) -> dict[str, list[Filed]]:
    if not countries:
        return {}
    statement = (
        select(
            col(GovernmentReport.id),
            col(GovernmentReport.country),
            col(GovernmentReport.instrument),
            col(GovernmentReport.cycle_from),
            col(GovernmentReport.cycle_to),
            col(GovernmentReport.due_date),
            col(GovernmentReport.submitted_date),
            col(GovernmentReport.concluding_observations_symbol),
            col(GovernmentReport.next_report_due_date),
            col(GovernmentReport.next_report_cycle_from),
            col(GovernmentReport.next_report_cycle_to),
        )
        .where(
            col(GovernmentReport.deleted_at).is_(None),
            col(GovernmentReport.cycle_from).is_not(None),
            # Further information the Committee asked for answers a request, not a cycle.
            col(GovernmentReport.kind) != ReportKind.ADDITIONAL_INFORMATION,
        )
        .order_by(GovernmentReport.country)
    )
    if len(countries) < 100:
        statement = statement.where(col(GovernmentReport.country).in_(countries))
    rows = session.execute(statement).all()
    return {
        country: [Filed(str(r[0]), r[1], Instrument(r[2]), *r[3:]) for r in group]
        for country, group in itertools.groupby(rows, key=lambda row: row[1])
    }


def _monitors(session: Session, report_ids: list[str]) -> dict[str, list[str]]:
    """Live activities per report id (the activities that monitor or analyse it)."""
    if not report_ids:
        return {}
    statement = (
        select(col(ActivityGovernmentReport.government_report_id), col(ActivityGovernmentReport.activity_id))
        .join(Activity, col(Activity.id) == ActivityGovernmentReport.activity_id)
        .where(col(Activity.deleted_at).is_(None))
    )
    if len(report_ids) < 500:
        statement = statement.where(
            col(ActivityGovernmentReport.government_report_id).in_([uuid.UUID(r) for r in report_ids])
        )
    found: dict[str, list[str]] = {}
    for report_id, activity_id in session.execute(statement):
        found.setdefault(str(report_id), []).append(str(activity_id))
    return found


@dataclass(frozen=True)
class Gap:
    item: Expected
    reasons: list[str]  # due, submitted, review: what of it falls in the period


def coverage_gaps(
    session: Session,
    period_from: date,
    period_to: date,
    *,
    countries: Sequence[str] = (),
    instruments: Sequence[Instrument] = (),
    statuses: Sequence[Status] = (),
    as_of: date | None = None,
) -> list[Gap]:
    """Reports due, submitted or reviewed in [period_from, period_to] that no live activity monitors.

    The coordinator's "which reviews have no coalition activity yet?": an expected report with no
    report on record has no activity either, so it is a gap when it falls due in the period.
    """
    calendar = reporting_calendar(
        session,
        countries=countries,
        instruments=instruments,
        statuses=statuses,
        as_of=as_of,
        until=max(period_to, as_of or period_to),
    )
    report_ids = {uuid.UUID(r) for item in calendar.items for r in item.report_ids}
    dates: dict[str, tuple[date | None, date | None]] = {}
    if report_ids:
        statement = select(
            col(GovernmentReport.id), col(GovernmentReport.submitted_date), col(GovernmentReport.review_date)
        ).where(col(GovernmentReport.id).in_(report_ids))
        dates = {str(r[0]): (r[1], r[2]) for r in session.execute(statement)}

    def within(day: date | None) -> bool:
        return day is not None and period_from <= day <= period_to

    gaps = []
    for item in calendar.items:
        if item.activity_ids:
            continue
        reasons = ["due"] if within(item.due_date) else []
        if any(within(dates[r][0]) for r in item.report_ids if r in dates):
            reasons.append("submitted")
        if any(within(dates[r][1]) for r in item.report_ids if r in dates):
            reasons.append("review")
        if reasons:
            gaps.append(Gap(item, reasons))
    return gaps
