"""Where a read endpoint's work runs: bounded reads of SQLite on the event loop, the rest in threads."""

import threading

import anyio
import pytest
from sqlalchemy import Engine, event
from sqlmodel import Session

from app.activities.service import ActivityListParams
from app.db import run_read


def _threads(session: Session, *, bounded: bool) -> tuple[int, int]:
    async def main() -> tuple[int, int]:
        return threading.get_ident(), await run_read(session, threading.get_ident, bounded=bounded)

    return anyio.run(main)


def test_a_bounded_read_runs_on_the_event_loop_only_on_sqlite(session: Session) -> None:
    loop, worker = _threads(session, bounded=True)
    if session.get_bind().dialect.name == "sqlite":
        assert worker == loop
    else:
        # A PostgreSQL read waits on the network: it must not hold up the other requests.
        assert worker != loop


def test_an_unbounded_read_runs_in_a_worker_thread(session: Session) -> None:
    loop, worker = _threads(session, bounded=False)
    assert worker != loop


@pytest.mark.parametrize("streamed", [False, True])
def test_a_read_in_a_worker_thread_returns_its_connection_there_unless_it_streams(
    engine: Engine, streamed: bool
) -> None:
    """A page or a record is made in full in the worker thread, which then returns the connection
    (a rollback: a round trip on PostgreSQL) before handing back; a stream still needs it."""
    checkins: list[int] = []

    def note(*_args: object) -> None:
        checkins.append(threading.get_ident())

    session = Session(engine)

    def read() -> int:
        session.connection()
        return threading.get_ident()

    async def main() -> tuple[int, bool]:
        worker = await run_read(session, read, bounded=False, streamed=streamed)
        return worker, session.in_transaction()

    event.listen(engine, "checkin", note)
    try:
        worker, still_open = anyio.run(main)
        assert still_open is streamed
        assert checkins == ([] if streamed else [worker])
    finally:
        session.close()
        event.remove(engine, "checkin", note)


@pytest.mark.parametrize("streamed", [False, True])
def test_a_postgresql_read_that_does_not_stream_runs_without_begin_and_rollback(engine: Engine, streamed: bool) -> None:
    """Autocommit saves two round trips of four on a get; a stream's server-side cursor needs its
    transaction."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite reads answer inside the process")
    session = Session(engine)

    def read() -> bool:
        return bool(session.connection().connection.dbapi_connection.autocommit)  # type: ignore[union-attr]

    try:
        assert anyio.run(lambda: run_read(session, read, bounded=True, streamed=streamed)) is not streamed
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
