"""Faults under load, on a PostgreSQL cluster the test owns: the database stops (fast, then
immediate) under `workplan serve --workers 2` while writers and a sync follower run, and a worker
is killed in the middle of a write.

What must hold: during the outage every request is answered, 503 problem+json with Retry-After,
within a bound; the service recovers by itself; every write a client saw acknowledged is in the
database exactly once, whole; the follower's mirror equals the database; a killed write leaves
nothing behind.
"""

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from app.db import create_db_engine, write_engine
from app.seed.service import load_seed
from tests.conftest import migrate, recreate_postgres_database
from tests.live import Live, live_server
from tests.pg_cluster import Cluster, cluster, find_initdb
from tests.sync.conftest import load_example, served

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(find_initdb() is None, reason="initdb not found (on PATH or /usr/lib/postgresql/*/bin)"),
]

OBJECTIVE_5 = "de576537-25ea-5ba0-9148-3733718f059c"
CONNECT_TIMEOUT = 2
# A request during the outage must be answered within this many seconds.
OUTAGE_BOUND = CONNECT_TIMEOUT + 2


@dataclass
class Record:
    statuses: list[int] = field(default_factory=list)
    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> the body sent
    unavailable: list[tuple[float, httpx.Response]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture(scope="module")
def pg() -> Iterator[Cluster]:
    with cluster() as running:
        yield running


@pytest.fixture(scope="module")
def served_by(pg: Cluster) -> Iterator[tuple[Live, Engine]]:
    """`workplan serve --workers 2` on the cluster, seeded; the database is started again after
    a test that left it stopped."""
    url = pg.url("workplan")
    recreate_postgres_database(url)
    engine = create_db_engine(url, pool_size=2, connect_timeout=CONNECT_TIMEOUT)
    # Seeded here rather than by `workplan seed`: each CLI run costs seconds of imports.
    migrate(engine)
    with Session(write_engine(engine)) as session, session.begin():
        load_seed(session)
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("WORKPLAN_DB_CONNECT_TIMEOUT", str(CONNECT_TIMEOUT))
            env.setenv("WORKPLAN_POOL_SIZE", "10")
            with live_server(url, workers=2, seed=False) as base:
                yield base, engine
    finally:
        engine.dispose()


@pytest.fixture
def server(served_by: tuple[Live, Engine], pg: Cluster) -> Iterator[tuple[Live, Engine]]:
    yield served_by
    if not pg.running():
        pg.start()


def partner_ids(base: Live) -> list[str]:
    items = httpx.get(f"{base}/v1/partners", params={"limit": 3}, headers=base.headers, timeout=30).json()["items"]
    return [item["id"] for item in items]


def activity(code: str, partners: list[str]) -> dict[str, Any]:
    return {
        "objective_id": OBJECTIVE_5,
        "code": code,
        "title": f"Through the outage {code}",
        "type": "meeting",
        "participants": [
            {"partner_id": p, "role": role} for p, role in zip(partners, ("lead", "partner"), strict=False)
        ],
        "countries": ["KEN", "FRA", "BRA"],
    }


def writer(base: Live, n: int, partners: list[str], stop: threading.Event, record: Record) -> None:
    """POST with an Idempotency-Key, retrying with the same key on 503, 409 in-use and lost
    connections until acknowledged; then the next record."""
    with httpx.Client(base_url=base, headers=base.headers, timeout=30) as client:
        i = 0
        while not stop.is_set():
            i += 1
            code, key = f"F-{n}-{i}", str(uuid.uuid4())
            body = activity(code, partners)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    response = client.post("/v1/activities", json=body, headers={"Idempotency-Key": key})
                except httpx.TransportError:
                    time.sleep(0.2)
                    continue
                with record.lock:
                    record.statuses.append(response.status_code)
                if response.status_code == 201:
                    with record.lock:
                        record.acknowledged[code] = body
                    break
                if response.status_code == 503:
                    with record.lock:
                        record.unavailable.append((time.monotonic() - started, response))
                elif response.status_code != 409:
                    raise AssertionError(f"{code}: {response.status_code} {response.text}")
                time.sleep(0.2)
            else:
                raise AssertionError(f"{code} was never acknowledged")


def follower(base: Live, path: Path, stop: threading.Event, sync_client: ModuleType) -> tuple[Any, int]:
    """The example client, polling; a 503 is waited out like any client should."""
    mirror = sync_client.Mirror(str(path))
    outages = 0
    with httpx.Client(base_url=base, headers=base.headers, timeout=30) as client:
        while not stop.is_set():
            try:
                sync_client.sync(client, mirror, limit=50)
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code != 503:
                    raise
                outages += 1
            except httpx.TransportError:
                outages += 1
            time.sleep(0.1)
        sync_client.sync(client, mirror)
        return mirror.records(), outages


def wait_ready(base: Live, within: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        try:
            if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not ready {within} s after the database came back")


def probe_outage(base: Live) -> None:
    """While the database is down: reads, writes and /readyz answer 503 problem+json, in bound."""
    with httpx.Client(base_url=base, headers=base.headers, timeout=30) as client:
        for method, path in [
            ("GET", "/v1/activities"),
            ("GET", "/v1/changes"),
            ("POST", "/v1/partners"),
            ("GET", "/readyz"),
        ]:
            started = time.monotonic()
            body = {"name": "Down", "type": "ngo"} if method == "POST" else None
            response = client.request(method, path, json=body)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (path, response.status_code, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"] == "5"
            assert response.json()["code"] == "DATABASE_UNAVAILABLE"
            assert elapsed < OUTAGE_BOUND, (path, elapsed)


def stored_activities(engine: Engine, prefix: str) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, code, deleted_at FROM activity WHERE code LIKE :p"), {"p": prefix + "%"}
        ).all()
        participants = connection.execute(
            text("SELECT activity_id, partner_id, role FROM activity_participant ORDER BY partner_id")
        ).all()
        countries = connection.execute(text("SELECT activity_id, country FROM activity_country")).all()
    found: dict[str, dict[str, Any]] = {}
    for id_, code, deleted_at in rows:
        assert code not in found, f"{code} stored twice"
        assert deleted_at is None
        found[code] = {
            "participants": sorted((str(p), str(r)) for a, p, r in participants if a == id_),
            "countries": sorted(str(c) for a, c in countries if a == id_),
        }
    return found


def test_a_database_outage_answers_503_and_loses_no_acknowledged_write(
    server: tuple[Live, Engine], pg: Cluster, tmp_path: Path
) -> None:
    base, engine = server
    sync_client = load_example()
    partners = partner_ids(base)
    record = Record()
    stop, stop_follower = threading.Event(), threading.Event()
    recovered: list[float] = []
    with ThreadPoolExecutor(max_workers=5) as pool:
        writers = [pool.submit(writer, base, n, partners, stop, record) for n in range(4)]
        follows = pool.submit(follower, base, tmp_path / "mirror.db", stop_follower, sync_client)
        time.sleep(2)
        for mode in ("fast", "immediate"):
            before = len(record.acknowledged)
            pg.stop(mode)
            probe_outage(base)
            time.sleep(2)
            probe_outage(base)
            pg.start()
            recovered.append(wait_ready(base, within=20))
            deadline = time.monotonic() + 15
            while len(record.acknowledged) <= before + 4 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert len(record.acknowledged) > before + 4, f"writes did not resume after the {mode} restart"
        stop.set()
        for future in writers:
            future.result()
        stop_follower.set()
        mirrored, outages_seen_by_follower = follows.result()

    assert 500 not in record.statuses
    assert all(status in (201, 409, 503) for status in record.statuses), set(record.statuses)
    assert record.unavailable, "no writer met the outage"
    for elapsed, response in record.unavailable:
        assert elapsed < OUTAGE_BOUND
        assert response.headers["content-type"] == "application/problem+json"
        assert "retry-after" in response.headers
    assert outages_seen_by_follower > 0
    assert all(seconds < 20 for seconds in recovered)

    stored = stored_activities(engine, "F-")
    for code, body in record.acknowledged.items():
        assert code in stored, f"acknowledged {code} is missing"
        assert stored[code]["participants"] == sorted((p["partner_id"], p["role"]) for p in body["participants"])
        assert stored[code]["countries"] == sorted(body["countries"])
    # A write whose acknowledgement was lost to the outage may be stored (its retry replayed it)
    # but never twice (stored_activities checks), and never half.
    for code, lists in stored.items():
        assert len(lists["participants"]) == 2, code
        assert len(lists["countries"]) == 3, code

    with httpx.Client(base_url=base, headers=base.headers, timeout=30) as client:
        assert mirrored == served(client)


def _listening_pid(port: int) -> int | None:
    """The process whose TCP socket has local port `port` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    return int(proc.name)
        except OSError:
            continue
    return None


def _is_our_worker(pid: int) -> bool:
    """A child of a `workplan serve` process: never kill anything else."""
    status = Path(f"/proc/{pid}/status").read_text()
    parent = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
    cmdline = Path(f"/proc/{parent}/cmdline").read_bytes().split(b"\0")
    return any(part.endswith(b"workplan") for part in cmdline) and b"serve" in cmdline


def test_a_worker_killed_in_the_middle_of_a_write_leaves_nothing_of_it(server: tuple[Live, Engine]) -> None:
    base, engine = server
    partners = partner_ids(base)
    body = activity("KILLED-1", partners)
    # Both workers warm (a worker's first write pays its imports and connections).
    for n in range(6):
        warm = httpx.post(
            f"{base}/v1/activities", json=activity(f"WARM-{n}", partners), headers=base.headers, timeout=60
        )
        assert warm.status_code == 201, warm.text
    with engine.connect() as connection:
        count_before = connection.execute(text("SELECT count(*) FROM activity_participant")).scalar_one()
    outcome: list[BaseException | httpx.Response] = []

    def send() -> None:
        try:
            outcome.append(httpx.post(f"{base}/v1/activities", json=body, headers=base.headers, timeout=60))
        except httpx.TransportError as exc:
            outcome.append(exc)

    # The test holds a lock on a partner the write's participants refer to: the write inserts its
    # activity row, then waits on the foreign key check of its first participant.
    with engine.connect() as blocker:
        blocker.execute(text("SELECT id FROM partner WHERE id = :id FOR UPDATE"), {"id": uuid.UUID(partners[0])})
        request = threading.Thread(target=send)
        request.start()
        me = blocker.execute(text("SELECT pg_backend_pid()")).scalar_one()
        deadline = time.monotonic() + 45
        port = None
        while port is None and time.monotonic() < deadline:
            # The server's connection that waits for our lock (at the participant's insert, or at
            # COMMIT where the foreign key checks are deferred).
            port = blocker.execute(
                text("SELECT client_port FROM pg_stat_activity WHERE :me = ANY(pg_blocking_pids(pid))"), {"me": me}
            ).scalar()
            time.sleep(0.05)
        activity_now = blocker.execute(
            text(
                "SELECT pid, pg_blocking_pids(pid), wait_event_type, wait_event, state, left(query, 70) "
                "FROM pg_stat_activity WHERE backend_type = 'client backend'"
            )
        ).all()
        assert port is not None, ("the write never reached the locked row", outcome, activity_now)
        # Mid-write: the activity row is inserted (its transaction holds a write lock on the table).
        holds = blocker.execute(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE a.client_port = :port AND l.relation = 'activity'::regclass AND l.mode = 'RowExclusiveLock'"
            ),
            {"port": port},
        ).scalar_one()
        assert holds == 1
        with engine.connect() as look:
            mid_write = look.execute(text("SELECT count(*) FROM activity WHERE code = 'KILLED-1'")).scalar_one()
        assert mid_write == 0  # not committed (yet)
        pid = _listening_pid(port)
        assert pid is not None
        assert _is_our_worker(pid)
        os.kill(pid, signal.SIGKILL)
        request.join(timeout=30)
        blocker.rollback()

    assert len(outcome) == 1
    assert isinstance(outcome[0], httpx.TransportError), outcome[0]
    # The server's end of the write is gone, and PostgreSQL rolled its transaction back.
    with engine.connect() as connection:
        deadline = time.monotonic() + 10
        while connection.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE client_port = :p"), {"p": port}
        ).scalar_one():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert connection.execute(text("SELECT count(*) FROM activity WHERE code = 'KILLED-1'")).scalar_one() == 0
        count_after = connection.execute(text("SELECT count(*) FROM activity_participant")).scalar_one()
        assert count_after == count_before

    # The service goes on (the other worker, and uvicorn starts a new one); the retry is whole.
    wait_ready(base, within=30)
    retried = httpx.post(f"{base}/v1/activities", json=body, headers=base.headers, timeout=60)
    assert retried.status_code == 201, retried.text
    stored = stored_activities(engine, "KILLED-")
    assert stored["KILLED-1"]["participants"] == sorted((p["partner_id"], p["role"]) for p in body["participants"])
    assert stored["KILLED-1"]["countries"] == ["BRA", "FRA", "KEN"]
