"""The single-record contract of API.md, checked on every collection."""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import make_objective, make_partner, make_work_plan
from tests.problems import assert_problem, body_error, pointers, problem


@dataclass(frozen=True)
class Resource:
    path: str
    body: Callable[[Session], dict[str, Any]]
    change: dict[str, Any]
    required: str


RESOURCES = [
    Resource("/v1/work-plans", lambda s: {"code": "2004", "title": "2004 Work Plan"}, {"status": "adopted"}, "title"),
    Resource(
        "/v1/objectives",
        lambda s: {"work_plan_id": str(make_work_plan(s).id), "code": "1", "title": "Partnerships"},
        {"position": 4},
        "title",
    ),
    Resource(
        "/v1/activities",
        lambda s: {
            "objective_id": str(make_objective(s).id),
            "code": "SEC-2003-4.1",
            "title": "Partnership with the NGO Advisory Group",
            "type": "partnership",
            "participants": [{"partner_id": str(make_partner(s).id), "role": "partner"}],
        },
        {"status": "in_progress"},
        "type",
    ),
    Resource("/v1/partners", lambda s: {"name": "NGO Advisory Group", "kind": "ngo"}, {"acronym": "NGO AG"}, "kind"),
    Resource(
        "/v1/government-reports",
        lambda s: {"country": "MEX", "instrument": "OPSC", "kind": "initial", "symbol": "CRC/C/OPSC/MEX/1"},
        {"status": "submitted", "submitted_date": "2004-09-01"},
        "country",
    ),
    Resource(
        "/v1/ratifications",
        lambda s: {"country": "MEX", "instrument": "CRC", "action": "ratification", "deposited_on": "1990-09-21"},
        {"reservations": "Interpretative declaration on article 21"},
        "deposited_on",
    ),
]


@pytest.fixture(params=RESOURCES, ids=[r.path.removeprefix("/v1/") for r in RESOURCES])
def resource(request: pytest.FixtureRequest) -> Resource:
    return request.param  # type: ignore[no-any-return]


def create(client: TestClient, session: Session, resource: Resource) -> dict[str, Any]:
    response = client.post(resource.path, json=resource.body(session))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_create_is_201_with_location_etag_and_the_record(
    client: TestClient, session: Session, resource: Resource
) -> None:
    body = resource.body(session)
    response = client.post(resource.path, json=body)
    assert response.status_code == 201
    record = response.json()
    assert response.headers["location"] == f"{resource.path}/{record['id']}"
    assert response.headers["etag"].startswith('"')
    assert record["version"] == 1
    assert record["created_at"] == record["updated_at"]
    assert record["created_at"].endswith("Z")
    assert len(record["created_at"]) == len("2026-11-28T17:46:14.123Z")
    for name, value in body.items():
        assert record[name] == value
    fetched = client.get(response.headers["location"])
    assert fetched.json() == record
    assert fetched.headers["etag"] == response.headers["etag"]


