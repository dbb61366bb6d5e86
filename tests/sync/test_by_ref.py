"""PUT /v1/<collection>/by-ref/{external_ref}: a partner's own records under its own references."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import make_activity, make_partner
from tests.problems import assert_problem

URL = "/v1/activities/by-ref/{}"


@pytest.fixture
def setting(session: Session) -> dict[str, Any]:
    activity = make_activity(session)
    owner = make_partner(session, name="ECPAT International")
    other = make_partner(session, name="Save the Children")
    return {"objective_id": str(activity.objective_id), "owner": str(owner.id), "other": str(other.id)}


def activity(setting: dict[str, Any], owner: str | None = None, **changes: Any) -> dict[str, Any]:
    body = {
        "objective_id": setting["objective_id"],
        "code": "ECPAT-17",
        "title": "Regional consultation",
        "type": "consultation",
        "owner_partner_id": owner or setting["owner"],
    }
    return body | changes


def test_the_first_put_creates_and_the_next_replace(client: TestClient, setting: dict[str, Any]) -> None:
    created = client.put(URL.format("ecpat:2003/17".replace("/", "-")), json=activity(setting))
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["external_ref"] == "ecpat:2003-17"
    assert record["owner_partner_id"] == setting["owner"]
    assert created.headers["location"] == f"/v1/activities/{record['id']}"

    replaced = client.put(URL.format("ecpat:2003-17"), json=activity(setting, title="Regional consultation, Bangkok"))
    assert replaced.status_code == 200
    assert replaced.json()["id"] == record["id"]
    assert replaced.json()["version"] == 2
    assert client.get(f"/v1/activities/{record['id']}").json() == replaced.json()


def test_a_put_that_changes_nothing_leaves_the_version_alone(client: TestClient, setting: dict[str, Any]) -> None:
    first = client.put(URL.format("same"), json=activity(setting)).json()
    again = client.put(URL.format("same"), json=activity(setting))
    assert again.status_code == 200
    assert again.json() == first


def test_a_put_replaces_everything_it_does_not_send(client: TestClient, setting: dict[str, Any]) -> None:
    client.put(URL.format("full"), json=activity(setting, countries=["KEN"], description="Long text"))
    replaced = client.put(URL.format("full"), json=activity(setting)).json()
    assert replaced["countries"] == []
    assert replaced["description"] is None


def test_owners_have_their_own_namespaces(client: TestClient, setting: dict[str, Any]) -> None:
    mine = client.put(URL.format("17"), json=activity(setting)).json()
    theirs = client.put(URL.format("17"), json=activity(setting, owner=setting["other"], code="STC-17"))
    assert theirs.status_code == 201
    assert theirs.json()["id"] != mine["id"]


def test_if_none_match_star_only_creates(client: TestClient, setting: dict[str, Any]) -> None:
    headers = {"If-None-Match": "*"}
    assert client.put(URL.format("once"), json=activity(setting), headers=headers).status_code == 201
    response = client.put(URL.format("once"), json=activity(setting, title="Again"), headers=headers)
    assert_problem(response, 412, "PRECONDITION_FAILED")


def test_if_match_replaces_only_the_version_it_names(client: TestClient, setting: dict[str, Any]) -> None:
    created = client.put(URL.format("v"), json=activity(setting))
    etag = created.headers["etag"]
    assert (
        client.put(URL.format("v"), json=activity(setting, title="Two"), headers={"If-Match": etag}).status_code == 200
    )
    stale = client.put(URL.format("v"), json=activity(setting, title="Three"), headers={"If-Match": etag})
    assert_problem(stale, 412, "PRECONDITION_FAILED")
    missing = client.put(URL.format("nothing-yet"), json=activity(setting), headers={"If-Match": etag})
    assert_problem(missing, 412, "PRECONDITION_FAILED")


@pytest.mark.parametrize(
    ("changes", "pointer"),
    [
        ({"owner_partner_id": None}, "/owner_partner_id"),
        ({"external_ref": "another"}, "/external_ref"),
        ({"owner_partner_id": "00000000-0000-0000-0000-000000000000"}, "/owner_partner_id"),
    ],
)
def test_bad_bodies_are_refused_and_change_nothing(
    client: TestClient, setting: dict[str, Any], changes: dict[str, Any], pointer: str
) -> None:
    body = activity(setting) | changes
    problem = assert_problem(
        client.put(URL.format("bad"), json=body),
        422,
        "VALIDATION_FAILED"
        if "external_ref" in changes or changes["owner_partner_id"] is None
        else "UNKNOWN_REFERENCE",
    )
    assert [e["pointer"] for e in problem["errors"]] == [pointer]
    assert client.get("/v1/activities", params={"code": "ECPAT-17"}).json()["items"] == []


@pytest.mark.parametrize("ref", ["x" * 1000, "x" * 201, "-leading-dash", "sp ace", "%00"])
def test_bad_references_are_refused(client: TestClient, setting: dict[str, Any], ref: str) -> None:
    problem = assert_problem(client.put(URL.format(ref), json=activity(setting)), 422, "VALIDATION_FAILED")
    assert problem["errors"][0]["pointer"] == "/external_ref"
    assert problem["errors"][0]["in"] == "path"


def test_an_empty_reference_is_a_problem_not_a_record(client: TestClient, setting: dict[str, Any]) -> None:
    response = client.put("/v1/activities/by-ref/", json=activity(setting), follow_redirects=True)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"] == "application/problem+json"


def test_the_reference_cannot_be_taken_over_by_a_patch_or_a_post(client: TestClient, setting: dict[str, Any]) -> None:
    record = client.put(URL.format("mine"), json=activity(setting)).json()
    patch = client.patch(f"/v1/activities/{record['id']}", json={"external_ref": "yours"})
    assert_problem(patch, 422, "VALIDATION_FAILED")
    duplicate = client.post("/v1/activities", json=activity(setting, code="OTHER", external_ref="mine"))
    assert_problem(duplicate, 409, "DUPLICATE")


def test_a_partner_that_owns_records_cannot_be_deleted(client: TestClient, setting: dict[str, Any]) -> None:
    client.put(URL.format("owned"), json=activity(setting))
    assert_problem(client.delete(f"/v1/partners/{setting['owner']}"), 409, "IN_USE")


def test_government_reports_take_the_same_put(client: TestClient, setting: dict[str, Any]) -> None:
    body = {"country": "THA", "instrument": "CRC", "kind": "periodic", "owner_partner_id": setting["owner"]}
    created = client.put("/v1/government-reports/by-ref/THA-CRC-3", json=body)
    assert created.status_code == 201, created.text
    replaced = client.put("/v1/government-reports/by-ref/THA-CRC-3", json=body | {"symbol": "CRC/C/THA/3-4"})
    assert replaced.status_code == 200
    assert replaced.json()["id"] == created.json()["id"]
