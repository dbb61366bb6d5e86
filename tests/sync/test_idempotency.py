"""Idempotency-Key on POST: replays, conflicts, and no double writes under parallel retries."""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine
from sqlmodel import Session

from app.db import write_engine
from app.models.writes import IdempotencyKey
from app.records import utcnow
from app.writes import idempotency
from app.writes.idempotency import Claim, fingerprint
from tests.conftest import DATABASES, fresh_database_url
from tests.live import live_server
from tests.problems import assert_problem, problem

OBJECTIVE_5 = "de576537-25ea-5ba0-9148-3733718f059c"


def body(code: str) -> dict[str, str]:
    return {"objective_id": OBJECTIVE_5, "code": code, "title": f"Idempotent {code}", "type": "meeting"}


def stored_response(
    key: str, request_body: bytes, *, principal: str = "test-editor", at: datetime | None = None
) -> IdempotencyKey:
    """A key as a first POST /v1/activities with `request_body` left it (principal: the test client's key)."""
    at = at or utcnow()
    return IdempotencyKey(
        principal=principal,
        key=key,
        fingerprint=fingerprint("POST", "/v1/activities", request_body),
        created_at=at,
        expires_at=at + timedelta(hours=24),
        response_status=201,
        response_headers=json.dumps({"content-type": "application/json"}),
        response_body=b'{"stored": true}',
    )


def post(client: TestClient, request_body: bytes, key: str) -> Response:
    headers = {"Idempotency-Key": key, "Content-Type": "application/json"}
    return client.post("/v1/activities", content=request_body, headers=headers)


def count(client: TestClient, code: str) -> int:
    return len(client.get("/v1/activities", params={"code": code}).json()["items"])


def test_a_retry_replays_the_first_response_and_writes_nothing(sync_client: TestClient) -> None:
    first = sync_client.post("/v1/activities", json=body("IDEM-1"), headers={"Idempotency-Key": "retry-1"})
    again = sync_client.post("/v1/activities", json=body("IDEM-1"), headers={"Idempotency-Key": "retry-1"})
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert count(sync_client, "IDEM-1") == 1


def test_the_same_key_with_another_body_is_refused(sync_client: TestClient) -> None:
    sync_client.post("/v1/activities", json=body("IDEM-2"), headers={"Idempotency-Key": "reuse"})
    response = sync_client.post("/v1/activities", json=body("IDEM-3"), headers={"Idempotency-Key": "reuse"})
    assert_problem(response, 422, "IDEMPOTENCY_KEY_REUSED")
    assert count(sync_client, "IDEM-3") == 0


def test_the_same_key_on_another_collection_is_another_request(sync_client: TestClient) -> None:
    sync_client.post("/v1/activities", json=body("IDEM-4"), headers={"Idempotency-Key": "cross"})
    response = sync_client.post(
        "/v1/partners", json={"name": "Cross", "kind": "ngo"}, headers={"Idempotency-Key": "cross"}
    )
    assert_problem(response, 422, "IDEMPOTENCY_KEY_REUSED")


def test_a_key_held_by_a_running_request_is_a_conflict_until_it_ends(
    sync_client: TestClient, sync_engine: Engine
) -> None:
    if sync_engine.dialect.name == "sqlite":
        pytest.skip("SQLite runs one write at a time: a second request waits for the first to end")
    content = json.dumps(body("IDEM-5")).encode()
    # Another request's transaction holds the key, as the first request's does while it runs.
    with Session(write_engine(sync_engine)) as first:
        idempotency.take_claim(first, Claim("test-editor", "busy", fingerprint("POST", "/v1/activities", content)))
        response = post(sync_client, content, "busy")
        assert response.status_code == 409
        assert response.headers["retry-after"] == "1"
        assert response.json() == problem(
            409, "A request with this Idempotency-Key is still running; retry shortly.", "IDEMPOTENCY_KEY_IN_USE"
        )
        # What the first request was is not known until it commits: another body waits too.
        other = post(sync_client, json.dumps(body("IDEM-5b")).encode(), "busy")
        assert_problem(other, 409, "IDEMPOTENCY_KEY_IN_USE")
        assert count(sync_client, "IDEM-5") == 0
    # The first request failed (its session closed without a commit): the key is free.
    assert post(sync_client, content, "busy").status_code == 201
    assert count(sync_client, "IDEM-5") == 1


