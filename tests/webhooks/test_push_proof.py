"""The proof of push: a receiver fed only by webhooks, while writers commit through the real API and
`workplan webhooks run` processes deliver (one SIGKILLed midway, then started again), ends with a
replica equal to the database's `/v1/changes`, record for record; every delivery verifies; a change
delivered twice carries the same `webhook-id` both times.

It prints the delivery lag (the receipt of a record's state minus its `updated_at`, taken inside the
writing transaction).
"""

import json
import os
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from standardwebhooks import Webhook as Verifier

from app.db import create_db_engine, write_engine
from app.models.webhooks import Webhook
from app.models.writes import SyncState
from app.webhooks.dispatch import end_of
from app.webhooks.secrets import new_secret, seal_secret
from tests.conftest import DATABASES, fresh_database_url
from tests.live import BIN, live_server
from tests.sync.test_sync_proof import Replica, api_writer, apply, poll

SECONDS = {"postgresql": 20.0, "sqlite": 6.0}
WRITERS = {"postgresql": 8, "sqlite": 3}
DISPATCHERS = {"postgresql": 2, "sqlite": 1}


class PushReceiver:
    """Applies each verified item as the feed's contract says; keeps every delivery's identity."""

    def __init__(self, secret: str, replica: Replica) -> None:
        self.verifier = Verifier(secret)
        self.replica = replica
        self.lock = threading.Lock()
        self.unverified = 0
        self.deliveries: list[tuple[str, tuple[str, str, int]]] = []  # (webhook-id, (type, id, change_seq))
        self.lags: list[float] = []

    def receive(self, headers: dict[str, str], body: bytes) -> int:
        arrived = time.time()
        try:
            item = self.verifier.verify(body, headers)
        except Exception:
            with self.lock:
                self.unverified += 1
            return 400
        with self.lock:
            self.deliveries.append((headers["webhook-id"], (item["type"], item["id"], item["change_seq"])))
            apply(self.replica, [item])
            if item["data"] is not None:
                updated = datetime.fromisoformat(item["data"]["updated_at"]).timestamp()
                self.lags.append(arrived - updated)
        return 204


