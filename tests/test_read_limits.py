"""A read on the event loop never waits there for a pooled connection, and runs under a time limit
(WORKPLAN_READ_TIME_LIMIT): past it the read is stopped, the request answers 503 QUERY_TIMEOUT,
and the service goes on serving."""

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from app.db import Database, ReadSession, create_db_engine, run_read
from app.partners import service as partners
from tests.conftest import DATABASES, client_on, fresh_database_url, migrate


@pytest.fixture(params=DATABASES)
def one_connection(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database whose engine pools a single connection, waited for up to 5 s."""
    engine = create_db_engine(fresh_database_url(request.param, tmp_path, "_pool"), pool_size=1, pool_timeout=5)
    migrate(engine)
    yield engine
    engine.dispose()


def test_a_bounded_sqlite_read_with_no_free_connection_runs_in_a_worker_thread(one_connection: Engine) -> None:
    if one_connection.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's bounded reads take their connections from the asyncio twin")

    def thread(_session: Session) -> int:
        return threading.get_ident()

    async def main() -> tuple[int, int, int]:
        session = ReadSession(Database(one_connection, one_connection))
        on_loop = await run_read(session, thread)
        session.close()  # as the request's dependency does
        with one_connection.connect():  # the only connection, held by someone else
            return threading.get_ident(), on_loop, await run_read(ReadSession(session.database), thread)

    loop, free, exhausted = anyio.run(main)
    assert free == loop
    assert exhausted != loop


def test_a_read_waiting_for_a_connection_does_not_hold_up_the_event_loop(one_connection: Engine) -> None:
    """The old way, a SQLite read checked its connection out on the event loop, which then waited
    up to the pool timeout: no other request was even taken in meanwhile."""
    clients = client_on(one_connection)
    client = next(clients)
    try:
        with ThreadPoolExecutor(1) as pool:
            held = one_connection.connect()  # the only connection, held by someone else
            try:
                read = pool.submit(client.get, "/v1/partners")
                time.sleep(0.3)  # the read is waiting for the connection
                started = time.monotonic()
                assert client.get("/healthz").status_code == 200
                assert time.monotonic() - started < 2.5  # the event loop went on serving (not 5 s)
                if one_connection.dialect.name == "sqlite":
                    assert not read.done()
            finally:
                held.close()
            assert read.result(timeout=10).status_code == 200
    finally:
        clients.close()


def _runaway(session: Session, _params: Any) -> Any:
    """A list's read that would never end, as a pathological query would."""
    if session.get_bind().dialect.name == "sqlite":
        forever = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    else:
        forever = "SELECT pg_sleep(60)"
    session.execute(text(forever))
    raise AssertionError("the read was not stopped")


def test_a_runaway_read_is_stopped_at_the_limit_and_the_service_goes_on(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = client_on(engine, read_time_limit=0.5)
    client = next(clients)
    try:
        monkeypatch.setattr(partners, "list_partners", _runaway)
        started = time.monotonic()
        response = client.get("/v1/partners")
        assert time.monotonic() - started < 5
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "5"
        assert response.json() == {
            "type": "about:blank",
            "title": "Service Unavailable",
            "status": 503,
            "detail": "The read took longer than 0.5 seconds, the most this service gives one, and was stopped; "
            "nothing was changed. Retry after `Retry-After` seconds.",
            "code": "QUERY_TIMEOUT",
        }
        monkeypatch.undo()
        assert client.get("/v1/partners").status_code == 200
        assert client.get("/v1/objectives").status_code == 200
    finally:
        clients.close()
