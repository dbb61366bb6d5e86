"""A database that is down, unreachable or out of connections: 503 problem+json with Retry-After,
within a bound, never a 500 or a hang; and no Idempotency-Key claim left stuck by the outage.
A rate limit storage (Redis) that is down: requests go through, and the outage is logged once.

These run on SQLite everywhere: an engine whose connections fail while a switch is off stands for
a database that went away, and a PostgreSQL URL on a port nothing listens on for one that is not
there. tests/test_faults.py stops a real PostgreSQL under a live server.
"""

import logging
import os
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, func
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, select

from app.config import get_settings
from app.db import (
    _sqlite_on_begin,
    _sqlite_on_connect,
    create_db_engine,
    write_engine,
)
from app.errors import database_unavailable
from app.models.activities import Activity
from app.models.writes import IdempotencyKey
from app.seed.service import load_seed
from tests.conftest import client_on, migrate
from tests.live import free_port

OBJECTIVE_5 = "de576537-25ea-5ba0-9148-3733718f059c"
UNAVAILABLE = {
    "type": "about:blank",
    "title": "Service Unavailable",
    "status": 503,
    "detail": "The database cannot be reached just now; nothing was written. Retry after `Retry-After` seconds.",
    "code": "DATABASE_UNAVAILABLE",
}
BUSY = UNAVAILABLE | {
    "detail": (
        "Every database connection this service may use is busy just now; nothing was written. "
        "Retry after `Retry-After` seconds."
    ),
    "code": "DATABASE_BUSY",
}


class Switch:
    """Connections to a SQLite file that fail, as a vanished server's do, while `up` is False:
    new ones at connect, open ones at their next statement."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.up = True
        self.down_at: str | None = None  # the outage starts at the first statement beginning so

    def connect(self) -> sqlite3.Connection:
        if not self.up:
            raise sqlite3.OperationalError("unable to open database file")
        return sqlite3.connect(self.path, check_same_thread=False, timeout=30)

    def execute(self, _cursor: Any, statement: str, *_rest: Any) -> None:
        """A `do_execute` hook: the statement runs as usual unless the database is gone."""
        if self.down_at is not None and statement.startswith(self.down_at):
            self.up = False
        if not self.up:
            raise sqlite3.OperationalError("disk I/O error")


@pytest.fixture
def switch(tmp_path: Path) -> Switch:
    return Switch(tmp_path / "outage.db")


@pytest.fixture
def flaky_engine(switch: Switch) -> Iterator[Engine]:
    # NullPool: every checkout connects, so an outage is met at the next request, as with a
    # server that dropped its connections (pool_pre_ping then reconnects).
    engine = create_engine("sqlite://", creator=switch.connect, poolclass=NullPool)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    event.listen(engine, "do_execute", switch.execute)
    event.listen(engine, "do_execute_no_params", switch.execute)
    migrate(engine)
    with Session(write_engine(engine)) as session, session.begin():
        load_seed(session)
    yield engine
    engine.dispose()


@pytest.fixture
def flaky_client(flaky_engine: Engine) -> Iterator[TestClient]:
    yield from client_on(flaky_engine)


def assert_unavailable(response: Any, body: dict[str, Any] = UNAVAILABLE) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    assert response.json() == body


def new_activity(code: str) -> dict[str, str]:
    return {"objective_id": OBJECTIVE_5, "code": code, "title": "Written through an outage", "type": "meeting"}


def test_reads_writes_and_readyz_answer_503_while_the_database_is_down(
    flaky_client: TestClient, switch: Switch
) -> None:
    switch.up = False
    assert_unavailable(flaky_client.get("/v1/activities"))
    assert_unavailable(flaky_client.post("/v1/activities", json=new_activity("OUT-1")))
    assert_unavailable(
        flaky_client.post("/v1/activities", json=new_activity("OUT-2"), headers={"Idempotency-Key": "k-out-2"})
    )
    ready = flaky_client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["code"] == "DATABASE_UNAVAILABLE"
    assert ready.headers["retry-after"] == "5"
    assert flaky_client.get("/healthz").status_code == 200

    switch.up = True
    assert flaky_client.get("/readyz").status_code == 200
    assert flaky_client.post("/v1/activities", json=new_activity("OUT-1")).status_code == 201


def test_a_write_that_loses_the_database_mid_request_leaves_its_idempotency_key_free(
    flaky_client: TestClient, flaky_engine: Engine, switch: Switch
) -> None:
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    body = new_activity("OUT-3")
    # The database goes away at the write's INSERT, after the key was claimed.
    switch.down_at = "INSERT INTO activity "
    assert_unavailable(flaky_client.post("/v1/activities", json=body, headers=headers))
    assert_unavailable(flaky_client.post("/v1/activities", json=body, headers=headers))

    switch.down_at = None
    switch.up = True
    # At once: nothing of the first attempt is left to hold the key.
    response = flaky_client.post("/v1/activities", json=body, headers=headers)
    assert response.status_code == 201, response.text
    replay = flaky_client.post("/v1/activities", json=body, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"
    with Session(flaky_engine) as session:
        assert session.exec(select(func.count()).where(Activity.code == "OUT-3")).one() == 1
        assert session.exec(select(func.count()).select_from(IdempotencyKey)).one() == 1


def test_a_postgresql_server_that_is_not_there_is_503_within_the_connect_timeout() -> None:
    engine = create_db_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none", connect_timeout=1)
    try:
        clients = client_on(engine)
        client = next(clients)  # the generator's finally clears the overrides when it is closed
        started = time.monotonic()
        assert_unavailable(client.get("/v1/partners"))
        assert_unavailable(client.post("/v1/activities", json=new_activity("X"), headers={"Idempotency-Key": "x"}))
        assert client.get("/readyz").status_code == 503
        assert time.monotonic() - started < 3
        clients.close()
    finally:
        engine.dispose()


def test_an_exhausted_pool_is_503_busy_not_unreachable_after_the_pool_timeout(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'pool.db'}", pool_size=1, pool_timeout=0.5)
    migrate(engine)
    try:
        clients = client_on(engine)
        client = next(clients)  # the generator's finally clears the overrides when it is closed
        with engine.connect():  # the only connection, held by someone else
            started = time.monotonic()
            assert_unavailable(client.get("/v1/partners"), BUSY)
            assert 0.5 <= time.monotonic() - started < 3
        assert client.get("/v1/partners").status_code == 200
        clients.close()
    finally:
        engine.dispose()


def test_a_data_error_is_not_taken_for_an_outage() -> None:
    integrity = IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE constraint failed"))
    syntax = OperationalError("SELECT", {}, sqlite3.OperationalError('near "SELEC": syntax error'))
    locked = OperationalError("SELECT", {}, sqlite3.OperationalError("database is locked"))
    assert not database_unavailable(integrity)
    assert not database_unavailable(syntax)
    assert database_unavailable(locked)


def start_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    """A Redis of this test's own on `port` (it stops it by its pid), answering once this returns."""
    binary = shutil.which("redis-server")
    if binary is None:
        reason = "no redis-server to stand for the rate limit storage coming back"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run this test, but there is {reason}")
        pytest.skip(reason)
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
    )
    store = redis.Redis(port=port, socket_connect_timeout=1)
    for _ in range(100):
        try:
            store.ping()
            return server
        except redis.ConnectionError:
            time.sleep(0.05)
    server.terminate()
    pytest.fail(f"redis-server did not answer on port {port}")


