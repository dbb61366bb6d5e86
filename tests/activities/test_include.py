"""include= embeds related records one level deep, at a fixed number of SQL statements per page."""

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlmodel import Session

from app.seed.service import load_seed, seed_id
from tests.factories import make_activity, make_objective, make_partner


def statements_during(engine: Engine, call: Callable[[], Any]) -> int:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_activities_embed_their_objective_and_partners(client: TestClient, session: Session) -> None:
    load_seed(session)
    objective = str(seed_id("objective", "2003/5"))
    items = client.get("/v1/activities", params={"objective_id": objective, "include": ["objective", "partners"]})
    first = items.json()["items"][0]
    assert first["code"] == "SEC-2003-5.1"
    assert first["objective"] == client.get(f"/v1/objectives/{objective}").json()
    assert [p["name"] for p in first["partners"]] == ["Focal Point", "Committee on the Rights of the Child"]
    plain = client.get("/v1/activities", params={"objective_id": objective}).json()["items"][0]
    assert "objective" not in plain
    assert "partners" not in plain


def test_objectives_embed_their_live_activities(client: TestClient, session: Session) -> None:
    load_seed(session)
    items = client.get("/v1/objectives", params={"include": "activities"}).json()["items"]
    assert [len(o["activities"]) for o in items] == [2, 3, 2, 4, 2, 1]
    assert items[4]["activities"][0]["code"] == "SEC-2003-5.1"


def test_include_costs_the_same_statements_whatever_the_page_size(
    client: TestClient, session: Session, engine: Engine
) -> None:
    objective = make_objective(session)
    partners = [make_partner(session) for _ in range(5)]
    for n in range(60):
        participants = [
            {"partner_id": partners[n % 5].id, "role": "lead"},
            {"partner_id": partners[(n + 1) % 5].id, "role": "partner"},
        ]
        make_activity(session, objective_id=objective.id, participants=participants, countries=["KEN"])
    params = {"objective_id": str(objective.id), "include": ["objective", "partners"]}
    small = statements_during(engine, lambda: client.get("/v1/activities", params={**params, "limit": "5"}))
    large = statements_during(engine, lambda: client.get("/v1/activities", params={**params, "limit": "50"}))
    assert small == large
    objectives = {"include": "activities", "work_plan_id": str(objective.work_plan_id)}
    assert (
        statements_during(engine, lambda: client.get("/v1/objectives", params={**objectives, "limit": "1"}))
        == small - 1
    )


def test_an_unknown_relation_is_422(client: TestClient) -> None:
    response = client.get("/v1/activities", params={"include": "budget"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/include/0"
