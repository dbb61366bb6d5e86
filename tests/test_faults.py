"""Faults under load, under `workplan serve --workers 2`: on a PostgreSQL cluster the test owns,
the database stops (fast, then immediate) while writers and a sync follower run; on PostgreSQL and
on SQLite, a worker is killed in the middle of writes.

What must hold: during the outage every request is answered, 503 problem+json with Retry-After,
within a bound; the service recovers by itself; every write a client saw acknowledged is in the
database exactly once, whole; the follower's mirror equals the database; a killed write leaves
nothing behind, and the Idempotency-Keys it held are free within FREED_WITHIN seconds of the kill.

Every wait is for an event (a state of the database, the server or the writers, polled), with a
deadline only as a guard against a hang, or where the deadline is the property tested.
"""

import os
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
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

pytestmark = pytest.mark.slow
needs_initdb = pytest.mark.skipif(
    find_initdb() is None, reason="initdb not found (on PATH or /usr/lib/postgresql/*/bin)"
)

OBJECTIVE_5 = "de576537-25ea-5ba0-9148-3733718f059c"
CONNECT_TIMEOUT = 2
# A request during the outage must be answered within this many seconds.
OUTAGE_BOUND = CONNECT_TIMEOUT + 2
# The Idempotency-Keys of a killed worker's requests must be free this many seconds after the kill.
FREED_WITHIN = 10
# How long a wait for an event may last before the test fails: a guard against a hang, far beyond
# what the slowest machine takes, not a measure.
HANG = 120
POLL = 0.05
WRITERS = 4


@dataclass
class Record:
    statuses: list[int] = field(default_factory=list)
    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> the body sent
    unavailable: list[tuple[float, httpx.Response]] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)  # held to change the above

    def wait(self, failure: str, *, acknowledged: int = 0, unavailable: int = 0) -> None:
        """Until the writers have had at least so many writes acknowledged, and so many 503s."""
        with self.changed:
            met = self.changed.wait_for(
                lambda: len(self.acknowledged) >= acknowledged and len(self.unavailable) >= unavailable, timeout=HANG
            )
        assert met, failure


def wait_for(until: Callable[[], bool], failure: str, deadline: float | None = None) -> None:
    """Poll `until` until it holds; fail with `failure` at `deadline` (monotonic), by default HANG s from now."""
    deadline = time.monotonic() + HANG if deadline is None else deadline
    while not until():
        assert time.monotonic() < deadline, failure
        time.sleep(POLL)


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
    engine = create_db_engine(url, pool_size=4, connect_timeout=CONNECT_TIMEOUT)
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
            deadline = time.monotonic() + HANG
            while time.monotonic() < deadline:
                started = time.monotonic()
                try:
                    response = client.post("/v1/activities", json=body, headers={"Idempotency-Key": key})
                except httpx.TransportError:
                    time.sleep(0.2)
                    continue
                with record.changed:
                    record.statuses.append(response.status_code)
                    if response.status_code == 201:
                        record.acknowledged[code] = body
                    elif response.status_code == 503:
                        record.unavailable.append((time.monotonic() - started, response))
                    record.changed.notify_all()
                if response.status_code == 201:
                    break
                if response.status_code not in (409, 503):
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
            "participants": sorted((str(uuid.UUID(str(p))), str(r)) for a, p, r in participants if a == id_),
            "countries": sorted(str(c) for a, c in countries if a == id_),
        }
    return found


@needs_initdb
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
        writers = [pool.submit(writer, base, n, partners, stop, record) for n in range(WRITERS)]
        follows = pool.submit(follower, base, tmp_path / "mirror.db", stop_follower, sync_client)
        record.wait("the writers never got going", acknowledged=2 * WRITERS)
        for mode in ("fast", "immediate"):
            before, met = len(record.acknowledged), len(record.unavailable)
            pg.stop(mode)
            probe_outage(base)
            # Again once the writers have run into the outage for a while.
            record.wait("the writers never met the outage", unavailable=met + 2 * WRITERS)
            probe_outage(base)
            pg.start()
            recovered.append(wait_ready(base, within=20))
            record.wait(f"writes did not resume after the {mode} restart", acknowledged=before + WRITERS + 1)
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


