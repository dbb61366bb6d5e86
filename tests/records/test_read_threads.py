"""Where a read endpoint's work runs: bounded reads of SQLite on the event loop, the rest in threads."""

import threading

import anyio
import pytest
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
