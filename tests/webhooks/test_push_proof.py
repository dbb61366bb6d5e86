"""The proof of push: a receiver fed only by webhooks, while writers commit through the real API and
`workplan webhooks run` processes deliver (one SIGKILLed midway, then started again), ends with a
replica equal to the database's `/v1/changes`, record for record; every delivery verifies; a change
delivered twice carries the same `webhook-id` both times.

It prints the delivery lag (the receipt of a record's state minus its `updated_at`, taken inside the
writing transaction).
"""

import os
import signal
import statistics
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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
from app.sync.feed import end_of
from app.webhooks.secrets import new_secret, seal_secret
from tests.conftest import DATABASES, fresh_database_url
from tests.live import BIN, live_server
from tests.sync.test_sync_proof import Replica, api_writer, apply, poll

SECONDS = {"postgresql": 20.0, "sqlite": 6.0}
WRITERS = {"postgresql": 8, "sqlite": 3}
DISPATCHERS = {"postgresql": 2, "sqlite": 1}
SUBSCRIPTIONS = {"postgresql": 4, "sqlite": 1}


class PushReceiver:
    """Applies each verified item as the feed's contract says; keeps every delivery's identity."""

    def __init__(self, secret: str, replica: Replica) -> None:
        self.verifier = Verifier(secret)
        self.replica = replica
        self.lock = threading.Lock()
        self.unverified = 0
        self.torn = 0
        self.deliveries: list[tuple[str, tuple[str, str, int]]] = []  # (webhook-id, (type, id, change_seq))
        self.lags: list[float] = []

    def mirrored(self) -> dict[tuple[str, str], dict[str, Any]]:
        with self.lock:
            return {key: data for key, (_, data) in self.replica.items() if data is not None}

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
            length = int(self.headers.get("content-length", 0))
            body = self.rfile.read(length)
            if len(body) < length:
                # A request torn by the sender's death (the SIGKILL): no delivery, nothing to verify.
                receiver.torn += 1
                self.close_connection = True
                return
            status = receiver.receive({k.lower(): v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.handle_error = lambda *_: None  # type: ignore[method-assign]  # a killed sender resets its connection
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
        "WORKPLAN_WEBHOOK_TIMEOUT": "1",  # the lease must outlast an attempt by 2 s (app/config.py)
    }
    log.touch()
    with log.open("ab") as out:
        return subprocess.Popen([str(BIN / "workplan"), "webhooks", "run", "--concurrency", "2"], env=env, stderr=out)


def wait_started(log: Path, count: int) -> None:
    """Until `count` dispatchers have said they deliver (and so handle SIGTERM)."""
    deadline = time.monotonic() + 90
    while log.read_text().count("Delivering webhooks") < count:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@pytest.mark.slow
@pytest.mark.parametrize("kind", DATABASES)
def test_receivers_fed_by_webhooks_miss_nothing_while_a_dispatcher_is_killed(kind: str, tmp_path: Path) -> None:
    url = fresh_database_url(kind, tmp_path, "_push")
    log = tmp_path / "dispatchers.log"
    dispatchers: list[subprocess.Popen[bytes]] = []
    receivers: list[PushReceiver] = []
    webhook_ids: list[uuid.UUID] = []
    with (
        live_server(url, workers=2 if kind == "postgresql" else 1) as base,
        httpx.Client(base_url=base, headers=base.headers, timeout=60) as client,
        ExitStack() as stack,
    ):
        # Each receiver's initial sync, then its subscription from the feed's head on.
        initial: Replica = {}
        poll(client, initial, None)
        engine = create_db_engine(url, pool_size=1)
        with Session(write_engine(engine)) as session, session.begin():
            head = session.exec(select(SyncState.change_seq)).one()
            start = end_of(head)
            for _ in range(SUBSCRIPTIONS[kind]):
                secret = new_secret()
                receiver = PushReceiver(secret, dict(initial))
                hook = stack.enter_context(receiving(receiver))
                webhook = Webhook(
                    url=hook,
                    secret=seal_secret(secret),
                    created_by="tests",
                    position_seq=start.seq,
                    position_type=start.type,
                    position_id=start.id,
                )
                session.add(webhook)
                receivers.append(receiver)
                webhook_ids.append(webhook.id)
        try:
            dispatchers = [start_dispatcher(url, log) for _ in range(DISPATCHERS[kind])]
            wait_started(log, DISPATCHERS[kind])
            objective = "de576537-25ea-5ba0-9148-3733718f059c"
            client.patch(f"/v1/objectives/{objective}", json={"description": "pushed"}).raise_for_status()
            deadline = time.monotonic() + 60
            while not all(r.deliveries for r in receivers) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert all(r.deliveries for r in receivers), log.read_text()

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
            wait_started(log, DISPATCHERS[kind] + 1)
            time.sleep(SECONDS[kind] / 4)
            stop.set()
            for thread in threads:
                thread.join()

            expected: Replica = {}
            poll(client, expected, None)
            want = {key: data for key, (_, data) in expected.items()}
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not all(r.mirrored() == want for r in receivers):
                time.sleep(0.25)
        finally:
            for process in dispatchers:
                process.send_signal(signal.SIGTERM)
            stopped = [process.wait(timeout=60) for process in dispatchers]
            with Session(engine) as session:
                leases = [session.get(Webhook, webhook_id) for webhook_id in webhook_ids]
            engine.dispose()

    # Stopped by SIGTERM, a dispatcher finishes its attempts in flight and releases its leases.
    assert stopped == [0] * len(dispatchers)
    assert [webhook.lease_token for webhook in leases if webhook is not None] == [None] * len(receivers)
    assert all(status < 500 for status in statuses), statuses
    assert statuses.count(201) > 10
    lags: list[float] = []
    for receiver in receivers:
        assert receiver.unverified == 0
        got = receiver.mirrored()
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
        lags.extend(receiver.lags)
        print(
            f"\n{kind}: {len(receiver.deliveries)} deliveries, {len(receiver.deliveries) - len(ids_of)} duplicates, "
            f"{receiver.torn} torn"
        )
    print(
        f"{kind}: {len(receivers)} subscriptions, {statuses.count(201)} creates, {len(statuses)} writes; lag median "
        f"{statistics.median(lags):.3f} s, p99 {percentile(lags, 0.99):.3f} s, max {max(lags):.3f} s"
    )


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
            start = end_of(head)
            session.add(
                Webhook(
                    url=hook,
                    secret=seal_secret(secret),
                    created_by="tests",
                    position_seq=start.seq,
                    position_type=start.type,
                    position_id=start.id,
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