def test_a_rate_limit_storage_that_is_down_lets_requests_through_and_logs_each_outage_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Every request once logged two tracebacks while Redis was down. Now: one warning with the
    reason, and once it answers again, one line with how long and how many requests it let through."""
    port, limit = free_port(), 3
    monkeypatch.setattr(get_settings(), "rate_limit_storage", f"redis://127.0.0.1:{port}/0")
    monkeypatch.setattr(get_settings(), "anonymous_rate_limit_per_minute", limit)
    caplog.set_level(logging.INFO, logger="workplan.limits")
    engine = create_db_engine(f"sqlite:///{tmp_path / 'limits.db'}")
    migrate(engine)
    clients = client_on(engine)  # its lifespan makes the limiter, on the storage above
    client = next(clients)

    def logged() -> list[str]:
        records = [r for r in caplog.records if r.name == "workplan.limits"]
        assert all(r.exc_info is None and r.levelno == logging.WARNING for r in records), "no traceback"
        return [r.getMessage() for r in records]

    server = None
    try:
        # Nothing listens on the port: requests go through, past the limit, unlimited.
        passed = [client.get("/v1/objectives") for _ in range(2 * limit)]
        assert [r.status_code for r in passed] == [200] * 2 * limit
        assert {r.headers["ratelimit-remaining"] for r in passed} == {str(limit)}
        (down,) = logged()
        assert down.startswith("The rate limit storage does not answer (ConnectionError: ")
        assert "requests go through unlimited until it does" in down

        server = start_redis(port, tmp_path)
        counted = client.get("/v1/objectives")
        assert counted.status_code == 200
        assert int(counted.headers["ratelimit-remaining"]) < limit  # counted again
        (_, up) = logged()
        assert up.startswith("The rate limit storage answers again, after ")
        assert up.endswith(f" s; {2 * limit} requests went through unlimited meanwhile.")
        statuses = [client.get("/v1/objectives").status_code for _ in range(limit + 1)]
        assert statuses[-1] == 429

        # A second outage is a second warning, once.
        server.terminate()
        server.wait(timeout=10)
        server = None
        assert [client.get("/v1/objectives").status_code for _ in range(3)] == [200] * 3
        assert len(logged()) == 3
        assert logged()[2].startswith("The rate limit storage does not answer (")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        clients.close()
        engine.dispose()
