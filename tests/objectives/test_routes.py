"""Objectives: codes unique within their plan, fixed plan, and deletion while activities remain."""

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models.work_plans import WorkPlan
from tests.factories import make_activity, make_objective, make_work_plan
from tests.problems import duplicate, in_use, pointers, problem, unknown_reference

PATH = "/v1/objectives"


def body_for(work_plan: WorkPlan, **overrides: Any) -> dict[str, Any]:
    return {"work_plan_id": str(work_plan.id), "code": "5", "title": "Committee on the Rights of the Child"} | overrides


def create(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(PATH, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_duplicate_code_in_the_same_plan_is_409(client: TestClient, session: Session) -> None:
    plan = make_work_plan(session)
    make_objective(session, work_plan_id=plan.id, code="5")
    response = client.post(PATH, json=body_for(plan))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == duplicate("Objective code '5' in this work plan", "/code")
    assert len(client.get(PATH).json()["items"]) == 1


def test_same_code_in_another_plan_is_allowed(client: TestClient, session: Session) -> None:
    make_objective(session, code="5")
    create(client, body_for(make_work_plan(session)))


def test_patch_to_a_taken_code_is_409_and_changes_nothing(client: TestClient, session: Session) -> None:
    plan = make_work_plan(session)
    make_objective(session, work_plan_id=plan.id, code="1")
    objective = create(client, body_for(plan))
    response = client.patch(f"{PATH}/{objective['id']}", json={"code": "1"})
    assert response.status_code == 409
    assert response.json() == duplicate("Objective code '1' in this work plan", "/code")
    assert client.get(f"{PATH}/{objective['id']}").json() == objective


def test_deleted_objective_code_can_be_reused(client: TestClient, session: Session) -> None:
    plan = make_work_plan(session)
    gone = create(client, body_for(plan))
    assert client.delete(f"{PATH}/{gone['id']}").status_code == 204
    assert create(client, body_for(plan))["id"] != gone["id"]


def test_unknown_or_deleted_work_plan_is_422(client: TestClient, session: Session) -> None:
    missing = uuid.uuid4()
    response = client.post(PATH, json=body_for(make_work_plan(session)) | {"work_plan_id": str(missing)})
    assert response.status_code == 422
    assert response.json() == unknown_reference(("/work_plan_id", f"No work plan with id {missing}"))
    deleted = make_work_plan(session)
    assert client.delete(f"/v1/work-plans/{deleted.id}").status_code == 204
    response = client.post(PATH, json=body_for(deleted))
    assert response.status_code == 422
    assert response.json() == unknown_reference(("/work_plan_id", f"No work plan with id {deleted.id}"))


def test_changing_the_work_plan_is_422_and_changes_nothing(client: TestClient, session: Session) -> None:
    objective = create(client, body_for(make_work_plan(session)))
    url = f"{PATH}/{objective['id']}"
    response = client.patch(url, json={"work_plan_id": str(make_work_plan(session).id), "title": "Moved"})
    assert response.status_code == 422
    assert response.json() == problem(
        422,
        "An objective cannot move to another work plan.",
        "VALIDATION_FAILED",
        [{"in": "body", "pointer": "/work_plan_id", "message": "cannot be changed"}],
    )
    assert client.get(url).json() == objective
    same = client.patch(url, json={"work_plan_id": objective["work_plan_id"]})
    assert same.status_code == 200
    assert same.json() == objective


def test_deleting_an_objective_with_live_activities_is_409_and_changes_nothing(
    client: TestClient, session: Session
) -> None:
    objective = make_objective(session)
    first = make_activity(session, objective_id=objective.id)
    second = make_activity(session, objective_id=objective.id)
    url = f"{PATH}/{objective.id}"
    before = client.get(url).json()
    response = client.delete(url)
    assert response.status_code == 409
    assert response.json() == in_use(
        "This objective", 2, "activities", [f"/v1/activities/{first.id}", f"/v1/activities/{second.id}"]
    )
    assert client.get(url).json() == before
    assert client.delete(f"/v1/activities/{first.id}").status_code == 204
    assert client.delete(url).json() == in_use("This objective", 1, "activities", [f"/v1/activities/{second.id}"])
    assert client.delete(f"/v1/activities/{second.id}").status_code == 204
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("position", 10**20),
        ("position", -1),
        ("position", 10_001),
        ("position", "first"),
        ("title", "x" * 301),
        ("title", ""),
        ("description", "x" * 20_001),
        ("code", "4.2 bis"),
        ("title", "a\u0000b"),
        ("description", "a\u0000b"),
    ],
)
def test_invalid_field_is_422_pointing_at_it(client: TestClient, session: Session, field: str, value: object) -> None:
    plan = make_work_plan(session)
    response = client.post(PATH, json=body_for(plan) | {field: value})
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", f"/{field}")]
    objective = create(client, body_for(plan))
    patched = client.patch(f"{PATH}/{objective['id']}", json={field: value})
    assert patched.status_code == 422
    assert pointers(patched.json()) == [("body", f"/{field}")]
    assert client.get(f"{PATH}/{objective['id']}").json() == objective


def test_lone_surrogate_is_422_not_500(client: TestClient, session: Session) -> None:
    plan = make_work_plan(session)
    raw = f'{{"work_plan_id": "{plan.id}", "code": "1", "title": "\\ud800"}}'
    response = client.post(PATH, content=raw.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", "/title")]
