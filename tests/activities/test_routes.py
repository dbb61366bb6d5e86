"""Activities: codes unique per work plan, references, countries, dates, participants and moves."""

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models.objectives import Objective
from tests.factories import make_activity, make_objective, make_partner, make_report, make_work_plan
from tests.problems import duplicate, invalid_body, invalid_request, pointers, unknown_reference

PATH = "/v1/activities"
# UUIDs that sort before and after any uuid4, so that a sorted list would move them.
LOWEST = uuid.UUID("00000000-0000-4000-8000-000000000000")
HIGHEST = uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff")


def body_for(objective: Objective, **overrides: Any) -> dict[str, Any]:
    return {"objective_id": str(objective.id), "code": "SEC-2003-5.1", "title": "Monitoring", "type": "monitoring"} | (
        overrides
    )


def create(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(PATH, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def codes(client: TestClient) -> list[str]:
    return sorted(item["code"] for item in client.get(PATH, params={"limit": 200}).json()["items"])


# Codes


def test_duplicate_code_in_the_same_work_plan_is_409(client: TestClient, session: Session) -> None:
    plan = make_work_plan(session)
    first, second = make_objective(session, work_plan_id=plan.id), make_objective(session, work_plan_id=plan.id)
    make_activity(session, objective_id=first.id, code="SEC-2003-5.1")
    response = client.post(PATH, json=body_for(second, code="SEC-2003-5.1"))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == duplicate("Activity code 'SEC-2003-5.1' in this work plan", "/code")
    assert codes(client) == ["SEC-2003-5.1"]


def test_same_code_in_another_work_plan_is_allowed(client: TestClient, session: Session) -> None:
    make_activity(session, code="SEC-2003-5.1")
    create(client, body_for(make_objective(session), code="SEC-2003-5.1"))
    assert codes(client) == ["SEC-2003-5.1", "SEC-2003-5.1"]


def test_patch_to_a_taken_code_is_409_and_changes_nothing(client: TestClient, session: Session) -> None:
    objective = make_objective(session)
    make_activity(session, objective_id=objective.id, code="A")
    other = create(client, body_for(objective, code="B"))
    response = client.patch(f"{PATH}/{other['id']}", json={"code": "A"})
    assert response.status_code == 409
    assert response.json() == duplicate("Activity code 'A' in this work plan", "/code")
    assert client.get(f"{PATH}/{other['id']}").json() == other


def test_deleted_activity_code_can_be_reused(client: TestClient, session: Session) -> None:
    objective = make_objective(session)
    gone = create(client, body_for(objective, code="A"))
    assert client.delete(f"{PATH}/{gone['id']}").status_code == 204
    again = create(client, body_for(objective, code="A"))
    assert again["id"] != gone["id"]
    other = create(client, body_for(objective, code="B"))
    assert client.delete(f"{PATH}/{again['id']}").status_code == 204
    assert client.patch(f"{PATH}/{other['id']}", json={"code": "A"}).json()["code"] == "A"


# References


def test_unknown_or_deleted_partner_is_422_pointing_at_it(client: TestClient, session: Session) -> None:
    objective = make_objective(session)
    live, deleted = make_partner(session), make_partner(session)
    assert client.delete(f"/v1/partners/{deleted.id}").status_code == 204
    missing = uuid.uuid4()
    participants = [
        {"partner_id": str(live.id), "role": "lead"},
        {"partner_id": str(missing), "role": "partner"},
        {"partner_id": str(deleted.id), "role": "funder"},
    ]
    response = client.post(PATH, json=body_for(objective, participants=participants))
    assert response.status_code == 422
    assert response.json() == unknown_reference(
        ("/participants/1/partner_id", f"No partner with id {missing}"),
        ("/participants/2/partner_id", f"No partner with id {deleted.id}"),
    )
    assert codes(client) == []


def test_unknown_objective_is_422_pointing_at_it(client: TestClient, session: Session) -> None:
    missing = uuid.uuid4()
    response = client.post(PATH, json=body_for(make_objective(session)) | {"objective_id": str(missing)})
    assert response.status_code == 422
    assert response.json() == unknown_reference(("/objective_id", f"No objective with id {missing}"))


def test_deleted_objective_is_422_on_create_and_on_move(client: TestClient, session: Session) -> None:
    objective, deleted = make_objective(session), make_objective(session)
    assert client.delete(f"/v1/objectives/{deleted.id}").status_code == 204
    response = client.post(PATH, json=body_for(deleted))
    assert response.status_code == 422
    assert response.json() == unknown_reference(("/objective_id", f"No objective with id {deleted.id}"))
    activity = create(client, body_for(objective))
    moved = client.patch(f"{PATH}/{activity['id']}", json={"objective_id": str(deleted.id)})
    assert moved.status_code == 422
    assert moved.json() == unknown_reference(("/objective_id", f"No objective with id {deleted.id}"))
    assert client.get(f"{PATH}/{activity['id']}").json() == activity


def test_unknown_or_deleted_report_is_422_pointing_at_it(client: TestClient, session: Session) -> None:
    objective = make_objective(session)
    deleted = make_report(session)
    assert client.delete(f"/v1/government-reports/{deleted.id}").status_code == 204
    response = client.post(PATH, json=body_for(objective, government_report_ids=[str(deleted.id)]))
    assert response.status_code == 422
    assert response.json() == unknown_reference(
        ("/government_report_ids/0", f"No government report with id {deleted.id}")
    )


@pytest.mark.parametrize("missing", [LOWEST, HIGHEST], ids=["sorts-first", "sorts-last"])
def test_report_pointer_is_the_index_the_client_sent(client: TestClient, session: Session, missing: uuid.UUID) -> None:
    objective = make_objective(session)
    live = make_report(session)
    ids = [str(live.id), str(missing)]
    response = client.post(PATH, json=body_for(objective, government_report_ids=ids))
    assert response.status_code == 422
    assert response.json() == unknown_reference(("/government_report_ids/1", f"No government report with id {missing}"))


def test_patch_with_an_unknown_partner_is_422_and_changes_nothing(client: TestClient, session: Session) -> None:
    activity = create(client, body_for(make_objective(session)))
    missing = uuid.uuid4()
    response = client.patch(
        f"{PATH}/{activity['id']}",
        json={"title": "New", "participants": [{"partner_id": str(missing), "role": "lead"}]},
    )
    assert response.status_code == 422
    assert response.json() == unknown_reference(("/participants/0/partner_id", f"No partner with id {missing}"))
    assert client.get(f"{PATH}/{activity['id']}").json() == activity


# Countries and participants


def test_country_codes_are_checked_and_upper_cased(client: TestClient, session: Session) -> None:
    activity = create(client, body_for(make_objective(session), countries=["mex", "ken"]))
    assert activity["countries"] == ["KEN", "MEX"]
    assert client.get(f"{PATH}/{activity['id']}").json()["countries"] == ["KEN", "MEX"]


@pytest.mark.parametrize(
    ("countries", "pointer", "message"),
    [
        (["KEN", "ZZZ"], "/countries/1", "'ZZZ' is not an ISO 3166-1 alpha-3 country code"),
        (["zzz"], "/countries/0", "'zzz' is not an ISO 3166-1 alpha-3 country code"),
        (["KEN", "ken"], "/countries", "Country KEN appears twice"),
    ],
)
def test_bad_or_repeated_country_is_422(
    client: TestClient, session: Session, countries: list[str], pointer: str, message: str
) -> None:
    response = client.post(PATH, json=body_for(make_objective(session), countries=countries))
    assert response.status_code == 422
    assert response.json() == invalid_request(pointer, message)


@pytest.mark.parametrize("country", ["KE", "KENY", "K3N", ""])
def test_malformed_country_is_422(client: TestClient, session: Session, country: str) -> None:
    response = client.post(PATH, json=body_for(make_objective(session), countries=[country]))
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", "/countries/0")]


def test_repeated_participant_is_422_but_one_partner_may_have_two_roles(client: TestClient, session: Session) -> None:
    objective = make_objective(session)
    partner = make_partner(session)
    twice = [{"partner_id": str(partner.id), "role": "lead"}, {"partner_id": str(partner.id), "role": "lead"}]
    response = client.post(PATH, json=body_for(objective, participants=twice))
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", "/participants")]
    two_roles = [{"partner_id": str(partner.id), "role": "lead"}, {"partner_id": str(partner.id), "role": "funder"}]
    assert create(client, body_for(objective, participants=two_roles))["participants"] == two_roles


def test_repeated_report_is_422(client: TestClient, session: Session) -> None:
    report = make_report(session)
    body = body_for(make_objective(session), government_report_ids=[str(report.id), str(report.id)])
    response = client.post(PATH, json=body)
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", "/government_report_ids")]


def test_patch_replacing_participants_replaces_the_whole_list_once(client: TestClient, session: Session) -> None:
    a, b, c = make_partner(session), make_partner(session), make_partner(session)
    activity = create(
        client,
        body_for(
            make_objective(session),
            participants=[{"partner_id": str(a.id), "role": "lead"}, {"partner_id": str(b.id), "role": "partner"}],
        ),
    )
    new = [{"partner_id": str(c.id), "role": "focal_point"}, {"partner_id": str(a.id), "role": "contributor"}]
    response = client.patch(f"{PATH}/{activity['id']}", json={"participants": new, "title": "Renamed"})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["participants"] == new
    assert changed["version"] == activity["version"] + 1
    assert client.get(f"{PATH}/{activity['id']}").json() == changed
    partner_b = client.get(PATH, params={"partner_id": str(b.id)}).json()["items"]
    assert partner_b == []


def test_patch_with_the_same_lists_leaves_version_alone(client: TestClient, session: Session) -> None:
    a, b = make_partner(session), make_partner(session)
    r1, r2 = make_report(session), make_report(session)
    participants = [{"partner_id": str(a.id), "role": "lead"}, {"partner_id": str(b.id), "role": "partner"}]
    activity = create(
        client,
        body_for(
            make_objective(session),
            participants=participants,
            countries=["KEN", "MEX"],
            government_report_ids=sorted([str(r1.id), str(r2.id)]),
        ),
    )
    url = f"{PATH}/{activity['id']}"
    etag = client.get(url).headers["etag"]
    same = {
        "participants": participants,
        "countries": ["mex", "KEN"],
        "government_report_ids": sorted([str(r1.id), str(r2.id)], reverse=True),
    }
    response = client.patch(url, json=same)
    assert response.status_code == 200, response.text
    assert response.json() == activity
    assert response.headers["etag"] == etag


def test_null_clears_an_embedded_list(client: TestClient, session: Session) -> None:
    partner = make_partner(session)
    activity = create(
        client,
        body_for(
            make_objective(session), countries=["KEN"], participants=[{"partner_id": str(partner.id), "role": "lead"}]
        ),
    )
    cleared = client.patch(f"{PATH}/{activity['id']}", json={"countries": None, "participants": None}).json()
    assert (cleared["countries"], cleared["participants"], cleared["version"]) == ([], [], 2)


# Dates


def test_planned_end_before_planned_start_is_422(client: TestClient, session: Session) -> None:
    body = body_for(make_objective(session), planned_start="2003-06-01", planned_end="2003-05-31")
    response = client.post(PATH, json=body)
    assert response.status_code == 422
    assert response.json() == invalid_request("/planned_end", "must not be before planned_start (2003-06-01)")


def test_actual_end_before_actual_start_is_422(client: TestClient, session: Session) -> None:
    body = body_for(make_objective(session), actual_start="2003-06-01", actual_end="2003-01-01")
    response = client.post(PATH, json=body)
    assert response.status_code == 422
    assert response.json() == invalid_request("/actual_end", "must not be before actual_start (2003-06-01)")


def test_end_on_its_start_day_is_allowed(client: TestClient, session: Session) -> None:
    body = body_for(make_objective(session), planned_start="2003-06-01", planned_end="2003-06-01")
    assert create(client, body)["planned_end"] == "2003-06-01"


def test_patch_moving_only_the_start_past_the_end_is_422(client: TestClient, session: Session) -> None:
    activity = create(client, body_for(make_objective(session), planned_start="2003-01-01", planned_end="2003-03-31"))
    url = f"{PATH}/{activity['id']}"
    response = client.patch(url, json={"planned_start": "2003-04-01"})
    assert response.status_code == 422
    assert response.json() == invalid_body("/planned_end", "must not be before planned_start (2003-04-01)")
    assert client.get(url).json() == activity
    assert client.patch(url, json={"planned_end": "2002-12-31"}).status_code == 422
    assert client.patch(url, json={"planned_start": "2003-04-01", "planned_end": None}).status_code == 200


@pytest.mark.parametrize("value", ["2003-02-30", "01/02/2003", "2003", 20030101])
def test_malformed_date_is_422(client: TestClient, session: Session, value: object) -> None:
    response = client.post(PATH, json=body_for(make_objective(session), planned_start=value))
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", "/planned_start")]


# Moves


def test_activity_moved_to_another_plans_objective_takes_that_plan(client: TestClient, session: Session) -> None:
    here, there = make_objective(session), make_objective(session)
    activity = create(client, body_for(here))
    assert activity["work_plan_id"] == str(here.work_plan_id)
    moved = client.patch(f"{PATH}/{activity['id']}", json={"objective_id": str(there.id)})
    assert moved.status_code == 200, moved.text
    assert moved.json()["work_plan_id"] == str(there.work_plan_id)
    assert moved.json()["version"] == activity["version"] + 1
    listed = client.get(PATH, params={"work_plan_id": str(there.work_plan_id)}).json()["items"]
    assert [item["id"] for item in listed] == [activity["id"]]
    assert client.get(PATH, params={"work_plan_id": str(here.work_plan_id)}).json()["items"] == []


def test_move_into_a_plan_where_the_code_is_taken_is_409(client: TestClient, session: Session) -> None:
    here, there = make_objective(session), make_objective(session)
    make_activity(session, objective_id=there.id, code="A")
    activity = create(client, body_for(here, code="A"))
    response = client.patch(f"{PATH}/{activity['id']}", json={"objective_id": str(there.id)})
    assert response.status_code == 409
    assert response.json() == duplicate("Activity code 'A' in this work plan", "/code")
    assert client.get(f"{PATH}/{activity['id']}").json() == activity


# Limits and bad input


@pytest.mark.parametrize(
    ("field", "value"),
    [("title", "x" * 301), ("description", "x" * 20_001), ("code", "C" * 41), ("title", "   ")],
    ids=["title-301", "description-20001", "code-41", "blank-title"],
)
def test_oversized_or_blank_text_is_422(client: TestClient, session: Session, field: str, value: str) -> None:
    objective = make_objective(session)
    response = client.post(PATH, json=body_for(objective, **{field: value}))
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", f"/{field}")]
    activity = create(client, body_for(objective))
    patched = client.patch(f"{PATH}/{activity['id']}", json={field: value})
    assert patched.status_code == 422
    assert pointers(patched.json()) == [("body", f"/{field}")]


def test_text_at_its_limits_is_stored_whole(client: TestClient, session: Session) -> None:
    body = body_for(make_objective(session), title="é" * 300, description="\U0001f600" * 20_000)
    activity = create(client, body)
    fetched = client.get(f"{PATH}/{activity['id']}").json()
    assert (fetched["title"], fetched["description"]) == (body["title"], body["description"])


@pytest.mark.parametrize("field", ["title", "description", "code"])
def test_nul_in_text_is_422(client: TestClient, session: Session, field: str) -> None:
    objective = make_objective(session)
    response = client.post(PATH, json=body_for(objective, **{field: "bad\u0000text"}))
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", f"/{field}")]
    activity = create(client, body_for(objective))
    patched = client.patch(f"{PATH}/{activity['id']}", json={field: "bad\u0000text"})
    assert patched.status_code == 422
    assert pointers(patched.json()) == [("body", f"/{field}")]
    assert client.get(f"{PATH}/{activity['id']}").json() == activity


@pytest.mark.parametrize("field", ["title", "description"])
def test_lone_surrogate_is_422_not_500(client: TestClient, session: Session, field: str) -> None:
    objective = make_objective(session)
    members = {"objective_id": f'"{objective.id}"', "code": '"A"', "title": '"ok"', "type": '"meeting"'}
    members[field] = '"x\\ud800"'  # each name once: a repeated one is refused before validation
    raw = "{" + ", ".join(f'"{name}": {value}' for name, value in members.items()) + "}"
    response = client.post(PATH, content=raw.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", f"/{field}")]
    activity = create(client, body_for(objective))
    patched = client.patch(
        f"{PATH}/{activity['id']}",
        content=f'{{"{field}": "\\udfff"}}'.encode(),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 422
    assert pointers(patched.json()) == [("body", f"/{field}")]


@pytest.mark.parametrize(
    ("overrides", "pointer"),
    [
        ({"type": "workshop"}, "/type"),
        ({"status": "done"}, "/status"),
        ({"level": "global"}, "/level"),
        ({"type": "Monitoring"}, "/type"),
        ({"participants": [{"partner_id": str(uuid.uuid4()), "role": "host"}]}, "/participants/0/role"),
        ({"participants": [{"partner_id": "not-a-uuid", "role": "lead"}]}, "/participants/0/partner_id"),
        ({"participants": [{"partner_id": str(uuid.uuid4()), "role": "lead", "x": 1}]}, "/participants/0/x"),
    ],
)
def test_unknown_enum_value_or_malformed_participant_is_422_pointing_at_it(
    client: TestClient, session: Session, overrides: dict[str, Any], pointer: str
) -> None:
    response = client.post(PATH, json=body_for(make_objective(session), **overrides))
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", pointer)]


def test_unknown_enum_value_in_patch_is_422_pointing_at_it(client: TestClient, session: Session) -> None:
    partner = make_partner(session)
    activity = create(client, body_for(make_objective(session)))
    response = client.patch(
        f"{PATH}/{activity['id']}", json={"participants": [{"partner_id": str(partner.id), "role": "host"}]}
    )
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", "/participants/0/role")]


def test_created_activity_reads_back_the_same_whatever_the_order_sent(client: TestClient, session: Session) -> None:
    reports = sorted([str(make_report(session).id), str(make_report(session).id)], reverse=True)
    activity = create(
        client, body_for(make_objective(session), government_report_ids=reports, countries=["MEX", "KEN"])
    )
    assert client.get(f"{PATH}/{activity['id']}").json() == activity
    patched = client.patch(f"{PATH}/{activity['id']}", json={"government_report_ids": reports[:1] + reports[1:]})
    assert patched.json() == activity
