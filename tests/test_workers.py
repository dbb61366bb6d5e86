"""`workplan serve` as production runs it: several workers sharing rate limits and metrics, and
a graceful stop that lets the request in flight commit."""

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy import text
from sqlmodel import Session

from app.db import create_db_engine, write_engine
from app.models import Partner
from tests.conftest import DATABASES, fresh_database_url
from tests.live import BIN, free_port, workplan
from tests.test_observability import sample

REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class Server:
    base: str
    key: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]


@contextmanager
def serve(database_url: str, tmp_path: Path, *args: str, **settings: str) -> Iterator[Server]:
    """Migrate, make an editor's key, and run `workplan serve ARGS` with JSON logs and SETTINGS."""
    env = {
        **os.environ,
        "WORKPLAN_DATABASE_URL": database_url,
        "WORKPLAN_LOG_FORMAT": "json",
        **{f"WORKPLAN_{name.upper()}": value for name, value in settings.items()},
    }
    workplan(env, "db", "upgrade")
    key = workplan(env, "keys", "create", "--name", "tests", "--role", "editor", "--quiet").strip()
    port, log = free_port(), tmp_path / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(BIN / "workplan"), "serve", "--port", str(port), *args], env=env, stdout=output, stderr=output
        )
    server = Server(f"http://127.0.0.1:{port}", key, process, log)
    try:
        deadline = time.monotonic() + 90
        while not _ready(server.base):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.slow
def test_several_workers_with_per_process_rate_limits_refuse_to_start() -> None:
    env = {**os.environ, "WORKPLAN_RATE_LIMIT_PER_MINUTE": "600", "WORKPLAN_RATE_LIMIT_STORAGE": "memory://"}
    result = subprocess.run(
        [str(BIN / "workplan"), "serve", "--port", str(free_port()), "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "WORKPLAN_RATE_LIMIT_STORAGE=redis://" in " ".join(result.stderr.split())


@pytest.mark.slow
def require_redis() -> None:
    """Skip where no Redis answers (a laptop), saying why; in CI, where one runs, fail instead."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        reason = f"no Redis at {REDIS_URL} ({exc}) for the shared rate limits"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run this test, but there is {reason}")
        pytest.skip(reason)


def test_two_workers_share_one_rate_limit_and_one_metrics_scrape(tmp_path: Path) -> None:
    """Behind a proxy that mounts the API at /api: each request on a new connection, so the kernel
    hands them to both workers; Redis holds one count for the address, and any worker's /metrics
    counts every worker's requests."""
    require_redis()
    prefix = f"workplan_ci_ops_{uuid.uuid4().hex}"
    limit, sent = 5, 30
    try:
        with serve(
            fresh_database_url(DATABASES[-1], tmp_path, "_workers"),
            tmp_path,
            "--workers",
            "2",
            "--root-path",
            "/api",
            rate_limit_storage=REDIS_URL,
            rate_limit_key_prefix=prefix,
            anonymous_rate_limit_per_minute=str(limit),
            metrics_public="true",
            threads="4",
            read_pool_size="3",
        ) as server:
            if time.time() % 60 > 50:  # the sliding window's weights move at each minute: stay inside one
                time.sleep(61 - time.time() % 60)
            statuses = [httpx.get(f"{server.base}/v1/objectives").status_code for _ in range(sent)]
            scrape = httpx.get(f"{server.base}/metrics").text
            logged = _wait_until_logged(server, "/v1/objectives", sent)
            workers = {line["pid"] for line in logged}
    finally:
        store = redis.Redis.from_url(REDIS_URL)
        for name in store.scan_iter(f"{prefix}*"):
            store.delete(name)
    assert len(workers) == 2, "the requests all went to one worker: the test proves nothing"
    assert statuses == [200] * limit + [429] * (sent - limit)
    counted = [
        sample(scrape, "workplan_http_requests_total", method="GET", route="/v1/objectives", status=status)
        for status in ("200", "429")
    ]
    assert counted == [limit, sent - limit]
    # Each worker's pool holds as many connections as it has threads, and on PostgreSQL its read
    # pool 3 more: 2 x 4, or 2 x (4 + 3).
    assert sample(scrape, "workplan_db_pool_size") == (14 if DATABASES[-1] == "postgresql" else 8)


@pytest.mark.slow
@pytest.mark.parametrize("kind", DATABASES)
def test_a_stopped_server_finishes_and_commits_the_request_in_flight_and_takes_no_new_one(
    kind: str, tmp_path: Path
) -> None:
    database_url = fresh_database_url(kind, tmp_path, "_graceful")
    with serve(database_url, tmp_path) as server:
        engine = create_db_engine(database_url, pool_size=2)
        port = int(server.base.rpartition(":")[2])
        # The test holds the write lock (BEGIN IMMEDIATE on SQLite), so the server's write waits, in flight.
        with (
            write_engine(engine).connect() as lock,
            socket.create_connection(("127.0.0.1", port), timeout=60) as client,
        ):
            lock.begin()
            if kind == "postgresql":
                lock.execute(text("LOCK TABLE partner IN EXCLUSIVE MODE"))
            body = json.dumps({"name": "Graceful Stop Network", "kind": "network"}).encode()
            client.sendall(
                b"POST /v1/partners HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {server.key}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            _wait_until_read(port, client.getsockname()[1])
            if kind == "postgresql":
                _wait_until_waiting_for_a_lock(database_url)
            server.process.send_signal(signal.SIGTERM)
            _wait_until_refused(server.base)
            assert server.process.poll() is None, "the server left with a request in flight"
            lock.rollback()
            answer = b"".join(iter(lambda: client.recv(65536), b""))
        head, _, payload = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 201 "), (answer, server.log.read_text())
        assert b"connection: close" in head.lower()
        # uvicorn ends by re-raising the signal it caught, once its shutdown is complete.
        assert server.process.wait(timeout=30) == -signal.SIGTERM
        assert "Application shutdown complete." in [line["message"] for line in server.log_lines()]
        with Session(engine) as session:
            saved = session.get(Partner, uuid.UUID(json.loads(payload)["id"]))
            assert saved is not None
            assert saved.name == "Graceful Stop Network"
        engine.dispose()


def _wait_until_read(server_port: int, client_port: int) -> None:
    """Until the server's end of the connection has nothing left unread: uvicorn has the request."""
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] == local and fields[2] == remote and fields[4].endswith(":00000000"):
                return
        time.sleep(0.05)
    raise AssertionError("the server never read the request")


def _wait_until_waiting_for_a_lock(database_url: str) -> None:
    watcher = create_db_engine(database_url, pool_size=1)
    deadline = time.monotonic() + 30
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    try:
        while True:
            with watcher.connect() as connection:
                if connection.execute(query).scalar():
                    return
            assert time.monotonic() < deadline, "the write never reached the lock"
            time.sleep(0.1)
    finally:
        watcher.dispose()


def _wait_until_logged(server: Server, path: str, count: int) -> list[dict[str, object]]:
    """The log lines of `count` requests to `path`: a line is written once its answer is sent."""
    deadline = time.monotonic() + 30
    while len(lines := [line for line in server.log_lines() if line.get("path") == path]) < count:
        assert time.monotonic() < deadline, f"{len(lines)} of {count} requests to {path} logged"
        time.sleep(0.05)
    return lines


def _wait_until_refused(base: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/healthz", timeout=2)
        except httpx.ConnectError:
            return
        time.sleep(0.1)
    raise AssertionError("the server still took new connections after SIGTERM")
