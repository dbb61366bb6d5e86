"""GET /v1/work-plans/{id}/iati-activities.xml: files the IATI 2.03 schema accepts, with codes from
its codelists, refused whole (each activity named) when IATI would not take the plan."""

import random
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pycountry
import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import insert
from sqlmodel import Session

from app.config import get_settings
from app.iati import codes, export, routes
from app.models.activities import Activity, ActivityCountry, ActivityParticipant
from app.seed.service import load_seed, seed_id
from app.streams import ExportSlots
from app.vocabularies import ActivityStatus, ParticipantRole
from tests.factories import make_activity, make_objective, make_partner, make_work_plan
from tests.iati.conftest import ORG_ID, codelist, valid

XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def url(work_plan_id: Any) -> str:
    return f"/v1/work-plans/{work_plan_id}/iati-activities.xml"


def seed_plan(session: Session) -> uuid.UUID:
    load_seed(session)
    return seed_id("work_plan", "2003")


def test_the_seed_plan_exports_a_file_the_schema_accepts(
    client: TestClient, session: Session, schema: etree.XMLSchema, publishing: Callable[..., None]
) -> None:
    response = client.get(url(seed_plan(session)))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/xml"
    assert response.headers["content-disposition"] == 'attachment; filename="iati-activities-2003.xml"'
    root = valid(schema, response.content)
    assert root.get("version") == "2.03"
    assert [a.findtext("iati-identifier") for a in root][:2] == [f"{ORG_ID}-SEC-2003-1.1", f"{ORG_ID}-SEC-2003-1.2"]
    assert len(root) == 14
    monitoring = root[11]
    assert monitoring.findtext("iati-identifier") == f"{ORG_ID}-SEC-2003-5.1"
    assert monitoring.get(XML_LANG) == "en"
    assert monitoring.xpath("string(activity-status/@code)") == "2"  # in progress: Implementation
    # The publisher (Accountable), then the Focal Point (Implementing); the Committee, a target, is not there.
    orgs = [
        (org.get("role"), org.get("ref"), org.findtext("narrative")) for org in monitoring.iter("participating-org")
    ]
    assert orgs == [
        ("2", ORG_ID, "NGO Group for the Convention on the Rights of the Child"),
        ("4", None, "Focal Point"),
    ]
    assert [(d.get("type"), d.get("iso-date")) for d in monitoring.iter("activity-date")] == [
        ("1", "2003-01-01"),
        ("3", "2003-12-31"),
    ]
    assert monitoring.xpath("string(recipient-region/@vocabulary)") == "1"
    assert monitoring.xpath("string(recipient-region/@code)") == "998"
    assert monitoring.find("recipient-country") is None


def test_every_code_the_mapping_tables_write_is_in_the_2_03_codelists() -> None:
    assert set(codes.ACTIVITY_STATUS.values()) <= codelist("ActivityStatus")
    assert set(codes.ACTIVITY_STATUS) == set(ActivityStatus)
    roles = {code for code in codes.PARTICIPANT_ROLE.values() if code is not None} | {codes.REPORTING_ORG_ROLE}
    assert roles <= codelist("OrganisationRole")
    assert set(codes.PARTICIPANT_ROLE) == set(ParticipantRole)
    assert set(codes.DATE_FIELDS) == codelist("ActivityDateType")
    assert codes.SECTOR_VOCABULARY in codelist("SectorVocabulary")
    assert codes.SECTOR_CODE in codelist("Sector")  # vocabulary 1, OECD DAC 5-digit
    assert codes.REGION_VOCABULARY in codelist("RegionVocabulary")
    assert codes.UNSPECIFIED_REGION in codelist("Region")  # vocabulary 1, OECD DAC
    assert export.GENERAL_DESCRIPTION in codelist("DescriptionType")
    # Every country the service takes (pycountry's) has its alpha-2 code in IATI's list.
    assert {country.alpha_2 for country in pycountry.countries} <= codelist("Country")


