"""Where a read endpoint's work runs: bounded reads on the event loop (PostgreSQL's through the
engine's asyncio twin), the rest in threads."""

import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import anyio
import pytest
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from app.activities.service import ActivityListParams
from app.db import SQLITE_READS_AT_ONCE, Database, ReadSession, open_database, run_read


def _on(bind: Engine | Connection) -> ReadSession:
    """A read's session on `bind`, with no asyncio twin (as the tests' sessions on one connection)."""
    return ReadSession(Database(bind, bind))


def _thread(_session: Session) -> int:
    return threading.get_ident()


def _threads(session: ReadSession, *, bounded: bool) -> tuple[int, int]:
    async def main() -> tuple[int, int]:
        return threading.get_ident(), await run_read(session, _thread, bounded=bounded)

    return anyio.run(main)


def test_a_bounded_read_runs_on_the_event_loop_only_on_sqlite(connection: Connection) -> None:
    session = _on(connection)
    loop, worker = _threads(session, bounded=True)
    if session.get_bind().dialect.name == "sqlite":
        assert worker == loop
    else:
        # A PostgreSQL read waits on the network: it must not hold up the other requests.
        assert worker != loop


def test_an_unbounded_read_runs_in_a_worker_thread(connection: Connection) -> None:
    loop, worker = _threads(_on(connection), bounded=False)
    assert worker != loop


def test_a_read_in_a_worker_thread_returns_its_connection_there(engine: Engine) -> None:
    """A page, a record or a chunk of an export is made in full in the worker thread, which then
    returns the connection (a rollback: a round trip on PostgreSQL) before handing back: no read
    holds a connection past its own work."""
    checkins: list[int] = []

    def note(*_args: object) -> None:
        checkins.append(threading.get_ident())

    session = _on(engine)

    def read(session: Session) -> int:
        session.connection()
        return threading.get_ident()

    async def main() -> tuple[int, bool]:
        worker = await run_read(session, read, bounded=False)
        return worker, session.in_transaction()

    event.listen(engine, "checkin", note)
    try:
        worker, still_open = anyio.run(main)
        assert not still_open
        assert checkins == [worker]
    finally:
        session.close()
        event.remove(engine, "checkin", note)