@contextmanager
def receiving(receiver: PushReceiver) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            status = receiver.receive({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def start_dispatcher(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "WORKPLAN_DATABASE_URL": url,
        "WORKPLAN_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "WORKPLAN_WEBHOOK_LEASE_SECONDS": "3",
    }
    with log.open("ab") as out:
        return subprocess.Popen([str(BIN / "workplan"), "webhooks", "run", "--concurrency", "2"], env=env, stderr=out)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@pytest.mark.slow
@pytest.mark.parametrize("kind", DATABASES)
def test_a_receiver_fed_by_webhooks_misses_nothing_while_a_dispatcher_is_killed(kind: str, tmp_path: Path) -> None:
    url = fresh_database_url(kind, tmp_path, "_push")
    secret = new_secret()
    replica: Replica = {}
    receiver = PushReceiver(secret, replica)
    log = tmp_path / "dispatchers.log"
    dispatchers: list[subprocess.Popen[bytes]] = []
    with (
        live_server(url, workers=2 if kind == "postgresql" else 1) as base,
        httpx.Client(base_url=base, headers=base.headers, timeout=60) as client,
        receiving(receiver) as hook,
    ):
        # The receiver's initial sync, then a subscription from the feed's head on.
        poll(client, replica, None)
        engine = create_db_engine(url, pool_size=1)
        with Session(write_engine(engine)) as session, session.begin():
            head = session.exec(select(SyncState.change_seq)).one()
            _, last_type, last_id = end_of(head)
            webhook = Webhook(
                url=hook,
                secret=seal_secret(secret),
                created_by="tests",
                position_seq=head,
                position_type=last_type,
                position_id=last_id,
            )
            session.add(webhook)
        try:
            dispatchers = [start_dispatcher(url, log) for _ in range(DISPATCHERS[kind])]
            # The dispatchers are up once a first change arrives.
            objective = "de576537-25ea-5ba0-9148-3733718f059c"
            client.patch(f"/v1/objectives/{objective}", json={"description": "pushed"}).raise_for_status()
            deadline = time.monotonic() + 60
            while not receiver.deliveries and time.monotonic() < deadline:
                time.sleep(0.1)
            assert receiver.deliveries, log.read_text()

            stop = threading.Event()
            created: list[str] = []
            statuses: list[int] = []
            threads = [
                threading.Thread(target=lambda n=n: statuses.extend(api_writer(base, 700 + n, stop, created)))
                for n in range(WRITERS[kind])
            ]
            for thread in threads:
                thread.start()
            time.sleep(SECONDS[kind] / 2)
            dispatchers[0].send_signal(signal.SIGKILL)  # mid-delivery: the writes keep coming
            dispatchers[0].wait()
            time.sleep(SECONDS[kind] / 4)
            dispatchers[0] = start_dispatcher(url, log)
            time.sleep(SECONDS[kind] / 4)
            stop.set()
            for thread in threads:
                thread.join()

            expected: Replica = {}
            poll(client, expected, None)
            want = {key: data for key, (_, data) in expected.items()}
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                with receiver.lock:
                    got = {key: data for key, (_, data) in replica.items() if data is not None}
                if got == want:
                    break
                time.sleep(0.25)
        finally:
            for process in dispatchers:
                process.send_signal(signal.SIGTERM)
            stopped = [process.wait(timeout=60) for process in dispatchers]
            with Session(engine) as session:
                left = session.get(Webhook, webhook.id)
            engine.dispose()

    # Stopped by SIGTERM, a dispatcher finishes its attempt in flight and releases its lease.
    assert stopped == [0] * len(dispatchers)
    assert left is not None
    assert left.lease_token is None

    assert all(status < 500 for status in statuses), statuses
    assert statuses.count(201) > 10
    assert receiver.unverified == 0
    missed = want.keys() - got.keys()
    phantoms = got.keys() - want.keys()
    assert not missed, len(missed)
    assert not phantoms, len(phantoms)
    assert got == want
    ids_of: dict[tuple[str, str, int], set[str]] = {}
    changes_of: dict[str, set[tuple[str, str, int]]] = {}
    for message_id, change in receiver.deliveries:
        ids_of.setdefault(change, set()).add(message_id)
        changes_of.setdefault(message_id, set()).add(change)
    assert all(len(ids) == 1 for ids in ids_of.values())
    assert all(len(changes) == 1 for changes in changes_of.values())
    duplicates = len(receiver.deliveries) - len(ids_of)
    lags = receiver.lags
    print(
        f"\n{kind}: {len(receiver.deliveries)} deliveries, {duplicates} duplicates, {statuses.count(201)} creates; "
        f"lag median {statistics.median(lags):.3f} s, p99 {percentile(lags, 0.99):.3f} s, max {max(lags):.3f} s"
    )
    print(json.dumps({"log": log.read_text()[-2000:]}))


@pytest.mark.slow
def test_a_server_started_with_webhooks_delivers_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKPLAN_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
    url = fresh_database_url("sqlite", tmp_path, "_served")
    secret = new_secret()
    replica: Replica = {}
    receiver = PushReceiver(secret, replica)
    with (
        live_server(url, serve=("--webhooks",)) as base,
        httpx.Client(base_url=base, headers=base.headers, timeout=60) as client,
        receiving(receiver) as hook,
    ):
        engine = create_db_engine(url, pool_size=1)
        with Session(write_engine(engine)) as session, session.begin():
            head = session.exec(select(SyncState.change_seq)).one()
            _, last_type, last_id = end_of(head)
            session.add(
                Webhook(
                    url=hook,
                    secret=seal_secret(secret),
                    created_by="tests",
                    position_seq=head,
                    position_type=last_type,
                    position_id=last_id,
                )
            )
        engine.dispose()
        objective = "de576537-25ea-5ba0-9148-3733718f059c"
        client.patch(f"/v1/objectives/{objective}", json={"description": "served"}).raise_for_status()
        deadline = time.monotonic() + 30
        while not receiver.deliveries and time.monotonic() < deadline:
            time.sleep(0.1)
    assert [change[:2] for _, change in receiver.deliveries] == [("objective", objective)]
    assert replica["objective", objective][1] is not None
    assert receiver.unverified == 0
