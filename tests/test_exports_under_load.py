"""Exports against a live `workplan serve`: 48 clients that ask for a CSV export and never read it
hold no database connection, get no more than their share of export slots, and leave small reads
answering; an abandoned export gives its slot back."""

import json
import socket
import statistics
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlmodel import Session

from app.access.keys import new_key
from app.activities.service import create_activity
from app.db import create_db_engine, write_engine
from app.models.access import Role
from app.models.activities import ActivityCreate
from tests.live import Live, live_server

pytestmark = pytest.mark.slow

OBJECTIVE_5 = "de576537-25ea-5ba0-9148-3733718f059c"
ACTIVITY = "1536172d-febe-5d66-adf8-2df0226526a4"
AT_ONCE, PER_CLIENT = 8, 3
EXPORT = "/v1/activities?format=csv"


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('exports') / 'w.db'}"


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[Live]:
    url = database_url
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WORKPLAN_EXPORTS_AT_ONCE", str(AT_ONCE))
        env.setenv("WORKPLAN_EXPORTS_PER_CLIENT", str(PER_CLIENT))
        env.setenv("WORKPLAN_METRICS_PUBLIC", "true")
        with live_server(url) as base:
            fill(url)
            yield base


def fill(url: str) -> None:
    """700 activities of about 8 kB each: an export of about 6 MB, more than the socket buffers hold
    (loopback grows a sending socket's to 4 MB)."""
    engine = create_db_engine(url, pool_size=1)
    with Session(write_engine(engine)) as session, session.begin():
        for n in range(700):
            data = {"objective_id": OBJECTIVE_5, "code": f"LOAD-{n}", "title": f"Load {n}", "type": "meeting"}
            create_activity(session, ActivityCreate.model_validate(data | {"description": "x" * 8000}))
    engine.dispose()


@pytest.fixture
def readers(server: Live, database_url: str) -> list[str]:
    """24 reader keys: one for each client of its own."""
    engine = create_db_engine(database_url, pool_size=1)
    with Session(write_engine(engine)) as session, session.begin():
        keys = [new_key(session, name=f"reader {n}", role=Role.READER)[1] for n in range(24)]
    engine.dispose()
    return keys


def slow_reader(server: Live, key: str | None) -> tuple[socket.socket, int, bytes]:
    """A client that asks for the export, reads its status line and a little more, then stops reading."""
    host, port = server.removeprefix("http://").split(":")
    connection = socket.socket()
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    connection.settimeout(30)
    connection.connect((host, int(port)))
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    connection.sendall(f"GET {EXPORT} HTTP/1.1\r\nHost: test\r\n{auth}\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += connection.recv(1024)
    status = int(head.split(b" ", 2)[1])
    return connection, status, head


def checked_out(server: Live) -> float:
    metrics = httpx.get(f"{server}/metrics").text
    return sum(
        float(line.split()[-1]) for line in metrics.splitlines() if line.startswith("workplan_db_pool_checked_out")
    )


def test_slow_exports_hold_no_connection_and_small_reads_keep_answering(server: Live, readers: list[str]) -> None:
    clients = [slow_reader(server, None) for _ in range(24)] + [slow_reader(server, key) for key in readers]
    try:
        statuses = [status for _, status, _ in clients]
        # The address's share, then the keys' until the worker's exports are all running.
        assert statuses[:PER_CLIENT] == [200] * PER_CLIENT
        assert statuses[PER_CLIENT:24] == [429] * (24 - PER_CLIENT)
        assert statuses[24 : 24 + AT_ONCE - PER_CLIENT] == [200] * (AT_ONCE - PER_CLIENT)
        assert statuses[24 + AT_ONCE - PER_CLIENT :] == [503] * (48 - 24 - AT_ONCE + PER_CLIENT)
        refused = [head for _, status, head in clients if status != 200]
        assert all(b"retry-after: 10" in head.lower() for head in refused)

        timings = []
        for _ in range(40):
            started = time.monotonic()
            response = httpx.get(f"{server}/v1/activities/{ACTIVITY}", timeout=30)
            timings.append(time.monotonic() - started)
            assert response.status_code == 200, response.text
        # Eight exports stalled in mid-stream, and no connection is held for them.
        assert checked_out(server) == 0
        print(f"small GETs beside 8 stalled exports: p50 {statistics.median(timings):.3f} s, max {max(timings):.3f} s")
    finally:
        for connection, _, _ in clients:
            connection.close()

    # Abandoned, the exports give their slots back as soon as the server notices.
    deadline = time.monotonic() + 30
    while True:
        with httpx.stream("GET", f"{server}{EXPORT}", timeout=30) as response:
            if response.status_code == 200:
                rows = sum(1 for _ in response.iter_lines())
                break
            assert response.status_code in (429, 503)
        assert time.monotonic() < deadline, "abandoned exports kept their slots"
        time.sleep(0.2)
    assert rows > 700


def test_a_refused_export_says_why_in_a_problem(server: Live) -> None:
    clients = [slow_reader(server, None) for _ in range(PER_CLIENT + 1)]
    try:
        connection, status, head = clients[-1]
        assert status == 429
        body = head.partition(b"\r\n\r\n")[2]
        while len(body) < int(dict_of(head)["content-length"]):
            body += connection.recv(4096)
        assert json.loads(body) == {
            "type": "about:blank",
            "title": "Too Many Requests",
            "status": 429,
            "detail": f"This client already has {PER_CLIENT} exports running: retry when one has finished.",
            "code": "TOO_MANY_EXPORTS",
        }
    finally:
        for connection, _, _ in clients:
            connection.close()


def dict_of(head: bytes) -> dict[str, str]:
    lines = head.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")[1:]
    return {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