def test_if_none_match_is_304_with_the_same_etag_and_no_body(
    client: TestClient, session: Session, resource: Resource
) -> None:
    record = create(client, session, resource)
    etag = client.get(f"{resource.path}/{record['id']}").headers["etag"]
    response = client.get(f"{resource.path}/{record['id']}", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.headers["etag"] == etag
    assert response.content == b""
    assert client.get(f"{resource.path}/{record['id']}", headers={"If-None-Match": '"other"'}).status_code == 200


def test_patch_changes_the_record_and_moves_version_and_etag(
    client: TestClient, session: Session, resource: Resource
) -> None:
    record = create(client, session, resource)
    url = f"{resource.path}/{record['id']}"
    etag = client.get(url).headers["etag"]
    response = client.patch(url, json=resource.change, headers={"If-Match": etag})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["version"] == 2
    assert changed["updated_at"] > record["updated_at"] or changed["updated_at"] >= record["updated_at"]
    assert {k: changed[k] for k in resource.change} == resource.change
    assert response.headers["etag"] != etag
    assert client.get(url).json() == changed


def test_patch_as_merge_patch_media_type(client: TestClient, session: Session, resource: Resource) -> None:
    record = create(client, session, resource)
    response = client.patch(
        f"{resource.path}/{record['id']}",
        content=__import__("json").dumps(resource.change),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text


def test_patch_that_changes_nothing_leaves_version_and_updated_at(
    client: TestClient, session: Session, resource: Resource
) -> None:
    record = create(client, session, resource)
    url = f"{resource.path}/{record['id']}"
    same = {name: record[name] for name in resource.body(session) if name in record and not name.endswith("_id")}
    response = client.patch(url, json=same)
    assert response.status_code == 200, response.text
    assert response.json() == record
    assert client.patch(url, json={}).json() == record


def test_stale_if_match_is_412_and_changes_nothing(client: TestClient, session: Session, resource: Resource) -> None:
    record = create(client, session, resource)
    url = f"{resource.path}/{record['id']}"
    stale = client.get(url).headers["etag"]
    assert client.patch(url, json=resource.change).status_code == 200
    current = client.get(url).json()
    response = client.patch(url, json={resource.required: None} | resource.change, headers={"If-Match": stale})
    assert response.status_code == 412
    assert response.json()["code"] == "PRECONDITION_FAILED"
    assert client.delete(url, headers={"If-Match": stale}).status_code == 412
    assert client.delete(url, headers={"If-Match": "W/" + client.get(url).headers["etag"]}).status_code == 412
    assert client.get(url).json() == current


def test_null_on_a_required_field_is_422_and_changes_nothing(
    client: TestClient, session: Session, resource: Resource
) -> None:
    record = create(client, session, resource)
    url = f"{resource.path}/{record['id']}"
    response = client.patch(url, json={resource.required: None})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Unprocessable Entity",
        "status": 422,
        "detail": "Required fields cannot be cleared.",
        "code": "VALIDATION_FAILED",
        "errors": [{"in": "body", "pointer": f"/{resource.required}", "message": "is required and cannot be null"}],
    }
    assert client.get(url).json() == record


def test_delete_is_soft_204_then_404_then_204_again(client: TestClient, session: Session, resource: Resource) -> None:
    record = create(client, session, resource)
    url = f"{resource.path}/{record['id']}"
    etag = client.get(url).headers["etag"]
    assert client.delete(url, headers={"If-Match": etag}).status_code == 204
    response = client.get(url)
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert client.patch(url, json=resource.change).status_code == 404
    assert client.delete(url).status_code == 204
    assert record["id"] not in [item["id"] for item in client.get(resource.path).json()["items"]]


def test_unknown_id_is_404_and_a_malformed_id_is_422(client: TestClient, resource: Resource) -> None:
    missing = client.get(f"{resource.path}/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert client.delete(f"{resource.path}/{uuid.uuid4()}").status_code == 404
    malformed = client.get(f"{resource.path}/not-a-uuid")
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["in"] == "path"


@pytest.mark.parametrize("field", ["id", "version", "created_at", "updated_at", "deleted_at", "colour"])
def test_server_owned_and_unknown_fields_are_refused(
    client: TestClient, session: Session, resource: Resource, field: str
) -> None:
    body = resource.body(session) | {field: 7}
    response = client.post(resource.path, json=body)
    assert response.status_code == 422
    assert {"in": "body", "pointer": f"/{field}", "message": "Extra inputs are not permitted"} in response.json()[
        "errors"
    ]
    record = create(client, session, resource)
    assert client.patch(f"{resource.path}/{record['id']}", json={field: 7}).status_code == 422


def test_malformed_json_is_400_and_a_non_json_body_is_415(
    client: TestClient, session: Session, resource: Resource
) -> None:
    bad = client.post(resource.path, content=b'{"title": ', headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "MALFORMED_JSON"
    not_object = client.post(resource.path, json=[1, 2])
    assert not_object.status_code in (400, 422)
    assert not_object.headers["content-type"] == "application/problem+json"
    form = client.post(resource.path, content=b"title=x", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    assert form.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert client.get(resource.path).json()["items"] == []


def test_method_not_allowed_lists_every_method_of_the_path(
    client: TestClient, session: Session, resource: Resource
) -> None:
    collection = client.put(resource.path, json={})
    assert collection.status_code == 405
    assert collection.headers["allow"] == "GET, HEAD, POST"
    assert collection.json()["code"] == "METHOD_NOT_ALLOWED"
    item = client.post(f"{resource.path}/{uuid.uuid4()}", json={})
    assert item.status_code == 405
    assert item.headers["allow"] == "DELETE, GET, HEAD, PATCH"


def with_repeated_member(body: dict[str, Any], name: str, first: Any) -> bytes:
    """`body` as JSON text whose first member is `name` with `first`, named again later with its value."""
    text = json.dumps(body)
    return ("{" + json.dumps(name) + ": " + json.dumps(first) + ", " + text[1:]).encode()


def test_a_member_named_twice_is_400_and_nothing_is_written(
    client: TestClient, session: Session, resource: Resource
) -> None:
    body = resource.body(session)
    name = next(iter(body))
    response = client.post(
        resource.path, content=with_repeated_member(body, name, "bogus"), headers={"Content-Type": "application/json"}
    )
    detail = f"The body names '{name}' twice in one object: send each member once."
    expected = problem(400, detail, "DUPLICATE_JSON_KEY", [body_error(f"/{name}", "is named twice in its object")])
    assert response.json() == expected
    assert client.get(resource.path).json()["items"] == []

    record = create(client, session, resource)
    change_name = next(iter(resource.change))
    patched = client.patch(
        f"{resource.path}/{record['id']}",
        content=with_repeated_member(resource.change, change_name, None),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert_problem(patched, 400, "DUPLICATE_JSON_KEY")
    assert client.get(f"{resource.path}/{record['id']}").json() == record


def test_a_member_named_twice_deep_in_the_body_is_pointed_at(client: TestClient, session: Session) -> None:
    participant = {"partner_id": str(make_partner(session).id), "role": "lead"}
    body = {"objective_id": str(make_objective(session).id), "code": "X-1", "title": "T", "type": "meeting"}
    text = json.dumps(body | {"participants": [participant]}).replace('"role": "lead"', '"role": "lead", "role": "x"')
    response = client.post("/v1/activities", content=text, headers={"Content-Type": "application/json"})
    assert pointers(assert_problem(response, 400, "DUPLICATE_JSON_KEY")) == [("body", "/participants/0/role")]
    # The same name in two objects is no repetition.
    twice = json.dumps(body | {"participants": [participant, participant | {"role": "funder"}]})
    assert client.post("/v1/activities", content=twice, headers={"Content-Type": "application/json"}).status_code == 201
