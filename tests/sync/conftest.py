"""Sync tests need real commits: stamps are taken per transaction, and the feed is about what
other transactions see. So these run on a database of their own, seeded, where every request
commits, instead of inside the rolled-back transaction of the other tests."""

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from app.db import create_db_engine, write_engine
from app.seed.service import load_seed
from tests.conftest import DATABASES, client_on, fresh_database_url, migrate


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
    yield from client_on(sync_engine)


EXAMPLE = Path(__file__).parents[2] / "examples" / "sync_client.py"


def load_example() -> ModuleType:
    """examples/sync_client.py, the reference client, imported as a module."""
    spec = importlib.util.spec_from_file_location("sync_client", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


COLLECTIONS = {
    "work_plan": "/v1/work-plans",
    "objective": "/v1/objectives",
    "activity": "/v1/activities",
    "partner": "/v1/partners",
    "ratification": "/v1/ratifications",
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