def _socket_owner(local_port: int, remote_port: int) -> int | None:
    """The process holding the TCP connection from `local_port` to `remote_port` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            ports = (int(fields[1].rsplit(":", 1)[1], 16), int(fields[2].rsplit(":", 1)[1], 16))
            if ports == (local_port, remote_port):
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


def _parent(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def _is_our_worker(pid: int) -> bool:
    """A child of a `workplan serve` process: never kill anything else."""
    cmdline = Path(f"/proc/{_parent(pid)}/cmdline").read_bytes().split(b"\0")
    return any(part.endswith(b"workplan") for part in cmdline) and b"serve" in cmdline


def _workers(supervisor: int) -> set[int]:
    """The worker processes `workplan serve` (uvicorn's supervisor, `supervisor`) runs now."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            # A spawned worker: not the supervisor's resource tracker, nor a dead worker not yet reaped.
            spawned = proc.name.isdigit() and b"spawn_main" in (proc / "cmdline").read_bytes()
            if spawned and _parent(int(proc.name)) == supervisor:
                found.add(int(proc.name))
        except (OSError, StopIteration):
            continue
    return found


def wait_until_replaced(worker: int, supervisor: int) -> None:
    """Until uvicorn runs a new worker in place of the killed one. It may first wait out its health
    check of the dead one (60 s), deaf to signals meanwhile: a server stopped before then would
    take that long to stop."""
    wait_for(lambda: len(_workers(supervisor) - {worker}) == 2, "uvicorn never replaced the killed worker")


@dataclass(frozen=True)
class Attempt:
    """One POST /v1/activities with its Idempotency-Key, as a client retries it."""

    code: str
    partners: tuple[str, ...]
    key: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def body(self) -> dict[str, Any]:
        return activity(self.code, list(self.partners))

    def send(self, base: Live) -> httpx.Response:
        return httpx.post(
            f"{base}/v1/activities", json=self.body, headers={**base.headers, "Idempotency-Key": self.key}, timeout=60
        )


def send_all(base: Live, attempts: list[Attempt]) -> tuple[ThreadPoolExecutor, dict[str, Future[httpx.Response]]]:
    """Each attempt sent at once, from a thread of its own; its future raises if the connection dies."""
    pool = ThreadPoolExecutor(max_workers=len(attempts))
    return pool, {attempt.code: pool.submit(attempt.send, base) for attempt in attempts}


def _died(outcome: Future[httpx.Response]) -> bool:
    """Whether the request's connection died with its worker (or else it was answered 201)."""
    try:
        response = outcome.result(timeout=HANG)
    except httpx.TransportError:
        return True
    assert response.status_code == 201, response.text
    return False


def warm_both_workers(base: Live, partners: list[str]) -> None:
    """A worker's first write pays its imports and connections: not while the test holds a lock."""
    for n in range(6):
        warm = httpx.post(
            f"{base}/v1/activities", json=activity(f"WARM-{n}", partners), headers=base.headers, timeout=60
        )
        assert warm.status_code == 201, warm.text


def retried_until_created(base: Live, attempt: Attempt, killed_at: float) -> httpx.Response:
    """The same key and body again, as a client that obeys Retry-After on 409 does, until the key
    is free: within FREED_WITHIN s of the kill."""
    while True:
        response = attempt.send(base)
        if response.status_code != 409:
            assert response.status_code == 201, response.text
            return response
        assert time.monotonic() < killed_at + FREED_WITHIN, (
            f"{attempt.code}'s key still in use {FREED_WITHIN} s after the kill"
        )
        time.sleep(float(response.headers["retry-after"]))


def assert_each_stored_once_and_replayed(base: Live, engine: Engine, attempts: list[Attempt]) -> None:
    stored = stored_activities(engine, "KILLED-")
    assert sorted(stored) == sorted(attempt.code for attempt in attempts)  # stored_activities: never twice
    for attempt in attempts:
        assert stored[attempt.code]["participants"] == sorted(
            (p["partner_id"], p["role"]) for p in attempt.body["participants"]
        )
        assert stored[attempt.code]["countries"] == ["BRA", "FRA", "KEN"]
        replay = attempt.send(base)
        assert replay.status_code == 201, replay.text
        assert replay.headers["idempotent-replayed"] == "true"


@needs_initdb
def test_a_worker_killed_in_the_middle_of_writes_leaves_nothing_of_them_and_frees_their_keys_on_postgresql(
    server: tuple[Live, Engine], pg: Cluster
) -> None:
    base, engine = server
    partners = partner_ids(base)
    warm_both_workers(base, partners)
    with engine.connect() as connection:
        count_before = connection.execute(text("SELECT count(*) FROM activity_participant")).scalar_one()
    attempts = [Attempt(f"KILLED-{n}", tuple(partners)) for n in range(4)]

    # The test holds a lock on a partner the writes' participants refer to. The first write inserts
    # its activity row, then waits on the foreign key check of its first participant; the others
    # wait for its change stamp at their activity row. Each has claimed its key.
    with (
        engine.connect() as blocker,
        engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watch,
    ):
        # `watch` is in autocommit so that each look at pg_stat_activity sees it anew: within a
        # transaction, PostgreSQL shows the snapshot it took at the first look.
        blocker.execute(text("SELECT id FROM partner WHERE id = :id FOR UPDATE"), {"id": uuid.UUID(partners[0])})
        pool, outcomes = send_all(base, attempts)
        waiting: list[int] = []

        def all_waiting() -> bool:
            waiting[:] = (
                watch.execute(
                    text(
                        "SELECT client_port FROM pg_stat_activity "
                        "WHERE datname = current_database() AND cardinality(pg_blocking_pids(pid)) > 0"
                    )
                )
                .scalars()
                .all()
            )
            return len(waiting) == len(attempts)

        wait_for(all_waiting, "the writes never all reached the locks")
        # Mid-write: each transaction has begun inserting its activity row, and nothing is committed.
        holding = watch.execute(
            text(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE a.client_port = ANY(:ports) "
                "AND l.relation = 'activity'::regclass AND l.mode = 'RowExclusiveLock'"
            ),
            {"ports": waiting},
        ).scalar_one()
        assert holding == len(attempts)
        assert not stored_activities(engine, "KILLED-")

        workers = {port: _socket_owner(port, pg.port) for port in waiting}
        victim = workers[waiting[0]]
        assert victim is not None
        assert _is_our_worker(victim)
        supervisor = _parent(victim)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        killed = [port for port, pid in workers.items() if pid == victim]
        # The killed worker's transactions end while they still wait for the test's lock: the server
        # notices their client is gone.
        wait_for(
            lambda: (
                not watch.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE client_port = ANY(:ports)"), {"ports": killed}
                ).scalar_one()
            ),
            f"the killed worker's transactions still run {FREED_WITHIN} s after the kill",
            killed_at + FREED_WITHIN,
        )
        blocker.rollback()
        lost = [attempt for attempt in attempts if _died(outcomes[attempt.code])]
        pool.shutdown()

    assert len(lost) == len(killed), (len(lost), len(killed))
    # The other worker's writes went through; nothing of the killed ones is left.
    created = sorted(set(stored_activities(engine, "KILLED-")))
    assert created == sorted(attempt.code for attempt in attempts if attempt not in lost)
    with engine.connect() as connection:
        count_after = connection.execute(text("SELECT count(*) FROM activity_participant")).scalar_one()
    assert count_after == count_before + 2 * len(created)

    # Their keys are free: the retries run (the other worker answers until uvicorn starts a new one).
    for attempt in lost:
        retried = retried_until_created(base, attempt, killed_at)
        assert "idempotent-replayed" not in retried.headers
    assert_each_stored_once_and_replayed(base, engine, attempts)
    wait_until_replaced(victim, supervisor)


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[tuple[Live, Path, Engine]]:
    """`workplan serve --workers 2` on a SQLite file, seeded."""
    database = tmp_path / "faults.db"
    url = f"sqlite:///{database}"
    engine = create_db_engine(url, pool_size=2)
    migrate(engine)
    with Session(write_engine(engine)) as session, session.begin():
        load_seed(session)
    try:
        with live_server(url, workers=2, seed=False) as base:
            yield base, database, engine
    finally:
        engine.dispose()


