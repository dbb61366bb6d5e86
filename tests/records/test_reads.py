"""The lean read path (app/reads.py) writes byte for byte what the Public models write.

Every answer (get, list pages, include=, CSV and NDJSON streams, and each write's answer) is built
from rows by a Reader, which writes the JSON without validating it: here the Reader's bytes are
held to those of `Public.model_validate(record).model_dump_json()` on the ORM records, which the
API used to answer writes with. Checked on the seed and on generated records with awkward text,
every vocabulary value, empty and full lists, and overdue and future reports.
"""

import csv
import io
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import Engine, event, text
from sqlmodel import Session, SQLModel, select

from app.activities import service as activities
from app.activities.kind import ACTIVITY
from app.csv_cells import to_cell
from app.models.activities import Activity, ActivityPublic, ActivityUpdate
from app.models.objectives import Objective, ObjectivePublic
from app.models.partners import Partner, PartnerPublic
from app.models.ratifications import Ratification, RatificationPublic
from app.models.reports import GovernmentReport, GovernmentReportPublic, GovernmentReportUpdate
from app.models.work_plans import WorkPlan, WorkPlanPublic
from app.objectives.kind import OBJECTIVE
from app.partners.kind import PARTNER
from app.ratifications.kind import RATIFICATION
from app.reads import Reader, to_json
from app.records import column_values, utcnow
from app.reports import service as reports
from app.reports.kind import GOVERNMENT_REPORT
from app.seed.service import load_seed
from app.vocabularies import (
    ARTICLE_COUNT,
    ActivityLevel,
    ActivityStatus,
    ActivityType,
    Assessment,
    Instrument,
    ParticipantRole,
    PartnerKind,
    ReportKind,
    ReportStatus,
    WorkPlanStatus,
)
from app.work_plans.kind import WORK_PLAN
from tests.factories import make_activity, make_objective, make_partner, make_ratification, make_report, make_work_plan


def activity_public(activity: Activity) -> ActivityPublic:
    return ActivityPublic.model_validate(
        {
            **column_values(activity),
            "countries": [row.country for row in activity.countries],
            "participants": [{"partner_id": p.partner_id, "role": p.role} for p in activity.participants],
            "government_report_ids": [row.government_report_id for row in activity.government_reports],
        }
    )


def report_public(report: GovernmentReport) -> GovernmentReportPublic:
    return GovernmentReportPublic.model_validate(
        {
            **column_values(report),
            "articles": [
                {"instrument": a.instrument, "article": a.article, "assessment": a.assessment, "note": a.note}
                for a in report.articles
            ],
            "monitored_by": [m.partner_id for m in report.monitors],
        }
    )


@dataclass(frozen=True)
class Resource:
    path: str
    model: type[SQLModel]
    public: Callable[[Any], BaseModel]  # the record as its Public model, validated from the ORM object
    reader: Reader


RESOURCES = [
    Resource("/v1/work-plans", WorkPlan, WorkPlanPublic.model_validate, WORK_PLAN.reader),
    Resource("/v1/objectives", Objective, ObjectivePublic.model_validate, OBJECTIVE.reader),
    Resource("/v1/partners", Partner, PartnerPublic.model_validate, PARTNER.reader),
    Resource("/v1/government-reports", GovernmentReport, report_public, GOVERNMENT_REPORT.reader),
    Resource("/v1/activities", Activity, activity_public, ACTIVITY.reader),
    Resource("/v1/ratifications", Ratification, RatificationPublic.model_validate, RATIFICATION.reader),
]
TEXTS = [
    "plain",
    "Zoë's «café» — naïve",
    'quotes " and \\ backslash',
    "line\nbreak\tand tab",
    "=SUM(A1) formula-like",
    "-leading minus",
    "emoji 🧒🏽 and CJK 儿童",
    "\u2028 line separator \u2029",
    "</script><b>html</b>",
    "x" * 300,
]
COUNTRIES = ["KEN", "FRA", "MEX", "THA", "BRA", "PHL", "IND"]


def texts(rng: random.Random, optional: bool = True) -> Any:
    return None if optional and rng.random() < 0.3 else rng.choice(TEXTS)


def maybe_date(rng: random.Random, start: date | None = None) -> date | None:
    if rng.random() < 0.3:
        return None
    base = start or date(2000, 1, 1) + timedelta(days=rng.randrange(12_000))
    return base + timedelta(days=rng.randrange(400)) if start else base