@pytest.mark.parametrize("bounded", [True, False])
def test_a_postgresql_read_runs_without_begin_and_rollback(engine: Engine, bounded: bool) -> None:
    """Autocommit saves two round trips of four on a get, and on each chunk of an export."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads answer inside the process")
    session = _on(engine)

    def read(session: Session) -> bool:
        return bool(session.connection().connection.dbapi_connection.autocommit)  # type: ignore[union-attr]

    try:
        assert anyio.run(lambda: run_read(session, read, bounded=bounded)) is True
    finally:
        session.close()
    # The pool hands the next caller a connection in its ordinary mode.
    with engine.connect() as connection:
        assert connection.connection.dbapi_connection.autocommit is False  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("query", "bounded"),
    [
        ({}, True),
        ({"status": ["planned"], "sort": "-updated_at", "limit": 200}, True),
        ({"q": "violence"}, False),  # ranks every match before the first page
        ({"format": "csv"}, False),  # reads every row
        ({"format": "ndjson", "status": ["planned"]}, False),
    ],
)
def test_searches_and_streams_are_not_bounded(query: dict[str, object], bounded: bool) -> None:
    assert ActivityListParams.model_validate(query).bounded is bounded


def test_unbounded_sqlite_reads_take_turns_on_one_thread_per_core(engine: Engine) -> None:
    """Searches and exports of SQLite run on this process's cores: more at once than there are
    cores only take turns, and every thread and connection that searched keeps memory."""
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's reads run in its server: they have the route threads")
    running, peak, lock = 0, 0, threading.Lock()

    def read(_session: Session) -> None:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1

    async def main() -> None:
        database = Database(engine, engine)  # their limiter is the database's
        async with anyio.create_task_group() as group:
            for _ in range(2 * SQLITE_READS_AT_ONCE + 1):
                group.start_soon(partial(run_read, ReadSession(database), read, bounded=False))

    anyio.run(main)
    assert peak == SQLITE_READS_AT_ONCE


def _postgresql_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads answer inside the process: no twin")


def test_only_a_postgresql_engine_has_an_asyncio_twin(engine: Engine) -> None:
    async def main() -> bool:
        async with open_database(engine) as database:
            return database.twin is not None

    assert anyio.run(main) is (engine.dialect.name == "postgresql")


def test_a_bounded_postgresql_read_runs_on_the_event_loop_on_the_twin_in_autocommit(engine: Engine) -> None:
    _postgresql_only(engine)
    read_sessions: list[Session] = []

    def read(session: Session) -> tuple[int, Any, bool]:
        read_sessions.append(session)
        connection = session.connection()
        autocommit = connection.connection.dbapi_connection.driver_connection.autocommit  # type: ignore[union-attr]
        return threading.get_ident(), connection.engine, autocommit

    async def main() -> None:
        async with open_database(engine) as database:
            twin = database.twin
            assert twin is not None
            session = ReadSession(database)
            thread, used, autocommit = await run_read(session, read)
            assert thread == threading.get_ident()
            assert used is twin.sync_engine
            assert autocommit
            assert read_sessions[0] is not session  # the read had a session of its own, on the twin
            assert not read_sessions[0].in_transaction()  # closed where it ran: the connection is back
            assert twin.sync_engine.pool.checkedout() == 0
            assert session.bind is engine  # never rebound: the session can read again
            assert await run_read(session, lambda read: read.execute(text("SELECT 1")).scalar_one()) == 1

    anyio.run(main)


def test_a_session_that_already_holds_a_connection_reads_on_it_in_a_thread(engine: Engine) -> None:
    """Rebinding it to the twin would drop its transaction, and closing it on the loop would wait
    for the network there."""
    _postgresql_only(engine)
    _assert_read_in_a_thread_on_the_engine(engine, lambda session: session.execute(text("SELECT 1")))


def test_unbounded_reads_stay_in_worker_threads_on_the_engine_itself(engine: Engine) -> None:
    """Searches and the chunks of exports."""
    _postgresql_only(engine)
    _assert_read_in_a_thread_on_the_engine(engine, lambda _session: None, bounded=False)


def _assert_read_in_a_thread_on_the_engine(engine: Engine, before: Callable[[Session], Any], **how: bool) -> None:
    """With the twin open, `run_read(session, ..., **how)` runs in a worker thread on `engine`
    itself, once `before(session)` has run."""

    def read(session: Session) -> tuple[int, Any]:
        return threading.get_ident(), session.connection().engine

    async def main() -> tuple[int, int, Any]:
        async with open_database(engine) as database:
            session = ReadSession(database)
            before(session)
            try:
                return threading.get_ident(), *await run_read(session, read, **how)
            finally:
                session.close()

    loop, worker, used = anyio.run(main)
    assert worker != loop
    assert used is engine


def test_a_read_whose_connection_the_server_dropped_runs_again_on_a_new_one(engine: Engine) -> None:
    """The twin does not ping a connection before each read: the read is repeated instead."""
    _postgresql_only(engine)
    attempts: list[int] = []

    def backend(session: Session) -> int:
        attempts.append(1)
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())

    async def main() -> tuple[int, int]:
        async with open_database(engine) as database:
            first = await run_read(ReadSession(database), backend)
            with engine.connect() as admin:  # the server ends that connection, as a restart would
                # ...and waits up to 5 s until it has (PostgreSQL 14+).
                admin.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": first})
            return first, await run_read(ReadSession(database), backend)

    first, second = anyio.run(main)
    assert second != first
    assert len(attempts) == 3  # the first read, then the dropped one and its repeat


def test_a_failed_read_that_is_not_a_dropped_connection_is_not_repeated(engine: Engine) -> None:
    _postgresql_only(engine)
    attempts: list[int] = []

    def read(session: Session) -> None:
        attempts.append(1)
        session.execute(text("SELECT * FROM no_such_table"))

    async def main() -> None:
        async with open_database(engine) as database:
            await run_read(ReadSession(database), read)

    with pytest.raises(DBAPIError):
        anyio.run(main)
    assert attempts == [1]