def test_the_default_publisher_settings_are_in_the_codelists(publishing: Callable[..., None]) -> None:
    publisher = export.Publisher.of(get_settings())
    assert publisher.org_type in codelist("OrganisationType")  # 21: International NGO
    assert publisher.language in codelist("Language")


def test_without_an_organisation_id_the_export_is_refused(client: TestClient, session: Session) -> None:
    response = client.get(url(seed_plan(session)))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": (
            "No IATI organisation identifier is set up, and every iati-identifier starts with it: the operator "
            "sets WORKPLAN_IATI_ORG_ID (such as XM-DAC-12345 or GB-CHC-1234567) to publish."
        ),
        "code": "IATI_ORG_ID_MISSING",
    }


def test_an_unknown_plan_is_404(client: TestClient, publishing: Callable[..., None]) -> None:
    missing = uuid.UUID(int=7)
    response = client.get(url(missing))
    assert response.status_code == 404
    assert response.json()["detail"] == f"No work plan with id {missing}."


def test_activities_iati_would_refuse_are_each_named_and_nothing_is_written(
    client: TestClient, session: Session, publishing: Callable[..., None]
) -> None:
    objective = make_objective(session)
    make_activity(session, objective_id=objective.id, code="A-1", description="Fine.", planned_start="2003-01-01")
    undated = make_activity(session, objective_id=objective.id, code="A-2", description="No dates.")
    tomorrow = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    early = make_activity(
        session, objective_id=objective.id, code="A-3", actual_start=tomorrow, description=None, planned_start=None
    )
    response = client.get(url(objective.work_plan_id))
    assert response.status_code == 422
    assert response.json() == {
        "type": "about:blank",
        "title": "Unprocessable Entity",
        "status": 422,
        "detail": (
            "2 of the plan's activities lack what IATI requires: the file is not written until each is put right."
        ),
        "code": "IATI_NOT_PUBLISHABLE",
        "errors": [
            {
                "in": "record",
                "pointer": f"/activities/{undated.id}/planned_start",
                "message": "Activity A-2 has neither planned_start nor actual_start: IATI needs a start date",
            },
            {
                "in": "record",
                "pointer": f"/activities/{early.id}/description",
                "message": "Activity A-3 has no description: IATI needs one",
            },
            {
                "in": "record",
                "pointer": f"/activities/{early.id}/actual_start",
                "message": f"Activity A-3 has an actual_start still to come ({tomorrow})",
            },
        ],
    }


def test_a_plan_without_activities_is_refused(
    client: TestClient, session: Session, publishing: Callable[..., None]
) -> None:
    plan = make_work_plan(session)
    response = client.get(url(plan.id))
    assert response.status_code == 422
    assert response.json()["detail"] == "The work plan has no activities: an IATI file holds at least one."
    assert response.json()["errors"] == [
        {
            "in": "record",
            "pointer": "/activities",
            "message": "The work plan has no activities, and an IATI file holds at least one",
        }
    ]