def generate(session: Session, rng: random.Random) -> None:
    """Records through the service layer, as the API would store them."""
    plans = [
        make_work_plan(
            session,
            title=rng.choice(TEXTS)[:300].strip() or "t",
            group_name=texts(rng),
            status=rng.choice(list(WorkPlanStatus)),
            description=texts(rng),
        )
        for _ in range(3)
    ]
    objective_list = [
        make_objective(session, work_plan_id=rng.choice(plans).id, description=texts(rng)) for _ in range(4)
    ]
    partner_list = []
    for n in range(8):
        start = maybe_date(rng)
        partner_list.append(
            make_partner(
                session,
                name=f"{rng.choice(TEXTS)[:200].strip()} {n}",
                acronym=rng.choice([None, "NGO AG", "ECPAT"]),
                kind=rng.choice(list(PartnerKind)),
                country=rng.choice([None, *COUNTRIES]),
                website=rng.choice([None, "https://example.org/a?b=c&d"]),
                description=texts(rng),
                active_from=start,
                active_to=maybe_date(rng, start) if start else None,
                mandate_holder=texts(rng),
                contact_email="someone@example.org",
                notes="internal, never published",
            )
        )
    today = utcnow().date()
    report_list = []
    for n in range(12):
        instrument = rng.choice(list(Instrument))
        due = rng.choice([None, today - timedelta(days=rng.randrange(1, 900)), today + timedelta(days=30), today])
        submitted = rng.choice([None, None, date(2004, 9, 1)])
        articles = [
            {
                "instrument": article_instrument,
                "article": number,
                "assessment": rng.choice(list(Assessment)),
                "note": texts(rng),
            }
            for article_instrument in rng.sample(list(Instrument), rng.randrange(0, 3))
            for number in rng.sample(range(1, ARTICLE_COUNT[article_instrument] + 1), rng.randrange(0, 4))
        ]
        report_list.append(
            make_report(
                session,
                country=rng.choice(COUNTRIES),
                instrument=instrument,
                kind=rng.choice(list(ReportKind)),
                symbol=rng.choice([None, f"CRC/C/{instrument}/{n}/1"]),
                due_date=due,
                submitted_date=submitted,
                committee_session=rng.choice([None, 1, 37, 1000]),
                status=rng.choice(list(ReportStatus)),
                analysis=texts(rng),
                articles=articles,
                monitored_by=[p.id for p in rng.sample(partner_list, rng.randrange(0, 4))],
                notes="internal",
            )
        )
    for _ in range(25):
        planned_start = maybe_date(rng)
        make_activity(
            session,
            objective_id=rng.choice(objective_list).id,
            title=rng.choice(TEXTS)[:300].strip() or "t",
            description=texts(rng),
            status=rng.choice(list(ActivityStatus)),
            type=rng.choice(list(ActivityType)),
            level=rng.choice([None, *ActivityLevel]),
            planned_start=planned_start,
            planned_end=maybe_date(rng, planned_start) if planned_start else None,
            countries=rng.sample(COUNTRIES, rng.randrange(0, 4)),
            participants=[
                {"partner_id": p.id, "role": rng.choice(list(ParticipantRole))}
                for p in rng.sample(partner_list, rng.randrange(0, 4))
            ],
            government_report_ids=[r.id for r in rng.sample(report_list, rng.randrange(0, 3))],
        )
    # Changed records: a version above 1, lists replaced (ids sorted, positions renumbered).
    changed = session.exec(select(Activity)).first()
    assert changed is not None
    activities.update_activity(
        session,
        changed,
        ActivityUpdate(countries=["THA", "BRA"], participants=[{"partner_id": partner_list[3].id, "role": "funder"}]),  # type: ignore[list-item]
    )
    reports.update_report(session, report_list[0], GovernmentReportUpdate(analysis="Changed, with «text»."))


def expected(session: Session, resource: Resource) -> dict[str, bytes]:
    records = session.exec(select(resource.model).where(resource.model.deleted_at.is_(None))).all()  # type: ignore[attr-defined]
    assert records
    for record in records:
        session.refresh(record)
    return {str(record.id): resource.public(record).model_dump_json().encode() for record in records}  # type: ignore[attr-defined]


@pytest.fixture(params=["seed", "generated"])
def records(request: pytest.FixtureRequest, session: Session) -> str:
    if request.param == "seed":
        load_seed(session)
        make_report(session, articles=[{"instrument": "CRC", "article": 34}], due_date=date(2004, 1, 18))
    else:
        generate(session, random.Random(20031128))  # noqa: S311
    make_ratification(session, country="KEN", instrument="CRC", deposited_on=date(1990, 7, 30))
    make_ratification(
        session,
        country="SRB",
        instrument="OPSC",
        action="succession",
        deposited_on=date(2001, 3, 12),
        entry_into_force_override=date(2002, 1, 18),
        reservations="Zoë's «declaration»",
    )
    session.flush()
    return str(request.param)


@pytest.mark.parametrize("resource", RESOURCES, ids=[r.path.removeprefix("/v1/") for r in RESOURCES])
def test_reader_items_are_the_public_models_json(session: Session, records: str, resource: Resource) -> None:
    wanted = expected(session, resource)
    items = resource.reader.by_ids(session, [uuid.UUID(i) for i in wanted])
    assert {item["id"]: to_json(item) for item in items} == wanted


