"""Work plans: unique codes, periods in order, and deletion while objectives remain."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import make_objective, make_work_plan
from tests.problems import duplicate, in_use, invalid_body, invalid_request, pointers

PATH = "/v1/work-plans"


def body_for(**overrides: Any) -> dict[str, Any]:
    return {"code": "2003", "title": "2003 Work Plan", "period_start": "2003-01-01", "period_end": "2003-12-31"} | (
        overrides
    )


def create(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(PATH, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_duplicate_code_is_409(client: TestClient, session: Session) -> None:
    make_work_plan(session, code="2003")
    response = client.post(PATH, json=body_for())
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == duplicate("Work plan code '2003'", "/code")
    assert len(client.get(PATH).json()["items"]) == 1


def test_patch_to_a_taken_code_is_409_and_changes_nothing(client: TestClient, session: Session) -> None:
    make_work_plan(session, code="2004")
    plan = create(client, body_for())
    response = client.patch(f"{PATH}/{plan['id']}", json={"code": "2004"})
    assert response.status_code == 409
    assert response.json() == duplicate("Work plan code '2004'", "/code")
    assert client.get(f"{PATH}/{plan['id']}").json() == plan


def test_deleted_work_plan_code_can_be_reused(client: TestClient) -> None:
    gone = create(client, body_for())
    assert client.delete(f"{PATH}/{gone['id']}").status_code == 204
    assert create(client, body_for())["id"] != gone["id"]


def test_period_end_before_start_is_422(client: TestClient) -> None:
    response = client.post(PATH, json=body_for(period_end="2002-12-31"))
    assert response.status_code == 422
    assert response.json() == invalid_request("/period_end", "must not be before period_start (2003-01-01)")
    plan = create(client, body_for())
    patched = client.patch(f"{PATH}/{plan['id']}", json={"period_start": "2004-01-01"})
    assert patched.status_code == 422
    assert patched.json() == invalid_body("/period_end", "must not be before period_start (2004-01-01)")
    assert client.get(f"{PATH}/{plan['id']}").json() == plan


def test_deleting_a_plan_with_live_objectives_is_409_and_changes_nothing(client: TestClient, session: Session) -> None:
    plan = make_work_plan(session)
    objective = make_objective(session, work_plan_id=plan.id)
    url = f"{PATH}/{plan.id}"
    before = client.get(url).json()
    response = client.delete(url)
    assert response.status_code == 409
    assert response.json() == in_use("This work plan", 1, "objectives", [f"/v1/objectives/{objective.id}"])
    assert client.get(url).json() == before
    assert client.delete(f"/v1/objectives/{objective.id}").status_code == 204
    assert client.delete(url).status_code == 204


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "approved"),
        ("status", "Adopted"),
        ("code", "x" * 41),
        ("code", "-2003"),
        ("title", "x" * 301),
        ("group_name", "x" * 301),
        ("description", "x" * 20_001),
        ("period_start", "2003-00-01"),
        ("title", "a\u0000b"),
        ("group_name", "a\u0000b"),
        ("description", "a\u0000b"),
    ],
)
def test_invalid_field_is_422_pointing_at_it(client: TestClient, field: str, value: object) -> None:
    response = client.post(PATH, json=body_for() | {field: value})
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", f"/{field}")]
    plan = create(client, body_for())
    patched = client.patch(f"{PATH}/{plan['id']}", json={field: value})
    assert patched.status_code == 422
    assert pointers(patched.json()) == [("body", f"/{field}")]
    assert client.get(f"{PATH}/{plan['id']}").json() == plan


@pytest.mark.parametrize("field", ["title", "group_name", "description"])
def test_lone_surrogate_is_422_not_500(client: TestClient, field: str) -> None:
    members = {"code": '"2003"', "title": '"ok"'} | {field: '"\\ud800"'}  # each name once
    raw = "{" + ", ".join(f'"{name}": {value}' for name, value in members.items()) + "}"
    response = client.post(PATH, content=raw.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", f"/{field}")]
