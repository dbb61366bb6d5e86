"""No stored date, and no date the API accepts, makes the calendar, its ICS feed or the pages fail.

Stored dates range over all a date column can hand back (0001-01-01 to 9999-12-31), written
without the API's checks as a hand edit or an old backup leaves them; asked-for dates range over
what the API accepts (tests/records/test_days.py proves it refuses the rest).
"""

import uuid
from datetime import date

import icalendar
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlmodel import Session, col

from app.models.activities import Activity
from app.models.partners import Partner
from app.models.ratifications import Ratification
from app.models.reports import GovernmentReport
from app.models.work_plans import WorkPlan
from app.records import FIRST_DAY, LAST_DAY, RecordTable
from tests.factories import make_activity, make_partner, make_ratification, make_report

ACCEPTED = st.dates(FIRST_DAY, LAST_DAY)
STORED_COLUMNS: dict[type[RecordTable], tuple[str, ...]] = {
    Ratification: ("deposited_on", "entry_into_force_override"),
    GovernmentReport: ("due_date", "submitted_date", "review_date", "concluding_observations_date"),
    Activity: ("planned_start", "planned_end", "actual_start", "actual_end"),
    WorkPlan: ("period_start", "period_end"),
    Partner: ("active_from", "active_to"),
}
# Each example rewrites the same rows, so the function-scoped fixtures carry nothing over; the
# same examples every run, as the schemathesis fuzz (tests/api/test_fuzz.py).
EXTREMES = settings(
    max_examples=20, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


Ids = dict[type[RecordTable], uuid.UUID]


@pytest.fixture
def ids(session: Session) -> Ids:
    """A State on the calendar with a report an activity monitors, in a plan, with a partner."""
    partner = make_partner(session)
    ratification = make_ratification(session, country="MEX", instrument="CRC", deposited_on=date(1990, 9, 21))
    make_ratification(session, country="MEX", instrument="OPSC", deposited_on=date(2002, 3, 15))
    report = make_report(session, country="MEX", instrument="CRC", kind="periodic", cycle_from=2, cycle_to=3)
    activity = make_activity(
        session,
        countries=["MEX"],
        government_report_ids=[report.id],
        participants=[{"partner_id": partner.id, "role": "partner"}],
    )
    return {
        Ratification: ratification.id,
        GovernmentReport: report.id,
        Activity: activity.id,
        WorkPlan: activity.work_plan_id,
        Partner: partner.id,
    }


def store(session: Session, ids: Ids, stored: dict[str, date | None]) -> None:
    """Write the dates straight into the rows, past every check of the API."""
    for model, columns in STORED_COLUMNS.items():
        values = {column: stored[column] for column in columns}
        session.execute(update(model).where(col(model.id) == ids[model]).values(values))
    session.flush()


def stored_dates() -> st.SearchStrategy[dict[str, date | None]]:
    columns = [column for columns in STORED_COLUMNS.values() for column in columns]
    return st.fixed_dictionaries({c: st.dates() if c == "deposited_on" else st.none() | st.dates() for c in columns})


def every_date(value: date) -> dict[str, date | None]:
    return {column: value for columns in STORED_COLUMNS.values() for column in columns}


def assert_ok(client: TestClient, path: str, params: dict[str, str] | None = None) -> bytes:
    response = client.get(path, params=params)
    assert response.status_code == 200, (path, params, response.text[:500])
    return response.content


@EXTREMES
@given(stored=stored_dates(), as_of=ACCEPTED)
@example(stored=every_date(date.max), as_of=LAST_DAY)
@example(stored=every_date(date.min), as_of=FIRST_DAY)
def test_no_stored_date_makes_the_calendar_the_feed_or_a_page_fail(
    client: TestClient, session: Session, ids: Ids, stored: dict[str, date | None], as_of: date
) -> None:
    store(session, ids, stored)
    day = {"as_of": as_of.isoformat()}
    assert_ok(client, "/v1/reporting-calendar", day)
    assert_ok(client, "/v1/reporting-calendar/gaps", day | {"period_from": "1900-01-01", "period_to": "2199-12-31"})
    assert_ok(client, "/v1/countries/MEX/reporting", day)
    assert_ok(client, "/v1/ratifications")
    assert_ok(client, f"/v1/government-reports/{ids[GovernmentReport]}")
    parsed = icalendar.Calendar.from_ical(assert_ok(client, "/v1/calendar.ics", day))
    assert parsed.errors == []
    assert all(event.errors == [] for event in parsed.walk("VEVENT"))
    for page in ("/", "/partners", f"/activities/{ids[Activity]}"):
        assert_ok(client, page)
    assert_ok(client, "/reports", day)
    assert_ok(client, "/reports/MEX", day)  # the State's timeline, drawn on these dates


@EXTREMES
@given(first=ACCEPTED, second=ACCEPTED, as_of=ACCEPTED)
@example(first=LAST_DAY, second=LAST_DAY, as_of=LAST_DAY)
@example(first=FIRST_DAY, second=LAST_DAY, as_of=FIRST_DAY)
def test_no_accepted_date_makes_the_calendar_the_feed_or_a_page_fail(
    client: TestClient, ids: Ids, first: date, second: date, as_of: date
) -> None:
    due = {"due_from": min(first, second).isoformat(), "due_to": max(first, second).isoformat()}
    params = {"as_of": as_of.isoformat(), **due}
    assert_ok(client, "/v1/reporting-calendar", params)
    assert_ok(client, "/v1/reporting-calendar", due)
    assert_ok(client, "/v1/calendar.ics", params)
    assert_ok(client, "/reports", params)
    period = {"period_from": due["due_from"], "period_to": due["due_to"], "as_of": as_of.isoformat()}
    assert_ok(client, "/v1/reporting-calendar/gaps", period)
    assert_ok(client, "/v1/analysis/articles", {"period_from": due["due_from"], "period_to": due["due_to"]})