def test_an_expired_key_is_forgotten(sync_client: TestClient, sync_engine: Engine) -> None:
    content = json.dumps(body("IDEM-6")).encode()
    with Session(write_engine(sync_engine)) as session, session.begin():
        session.add(stored_response("old", content, at=utcnow() - timedelta(days=2)))
    response = post(sync_client, content, "old")
    assert response.status_code == 201
    assert "idempotent-replayed" not in response.headers
    assert count(sync_client, "IDEM-6") == 1
    replay = post(sync_client, content, "old")
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.content == response.content


def test_a_failed_request_releases_its_key(sync_client: TestClient) -> None:
    bad = {**body("IDEM-7"), "objective_id": "00000000-0000-0000-0000-000000000000"}
    assert sync_client.post("/v1/activities", json=bad, headers={"Idempotency-Key": "fails"}).status_code == 422
    # The same key may carry the corrected request.
    response = sync_client.post("/v1/activities", json=body("IDEM-7"), headers={"Idempotency-Key": "fails"})
    assert response.status_code == 201


@pytest.mark.parametrize("key", ["x" * 256, "with space", "tab\there", "é", ""])
def test_a_malformed_key_is_refused(sync_client: TestClient, key: str) -> None:
    headers = [(b"Idempotency-Key", key.encode())]
    response = sync_client.post("/v1/activities", json=body("IDEM-8"), headers=headers)
    assert_problem(response, 400, "INVALID_IDEMPOTENCY_KEY")
    assert count(sync_client, "IDEM-8") == 0


SECRET_MAKERS = {"/v1/api-keys", "/v1/webhooks", "/v1/webhooks/{webhook_id}/rotate-secret"}


def test_every_post_takes_the_header(sync_client: TestClient) -> None:
    for path, operations in sync_client.get("/openapi.json").json()["paths"].items():
        # Not where a secret is made (an API key, a webhook's signing secret): a replay would have to
        # keep it in plain text. Those refuse the header (tests/webhooks/test_subscriptions.py).
        if "post" in operations and path not in SECRET_MAKERS:
            names = {p["name"] for p in operations["post"].get("parameters", [])}
            assert "Idempotency-Key" in names or "idempotency-key" in names, path


@pytest.mark.slow
@pytest.mark.parametrize("kind", DATABASES)
def test_parallel_duplicates_create_one_record(kind: str, tmp_path: Path) -> None:
    with live_server(fresh_database_url(kind, tmp_path, "_idempotency"), workers=2) as base:

        def send(_: int) -> httpx.Response:
            with httpx.Client(base_url=base, headers=base.headers, timeout=60) as client:
                return client.post("/v1/activities", json=body("PAR-1"), headers={"Idempotency-Key": "parallel"})

        with ThreadPoolExecutor(max_workers=12) as pool:
            responses = list(pool.map(send, range(24)))
        with httpx.Client(base_url=base, headers=base.headers, timeout=60) as client:
            found = client.get("/v1/activities", params={"code": "PAR-1"}).json()["items"]
            replay = client.post("/v1/activities", json=body("PAR-1"), headers={"Idempotency-Key": "parallel"})

    statuses = {r.status_code for r in responses}
    # SQLite runs one write at a time: each duplicate waits for the first and replays it.
    assert statuses <= ({201} if kind == "sqlite" else {201, 409}), statuses
    created = [r for r in responses if r.status_code == 201]
    assert created
    assert len({r.headers["location"] for r in created}) == 1
    assert all(r.json()["code"] == "IDEMPOTENCY_KEY_IN_USE" for r in responses if r.status_code == 409)
    assert len(found) == 1
    assert replay.status_code == 201
    assert replay.headers["location"] == created[0].headers["location"]


def test_keys_are_per_caller(sync_client: TestClient, sync_engine: Engine) -> None:
    content = json.dumps(body("IDEM-9")).encode()
    with Session(write_engine(sync_engine)) as session, session.begin():
        session.add(stored_response("shared", content, principal="someone-else"))
    # Another caller's key of the same name neither blocks nor replays this one.
    response = post(sync_client, content, "shared")
    assert response.status_code == 201
    assert "idempotent-replayed" not in response.headers