@pytest.mark.parametrize("resource", RESOURCES, ids=[r.path.removeprefix("/v1/") for r in RESOURCES])
def test_every_read_answers_the_public_models_json(
    anonymous_client: TestClient, session: Session, records: str, resource: Resource
) -> None:
    """What anyone may read (a key adds a partner's contact details: tests/access)."""
    client = anonymous_client
    wanted = expected(session, resource)
    for record_id, body in wanted.items():
        response = client.get(f"{resource.path}/{record_id}")
        assert response.status_code == 200
        assert response.content == body
    page = client.get(resource.path, params={"limit": "200"})
    assert page.status_code == 200
    listed = [item["id"] for item in page.json()["items"]]
    assert sorted(listed) == sorted(wanted)
    assert page.content == b'{"items":[' + b",".join(wanted[i] for i in listed) + b"]}"
    ndjson = client.get(resource.path, params={"format": "ndjson"})
    assert ndjson.content == b"".join(wanted[i] + b"\n" for i in listed)
    exported = client.get(resource.path, params={"format": "csv"})
    fields = [*resource.reader.public.model_fields, *resource.reader.public.model_computed_fields]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(fields)
    for item in page.json()["items"]:
        writer.writerow([to_cell(item[field], resource.reader.cell_forms.get(field)) for field in fields])
    assert exported.text == buffer.getvalue()


def test_an_etag_from_a_get_is_good_for_if_match(client: TestClient, session: Session, records: str) -> None:
    for resource in RESOURCES:
        record_id = next(iter(expected(session, resource)))
        etag = client.get(f"{resource.path}/{record_id}").headers["etag"]
        response = client.patch(f"{resource.path}/{record_id}", json={}, headers={"If-Match": etag})
        assert response.status_code == 200, response.text


CHANGES = {
    "/v1/work-plans": {"description": "Changed by a write, «with text»."},
    "/v1/objectives": {"description": "Changed by a write, «with text»."},
    "/v1/partners": {"description": "Changed by a write, «with text»."},
    "/v1/government-reports": {"analysis": "Changed by a write.", "monitored_by": []},
    "/v1/activities": {"description": "Changed by a write.", "countries": ["FRA", "KEN"]},
    "/v1/ratifications": {"reservations": "Changed by a write."},
}


@pytest.mark.parametrize("resource", RESOURCES, ids=[r.path.removeprefix("/v1/") for r in RESOURCES])
def test_a_write_answers_the_bytes_and_etag_its_get_answers_after_it(
    client: TestClient, session: Session, records: str, resource: Resource
) -> None:
    """A write answers through the GET's Reader, in its own transaction once the record is
    flushed: what the database holds (the new version and updated_at), not what the ORM objects
    say. The caller is an editor: partners and reports answer with their private fields."""
    record_id = next(iter(expected(session, resource)))
    url = f"{resource.path}/{record_id}"
    before = client.get(url)
    changed = client.patch(url, json=CHANGES[resource.path], headers={"If-Match": before.headers["etag"]})
    assert changed.status_code == 200, changed.text
    after = client.get(url)
    assert (changed.content, changed.headers["etag"]) == (after.content, after.headers["etag"])
    assert changed.json()["version"] == before.json()["version"] + 1
    assert changed.json()["updated_at"] > before.json()["updated_at"]
    again = client.patch(url, json={}, headers={"If-Match": changed.headers["etag"]})
    assert (again.status_code, again.content) == (200, after.content)
    stale = client.patch(url, json={}, headers={"If-Match": before.headers["etag"]})
    assert stale.status_code == 412


@pytest.mark.parametrize("resource", RESOURCES, ids=[r.path.removeprefix("/v1/") for r in RESOURCES])
def test_items_do_not_depend_on_the_sessions_time_zone(session: Session, records: str, resource: Resource) -> None:
    """On PostgreSQL the database writes timestamps as text (app/reads.py): in UTC whatever the
    server's or a role's time zone."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite has no session time zone")
    wanted = expected(session, resource)
    session.execute(text("SET LOCAL TIME ZONE 'Pacific/Chatham'"))  # UTC+12:45 or +13:45
    items = resource.reader.by_ids(session, [uuid.UUID(i) for i in wanted])
    assert {item["id"]: to_json(item) for item in items} == wanted


def test_a_record_and_a_page_are_one_statement_each_on_postgresql(
    session: Session, engine: Engine, records: str
) -> None:
    """The embedded lists come in the record's own row, whatever their number and length."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite reads the embedded lists in one more statement")
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    ids = [uuid.UUID(i) for i in expected(session, RESOURCES[4])]
    partners = sorted({p["partner_id"] for item in ACTIVITY.reader.by_ids(session, ids) for p in item["participants"]})
    assert partners
    # A page with a filter across relations (an EXISTS subquery beside the lists' subqueries).
    params = activities.ActivityListParams.model_validate({"partner_id": partners, "sort": "-updated_at", "limit": 1})
    listing = activities.list_activities(session, params)
    event.listen(engine, "before_cursor_execute", count)
    try:
        one = ACTIVITY.reader.get(session, ids[0])
        items = ACTIVITY.reader.by_ids(session, ids)
        rows, next_cursor = listing.page(session, ACTIVITY.reader.columns)
        page = ACTIVITY.reader.build(session, rows)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 3
    assert one == items[0]
    assert any(item["participants"] for item in items)
    by_id = {item["id"]: item for item in items}
    assert page
    assert page == [by_id[item["id"]] for item in page]
    assert all({p["partner_id"] for p in item["participants"]} & set(partners) for item in page)
    assert next_cursor is not None
