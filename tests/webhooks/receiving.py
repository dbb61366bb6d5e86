"""For the dispatcher's tests: a receiver on 127.0.0.1 that verifies every delivery's signature with
`standardwebhooks`, a database of their own where every write commits, and subscriptions made by
inserting `Webhook` rows directly."""

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete
from sqlmodel import Session, select
from standardwebhooks import Webhook as Verifier
from standardwebhooks import WebhookVerificationError

from app.config import get_settings
from app.db import create_db_engine, write_engine
from app.models.webhooks import Webhook
from app.models.writes import SyncState
from app.seed.service import load_seed
from app.sync.feed import end_of
from app.webhooks.secrets import new_secret, seal_secret
from tests.conftest import DATABASES, fresh_database_url, migrate

OBJECTIVE_5 = "de576537-25ea-5ba0-9148-3733718f059c"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    at: float

    @property
    def item(self) -> dict[str, Any]:
        item: dict[str, Any] = json.loads(self.body)
        return item

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """Answers each path with its script (status codes, then the last one forever; `hang` sleeps
    past any timeout), verifying each delivery with the secrets registered for the path."""

    base: str = ""
    secrets: dict[str, list[str]] = field(default_factory=dict)
    scripts: dict[str, list[int | str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def at(self, path: str, secret: str, *script: int | str) -> str:
        self.secrets.setdefault(path, []).append(secret)
        self.scripts[path] = list(script) or [200]
        return self.base + path

    def on(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int | str:
        verified = bool(self.secrets.get(path))
        for secret in self.secrets.get(path, []):
            try:
                Verifier(secret).verify(body, headers)
            except WebhookVerificationError:
                verified = False
        with self.lock:
            self.received.append(Received(path, headers, body, verified, time.time()))
            script = self.scripts.get(path, [404])
            return script.pop(0) if len(script) > 1 else script[0]


def serve_receiver() -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            answer = receiver.handle(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            if answer == "hang":
                time.sleep(3)
                answer = 200
            assert isinstance(answer, int)
            reply = b'{"ok": true}'
            self.send_response(answer)
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.base = f"http://127.0.0.1:{server.server_address[1]}"
    return receiver, server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver, server = serve_receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def loopback_targets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The receivers of these tests are on 127.0.0.1, which only an allowed network may be."""
    monkeypatch.setenv("WORKPLAN_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="module", params=DATABASES)
def hooks_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A seeded database of the module's own, where every write commits (stamps and leases are
    about what other transactions see)."""
    engine = create_db_engine(fresh_database_url(request.param, tmp_path_factory.mktemp("hooks"), "_hooks"))
    migrate(engine)
    with Session(write_engine(engine)) as session, session.begin():
        load_seed(session)
    yield engine
    engine.dispose()


Subscribe = Callable[..., Webhook]


@pytest.fixture
def subscribe(hooks_engine: Engine) -> Iterator[Subscribe]:
    """Make a subscription from the feed's head on, as the subscription API would; every one is
    removed after the test."""

    def make(url: str, secret: str, **fields: Any) -> Webhook:
        with Session(write_engine(hooks_engine), expire_on_commit=False) as session, session.begin():
            head = session.exec(select(SyncState.change_seq)).one()
            # Past every change at the head: only changes committed from now on are delivered.
            webhook = Webhook(
                url=url,
                secret=seal_secret(secret),
                created_by="tests",
                position_seq=end_of(head).seq,
                position_type=end_of(head).type,
                position_id=end_of(head).id,
                **fields,
            )
            session.add(webhook)
        return webhook

    yield make
    with Session(write_engine(hooks_engine)) as session, session.begin():
        session.exec(delete(Webhook))


def secret() -> str:
    return new_secret()


def stored(engine: Engine, webhook_id: uuid.UUID) -> Webhook:
    with Session(engine, expire_on_commit=False) as session:
        webhook = session.get(Webhook, webhook_id)
        assert webhook is not None
        return webhook


__all__ = ["OBJECTIVE_5", "Path", "Receiver", "hooks_engine", "loopback_targets", "receiver", "subscribe"]