# CPU time the process holding the write lock has spent since it was first seen holding it, once it
# runs the test's trigger: nothing else a write does takes a tenth of it.
BURNING = 0.5


def _write_lock_holder(database: Path) -> int | None:
    """The process holding `database`'s write lock: in WAL mode, a lock on byte 120 of its -shm
    file (WAL_WRITE_LOCK in https://www.sqlite.org/walformat.html), listed in /proc/locks."""
    inode = Path(f"{database}-shm").stat().st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        # "3: POSIX  ADVISORY  WRITE 7484 fe:00:2146380 120 120" (a waiter has "->" after the number)
        _number, kind, _advisory, mode, pid, file, start, *_end = line.split()
        if kind == "POSIX" and mode == "WRITE" and file.endswith(f":{inode}") and start == "120":
            return int(pid)
    return None


def _cpu_seconds(pid: int) -> float:
    """The user and system time the process has used (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_worker_killed_in_the_middle_of_a_write_leaves_nothing_of_it_and_frees_its_key_on_sqlite(
    sqlite_server: tuple[Live, Path, Engine],
) -> None:
    base, database, engine = sqlite_server
    attempt = Attempt("KILLED-1", tuple(partner_ids(base)))
    # SQLite has one writer at a time, so the test cannot hold a lock the write waits for. Its
    # trigger holds the write instead, once it has inserted its activity row: for a minute or so,
    # three times through a thousand rows, unless the worker dies first.
    with closing(sqlite3.connect(database, isolation_level=None)) as test_db:
        test_db.execute("CREATE TABLE burn (n INTEGER)")
        test_db.execute(
            "INSERT INTO burn WITH RECURSIVE n(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM n WHERE n < 1000) "
            "SELECT n FROM n"
        )
        test_db.execute(
            f"CREATE TRIGGER hold_the_write AFTER INSERT ON activity WHEN new.code = '{attempt.code}' "
            "BEGIN SELECT count(*) FROM burn AS a, burn AS b, burn AS c; END"
        )
    pool, outcomes = send_all(base, [attempt])
    seen: list[tuple[int, float]] = []  # the process holding the write lock, and its CPU time then

    def in_the_trigger() -> bool:
        holder = _write_lock_holder(database)
        if holder is None or not seen or seen[0][0] != holder:
            seen[:] = [] if holder is None else [(holder, _cpu_seconds(holder))]
            return False
        return _cpu_seconds(holder) - seen[0][1] >= BURNING

    wait_for(in_the_trigger, "the write never reached the test's trigger")
    worker = seen[0][0]
    assert _is_our_worker(worker)
    supervisor = _parent(worker)
    os.kill(worker, signal.SIGKILL)
    killed_at = time.monotonic()
    assert _died(outcomes[attempt.code])
    pool.shutdown()

    # The write lock went with the worker: the test takes it to drop its trigger.
    with closing(sqlite3.connect(database, isolation_level=None, timeout=HANG)) as test_db:
        test_db.execute("BEGIN IMMEDIATE")
        test_db.execute("DROP TRIGGER hold_the_write")
        test_db.execute("COMMIT")
    assert not stored_activities(engine, "KILLED-")

    retried = retried_until_created(base, attempt, killed_at)
    assert "idempotent-replayed" not in retried.headers
    assert_each_stored_once_and_replayed(base, engine, [attempt])
    wait_until_replaced(worker, supervisor)
