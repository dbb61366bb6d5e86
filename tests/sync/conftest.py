"""Sync tests need real commits: stamps are taken per transaction, and the feed is about what
other transactions see. So these run on a database of their own, seeded, where every request
commits, instead of inside the rolled-back transaction of the other tests."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.access.keys import auth_sessions, current_principal
from app.db import SAFE_METHODS, create_db_engine, get_read_session, get_session, tag, write_engine
from app.main import app
from app.seed.service import load_seed
from app.sync.idempotency import claim_session
from tests.conftest import DATABASES, editor, fresh_database_url, migrate


@pytest.fixture(scope="module", params=DATABASES)
def sync_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    directory: Path = tmp_path_factory.mktemp("sync")
    engine = create_db_engine(fresh_database_url(request.param, directory, "_sync"), pool_size=5)
    migrate(engine)
    with Session(write_engine(engine)) as session, session.begin():
        load_seed(session)
    yield engine
    engine.dispose()


@pytest.fixture
def sync_client(sync_engine: Engine) -> Iterator[TestClient]:
    writer = write_engine(sync_engine)

    def session_override(request: Request) -> Iterator[Session]:
        bind = sync_engine if request.method in SAFE_METHODS else writer
        with tag(Session(bind, expire_on_commit=False), request) as session, session.begin():
            yield session

    def claims() -> Iterator[Session]:
        with Session(writer, expire_on_commit=False) as session:
            yield session

    # Most tests are about the records, not access: they act as an editor. tests/access/ uses real keys.
    app.dependency_overrides[current_principal] = editor
    app.dependency_overrides[get_session] = session_override
    app.dependency_overrides[get_read_session] = session_override
    app.dependency_overrides[claim_session] = claims
    app.dependency_overrides[auth_sessions] = lambda: lambda: Session(sync_engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    app.dependency_overrides.clear()


COLLECTIONS = {
    "work_plan": "/v1/work-plans",
    "objective": "/v1/objectives",
    "activity": "/v1/activities",
    "partner": "/v1/partners",
    "government_report": "/v1/government-reports",
}


def served(client: TestClient | httpx.Client) -> dict[tuple[str, str], dict[str, Any]]:
    """Every live record as the list endpoints serve it, by (type, id): what a mirror must equal."""
    records = {}
    for type_, path in COLLECTIONS.items():
        for line in client.get(path, params={"format": "ndjson"}).text.splitlines():
            record = json.loads(line)
            records[type_, record["id"]] = record
    return records


def drain(client: TestClient, cursor: str | None = None, **params: Any) -> tuple[list[dict[str, Any]], str]:
    """Follow the feed until has_more is false; every item and the cursor to poll with next."""
    items: list[dict[str, Any]] = []
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v1/changes", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return items, cursor