def test_the_etag_answers_304_until_an_activity_or_partner_changes(
    client: TestClient, session: Session, publishing: Callable[..., None]
) -> None:
    plan = seed_plan(session)
    first = client.get(url(plan))
    tag = first.headers["etag"]
    # Weak: batches are read in their own transactions, so the bytes are not vouched for.
    assert tag.startswith('W/"iati-'), tag
    unchanged = client.get(url(plan), headers={"If-None-Match": tag})
    assert (unchanged.status_code, unchanged.content, unchanged.headers["etag"]) == (304, b"", tag)
    head = client.head(url(plan))
    assert (head.status_code, head.headers["etag"], head.content) == (200, tag, b"")

    activity = seed_id("activity", "SEC-2003-5.1")
    client.patch(f"/v1/activities/{activity}", json={"status": "completed"}).raise_for_status()
    changed = client.get(url(plan), headers={"If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != tag
    assert b'<activity-status code="4"/>' in changed.content  # completed: Closed

    partner = seed_id("partner", "focal-point")
    client.patch(f"/v1/partners/{partner}", json={"name": "The Focal Point"}).raise_for_status()
    renamed = client.get(url(plan), headers={"If-None-Match": changed.headers["etag"]})
    assert renamed.status_code == 200
    assert b"<narrative>The Focal Point</narrative>" in renamed.content

    publishing(iati_org_id="XM-DAC-47001")
    assert client.get(url(plan), headers={"If-None-Match": renamed.headers["etag"]}).status_code == 200


def test_targets_are_left_out_roles_of_one_code_said_once_and_countries_are_alpha_2(
    client: TestClient, session: Session, schema: etree.XMLSchema, publishing: Callable[..., None]
) -> None:
    ecpat, committee = make_partner(session, name="ECPAT"), make_partner(session, name="Committee")
    funder = make_partner(session, name="Fondation\x01Terre")  # a control character XML cannot carry
    participants = [
        {"partner_id": str(ecpat.id), "role": "co_lead"},
        {"partner_id": str(ecpat.id), "role": "contributor"},
        {"partner_id": str(committee.id), "role": "target"},
        {"partner_id": str(funder.id), "role": "funder"},
    ]
    activity = make_activity(
        session,
        code="K-1",
        title="Kenya & France: \"<b>\" and 'it'",
        description="In Kenya\r\nand France.",
        countries=["KEN", "FRA"],
        participants=participants,
        actual_start="2003-02-01",
        actual_end="2003-03-01",
    )
    root = valid(schema, client.get(url(activity.work_plan_id)).content)
    (element,) = root
    # Markup characters and a carriage return come back as they were sent.
    assert element.findtext("title/narrative") == "Kenya & France: \"<b>\" and 'it'"
    assert element.findtext("description/narrative") == "In Kenya\r\nand France."
    orgs = [(org.get("role"), org.findtext("narrative")) for org in element.iter("participating-org")]
    assert orgs[1:] == [("4", "ECPAT"), ("1", "Fondation\ufffdTerre")]
    assert [c.get("code") for c in element.iter("recipient-country")] == ["FR", "KE"]
    assert element.find("recipient-region") is None
    assert [(d.get("type"), d.get("iso-date")) for d in element.iter("activity-date")] == [
        ("2", "2003-02-01"),
        ("4", "2003-03-01"),
    ]


# Across several batches, every status, role, date kind and many countries.
GENERATED = 2 * export.BATCH + 345


def generate(session: Session, count: int) -> uuid.UUID:
    """A plan of `count` activities inserted in bulk, as bench/generate.py makes 100,000."""
    rng = random.Random(2003)  # noqa: S311 (test data)
    objective = make_objective(session)
    partners = [make_partner(session, name=f'Coalition {n} <&> "Ré"').id for n in range(20)]
    countries = sorted(country.alpha_3 for country in pycountry.countries)
    now = datetime.now(UTC)
    activities, participants, places = [], [], []
    for n in range(count):
        start = date(2003, 1, 1) + timedelta(days=rng.randrange(7000))
        actual = rng.random() < 0.5
        activity_id = uuid.uuid4()
        activities.append(
            {
                "id": activity_id,
                "version": 1,
                "created_at": now,
                "updated_at": now - timedelta(seconds=n),
                "objective_id": objective.id,
                "work_plan_id": objective.work_plan_id,
                "code": f"GEN-{n:05d}",
                "title": f'Activity {n} & <its> "title"',
                "description": f"Description {n}.",
                "status": rng.choice(list(ActivityStatus)).value,
                "type": "monitoring",
                "planned_start": start,
                "planned_end": start + timedelta(days=rng.randrange(400)),
                "actual_start": start if actual else None,
                "actual_end": start + timedelta(days=30) if actual else None,
            }
        )
        for position, partner in enumerate(rng.sample(partners, rng.randrange(4))):
            role = rng.choice(list(ParticipantRole)).value
            participants.append({"activity_id": activity_id, "partner_id": partner, "role": role, "position": position})
        places += [{"activity_id": activity_id, "country": c} for c in rng.sample(countries, rng.randrange(3))]
    session.execute(insert(Activity), activities)
    session.execute(insert(ActivityParticipant), participants)
    session.execute(insert(ActivityCountry), places)
    return objective.work_plan_id


def test_a_generated_plan_of_thousands_of_activities_validates_with_codelist_codes(
    client: TestClient, session: Session, schema: etree.XMLSchema, publishing: Callable[..., None]
) -> None:
    plan = generate(session, GENERATED)
    response = client.get(url(plan))
    assert response.status_code == 200, response.text[:500]
    root = valid(schema, response.content)
    identifiers = [a.findtext("iati-identifier") for a in root]
    assert identifiers == [f"{ORG_ID}-GEN-{n:05d}" for n in range(GENERATED)]
    attributes = {
        ("reporting-org", "type"): "OrganisationType",
        ("participating-org", "role"): "OrganisationRole",
        ("activity-status", "code"): "ActivityStatus",
        ("activity-date", "type"): "ActivityDateType",
        ("recipient-country", "code"): "Country",
        ("recipient-region", "vocabulary"): "RegionVocabulary",
        ("recipient-region", "code"): "Region",
        ("sector", "vocabulary"): "SectorVocabulary",
        ("sector", "code"): "Sector",
        ("description", "type"): "DescriptionType",
    }
    seen: dict[str, set[str]] = {name: set() for name in attributes.values()}
    for (element, attribute), name in attributes.items():
        for node in root.iter(element):
            seen[name].add(str(node.get(attribute)))
    for name, values in seen.items():
        assert values, name
        assert values <= codelist(name), name
    assert {a.get(XML_LANG) for a in root} <= codelist("Language")
    assert len(seen["ActivityStatus"]) == 5
    assert seen["ActivityDateType"] == {"1", "2", "3", "4"}
    assert seen["OrganisationRole"] == {"1", "2", "4"}


def test_the_export_takes_one_of_the_export_slots_and_gives_it_back(
    client: TestClient, session: Session, publishing: Callable[..., None]
) -> None:
    plan = seed_plan(session)
    slots = ExportSlots(at_once=1, per_client=1)
    client.app_state["exports"] = slots
    end = slots.take("test-editor")  # the key the test client acts with
    busy = client.get(url(plan))
    assert (busy.status_code, busy.json()["code"], busy.headers["retry-after"]) == (429, "TOO_MANY_EXPORTS", "10")
    end()
    assert client.get(url(plan)).status_code == 200
    assert slots.running.total() == 0


def test_a_refusal_lists_the_first_activities_and_counts_them_all(
    client: TestClient, session: Session, publishing: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "PROBLEMS_LISTED", 1)
    monkeypatch.setattr(routes, "PROBLEMS_LISTED", 1)
    objective = make_objective(session)
    first = make_activity(session, objective_id=objective.id, code="B-1", description="No dates.")
    make_activity(session, objective_id=objective.id, code="B-2", description="No dates either.")
    problem = client.get(url(objective.work_plan_id)).json()
    assert problem["detail"] == (
        "2 of the plan's activities lack what IATI requires (the first 1 by code are listed): the file is not "
        "written until each is put right."
    )
    assert [error["pointer"] for error in problem["errors"]] == [f"/activities/{first.id}/planned_start"]


def test_the_readmes_tables_say_what_the_mapping_tables_do() -> None:
    section = (Path(__file__).parents[2] / "README.md").read_text().partition("\n## IATI\n")[2].partition("\n## ")[0]
    rows = [line.removeprefix("| ").split(" | ") for line in section.splitlines() if line.startswith("| `")]
    for status, code in codes.ACTIVITY_STATUS.items():
        assert next(row[1] for row in rows if row[0] == f"`{status.value}`").startswith(f"{code} ")
    for role, iati_role in codes.PARTICIPANT_ROLE.items():
        (said,) = [row[1] for row in rows if f"`{role.value}`" in row[0].split(", ")]
        assert said.startswith(f"{iati_role} " if iati_role else "not exported"), role
