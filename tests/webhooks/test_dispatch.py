"""The dispatcher against a real receiver on 127.0.0.1 that verifies every signature: order, filters,
tombstones, retries, timeouts, 410, the retry window, secret rotation and lease fencing."""

import importlib.util
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select
from standardwebhooks import Webhook as Verifier
from standardwebhooks import WebhookVerificationError

from app.access.keys import Principal, current_principal
from app.db import write_engine
from app.main import app
from app.models.access import Role
from app.models.webhooks import Webhook, WebhookDelivery
from app.records import as_utc, utcnow
from app.sync.feed import Position
from app.webhooks import targets
from app.webhooks.delivery import message_id
from app.webhooks.dispatch import Batch, Dispatcher, backoff
from app.webhooks.secrets import seal_secret
from tests.conftest import client_on
from tests.live import free_port
from tests.webhooks.receiving import OBJECTIVE_5, Receiver, Subscribe, secret, stored

pytestmark = pytest.mark.usefixtures("loopback_targets")
EXAMPLE = Path(__file__).parents[2] / "examples" / "webhook_receiver.py"


@pytest.fixture
def writer(hooks_engine: Engine) -> Iterator[TestClient]:
    yield from client_on(hooks_engine)


@pytest.fixture
def dispatcher(hooks_engine: Engine) -> Dispatcher:
    return Dispatcher(hooks_engine, retry_base=0.1)


ADMIN = Principal(key_id="test-admin", role=Role.ADMIN)


@pytest.fixture
def admin(writer: TestClient) -> TestClient:
    """The writer, acting as an admin from now on: it manages subscriptions through the API."""

    def override(request: Request) -> Principal:
        request.state.principal = ADMIN
        return ADMIN

    app.dependency_overrides[current_principal] = override
    return writer


def slowed(receiver: Receiver, seconds: float) -> None:
    """The receiver answers each delivery `seconds` after it has recorded it."""
    handle = receiver.handle

    def slow(path: str, headers: dict[str, str], body: bytes) -> int | str:
        answer = handle(path, headers, body)
        time.sleep(seconds)
        return answer

    receiver.handle = slow  # type: ignore[method-assign]


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def create(writer: TestClient, code: str, **fields: Any) -> dict[str, Any]:
    body = {"objective_id": OBJECTIVE_5, "code": code, "title": code, "type": "meeting", **fields}
    response = writer.post("/v1/activities", json=body)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def deliveries(engine: Engine, webhook_id: uuid.UUID) -> list[WebhookDelivery]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(WebhookDelivery)
                .where(WebhookDelivery.webhook_id == webhook_id)
                .order_by(col(WebhookDelivery.at))
            )
        )


def test_changes_arrive_signed_in_feed_order_and_as_the_feed_serves_them(
    writer: TestClient, dispatcher: Dispatcher, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    key = secret()
    webhook = subscribe(receiver.at("/all", key), key)
    a = create(writer, "ORDER-1")
    b = create(writer, "ORDER-2")
    assert dispatcher.run_once() == 1
    assert writer.patch(f"/v1/activities/{a['id']}", json={"title": "changed"}).status_code == 200
    assert writer.delete(f"/v1/activities/{b['id']}").status_code == 204
    # The feed is of states: a record changed twice before a delivery is delivered once, as it is.
    assert dispatcher.run_once() == 1

    got = receiver.on("/all")
    assert all(r.verified for r in got)
    items = [r.item for r in got]
    assert [(i["id"], i["deleted"]) for i in items if i["type"] == "activity"][-4:] == [
        (a["id"], False),
        (b["id"], False),
        (a["id"], False),
        (b["id"], True),
    ]
    seqs = [(i["change_seq"], i["type"], i["id"]) for i in items]
    assert seqs == sorted(seqs)
    # The same JSON as /v1/changes: a receiver may apply pushes and polls alike.
    feed = writer.get("/v1/changes", params={"types": "activity"}).json()["items"]
    assert items[-2]["data"] == next(i["data"] for i in feed if i["id"] == a["id"])
    assert items[-1]["data"] is None
    for r in got:
        i = r.item
        assert r.message_id == message_id(webhook.id, i["type"], i["id"], i["change_seq"])
        assert r.headers["content-type"] == "application/json"
        assert r.headers["user-agent"].startswith("workplan-webhooks/")
    assert {d.outcome for d in deliveries(hooks_engine, webhook.id)} == {"delivered"}
    assert stored(hooks_engine, webhook.id).position_seq == items[-1]["change_seq"]
    # Caught up: nothing is delivered twice.
    dispatcher.run_once()
    assert len(receiver.on("/all")) == len(got)


def test_the_filter_and_the_types_choose_what_is_delivered_and_tombstones_always_are(
    writer: TestClient, dispatcher: Dispatcher, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    key = secret()
    webhook = subscribe(receiver.at("/planned", key), key, types=["activity"], filter={"status": ["planned"]})
    planned = create(writer, "FILTER-1", status="planned")
    ongoing = create(writer, "FILTER-2", status="in_progress")
    assert writer.delete(f"/v1/activities/{ongoing['id']}").status_code == 204
    assert writer.patch(f"/v1/partners/{_a_partner(writer)}", json={"description": "x"}).status_code == 200
    dispatcher.run_once()

    got = [r.item for r in receiver.on("/planned")]
    assert [(i["id"], i["deleted"]) for i in got] == [(planned["id"], False), (ongoing["id"], True)]
    # Skipped changes move the position too: the subscription is caught up.
    last = writer.get("/v1/changes", params={"types": "activity"}).json()
    assert stored(hooks_engine, webhook.id).position_seq >= max(i["change_seq"] for i in got)
    assert last["items"]


def _a_partner(writer: TestClient) -> str:
    partner_id: str = writer.get("/v1/partners", params={"limit": 1}).json()["items"][0]["id"]
    return partner_id


def test_a_500_is_retried_under_the_same_webhook_id_and_then_delivered(
    writer: TestClient, dispatcher: Dispatcher, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    key = secret()
    webhook = subscribe(receiver.at("/flaky", key, 500, 200), key, types=["activity"])
    record = create(writer, "RETRY-1")
    dispatcher.run_once()
    failing = stored(hooks_engine, webhook.id)
    assert failing.failures == 1
    assert failing.failing_since is not None
    assert as_utc(failing.next_attempt_at) > utcnow() - timedelta(seconds=1)
    time.sleep(0.2)  # the backoff from 0.1 s: between 0.05 and 0.1 s
    dispatcher.run_once()

    got = receiver.on("/flaky")
    assert len(got) == 2
    assert all(r.verified for r in got)
    assert got[0].message_id == got[1].message_id
    assert got[0].item["id"] == got[1].item["id"] == record["id"]
    attempts = deliveries(hooks_engine, webhook.id)
    assert [(d.outcome, d.response_status, d.trigger, d.attempt) for d in attempts] == [
        ("failed", 500, "dispatch", 1),
        ("delivered", 200, "retry", 2),
    ]
    assert attempts[0].response_excerpt == '{"ok": true}'
    healed = stored(hooks_engine, webhook.id)
    assert (healed.failures, healed.failing_since, healed.active) == (0, None, True)


def test_a_receiver_that_hangs_times_out_and_the_change_waits(
    writer: TestClient,
    dispatcher: Dispatcher,
    receiver: Receiver,
    subscribe: Subscribe,
    hooks_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORKPLAN_WEBHOOK_TIMEOUT", "0.5")
    from app.config import get_settings

    get_settings.cache_clear()
    key = secret()
    webhook = subscribe(receiver.at("/hang", key, "hang"), key, types=["activity"])
    create(writer, "HANG-1")
    started = time.monotonic()
    dispatcher.run_once()
    assert time.monotonic() - started < 2.5
    [attempt] = deliveries(hooks_engine, webhook.id)
    assert attempt.outcome == "timeout"
    assert attempt.response_status is None
    assert attempt.error is not None
    assert stored(hooks_engine, webhook.id).position_seq == webhook.position_seq  # not delivered: not passed


def test_a_410_disables_the_subscription_with_the_reason(
    writer: TestClient, dispatcher: Dispatcher, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    key = secret()
    webhook = subscribe(receiver.at("/gone", key, 410), key, types=["activity"])
    create(writer, "GONE-1")
    dispatcher.run_once()
    gone = stored(hooks_engine, webhook.id)
    assert not gone.active
    assert gone.disabled_at is not None
    assert gone.disabled_reason is not None
    assert "410" in gone.disabled_reason
    create(writer, "GONE-2")
    dispatcher.run_once()
    assert len(receiver.on("/gone")) == 1  # a disabled subscription gets nothing more


def test_a_subscription_failing_for_the_whole_window_is_disabled(
    writer: TestClient, dispatcher: Dispatcher, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    key = secret()
    webhook = subscribe(receiver.at("/down", key, 503), key, types=["activity"])
    create(writer, "DOWN-1")
    dispatcher.run_once()
    assert stored(hooks_engine, webhook.id).active  # one failure: retried later
    with Session(write_engine(hooks_engine)) as session, session.begin():
        # As if it had been failing for a day.
        session.exec(
            update(Webhook)
            .where(col(Webhook.id) == webhook.id)
            .values(failing_since=utcnow() - timedelta(hours=24, minutes=1), next_attempt_at=utcnow())
        )
    dispatcher.run_once()
    down = stored(hooks_engine, webhook.id)
    assert not down.active
    assert down.disabled_reason is not None
    assert "24 hours" in down.disabled_reason
    assert "503" in down.disabled_reason
    assert [d.trigger for d in deliveries(hooks_engine, webhook.id)] == ["dispatch", "retry"]


def test_during_a_rotation_both_secrets_sign(
    writer: TestClient, dispatcher: Dispatcher, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    old, new = secret(), secret()
    receiver.at("/rotated", old)  # verified by the old secret alone, and by the new one alone
    webhook = subscribe(
        receiver.at("/rotated", new),
        new,
        types=["activity"],
        previous_secret=seal_secret(old),
        previous_secret_expires_at=utcnow() + timedelta(hours=1),
    )
    create(writer, "ROTATE-1")
    dispatcher.run_once()
    [got] = receiver.on("/rotated")
    assert got.verified
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    # The grace over: the new secret alone signs.
    with Session(write_engine(hooks_engine)) as session, session.begin():
        session.exec(
            update(Webhook)
            .where(col(Webhook.id) == webhook.id)
            .values(previous_secret_expires_at=utcnow() - timedelta(seconds=1))
        )
    receiver.secrets["/rotated"] = [new]
    create(writer, "ROTATE-2")
    dispatcher.run_once()
    latest = receiver.on("/rotated")[-1]
    assert latest.verified
    assert len(latest.headers["webhook-signature"].split(" ")) == 1


def test_a_dispatcher_whose_lease_was_taken_over_moves_nothing(
    writer: TestClient, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    key = secret()
    webhook = subscribe(receiver.at("/fenced", key), key, types=["activity"])
    record = create(writer, "FENCE-1")
    first, second = Dispatcher(hooks_engine), Dispatcher(hooks_engine)
    leased = first.lease()
    assert leased is not None
    assert second.lease() is None  # leased: nobody else takes it
    mine, token = leased
    with Session(write_engine(hooks_engine)) as session, session.begin():
        # The first dispatcher stalls past its lease; the second takes the subscription over.
        session.exec(
            update(Webhook).where(col(Webhook.id) == webhook.id).values(lease_until=utcnow() - timedelta(seconds=1))
        )
    taken = second.lease()
    assert taken is not None
    assert taken[1] != token

    change = writer.get("/v1/changes", params={"types": "activity"}).json()["items"][-1]
    assert change["id"] == record["id"]
    beyond = Position(change["change_seq"], "activity", uuid.UUID(change["id"]), 0)
    assert not first.write(mine, token, Batch(position=beyond), release=True)
    assert stored(hooks_engine, webhook.id).position_seq == webhook.position_seq
    assert stored(hooks_engine, webhook.id).lease_token == taken[1]
    # Delivering, the stale dispatcher sees the lease is not its own before its attempt: it sends
    # nothing and moves nothing...
    with targets.new_client() as client:
        first.deliver(client, mine, token)
    assert stored(hooks_engine, webhook.id).position_seq == webhook.position_seq
    # ...while the lease holder does.
    with targets.new_client() as client:
        second.deliver(client, *taken)
    assert stored(hooks_engine, webhook.id).position_seq == change["change_seq"]
    assert stored(hooks_engine, webhook.id).lease_token is None
    got = receiver.on("/fenced")
    assert len(got) == 1


def test_the_backoff_grows_to_an_hour_with_jitter() -> None:
    assert 2.5 <= backoff(1, 5) <= 5
    assert 20 <= backoff(4, 5) <= 40
    assert 1800 <= backoff(40, 5) <= 3600
    assert len({backoff(3, 5) for _ in range(20)}) > 1


@pytest.fixture
def example_receiver(tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    """examples/webhook_receiver.py served by uvicorn on 127.0.0.1: its URL, secret and mirror."""
    spec = importlib.util.spec_from_file_location("webhook_receiver", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    key = secret()
    mirror = example.Mirror(str(tmp_path / "mirror.db"))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(example.create_app(key, mirror), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}/", key, mirror
    server.should_exit = True
    thread.join(timeout=10)


def test_the_example_receiver_verifies_deduplicates_and_keeps_the_latest_state(
    writer: TestClient,
    dispatcher: Dispatcher,
    example_receiver: tuple[str, str, Any],
    subscribe: Subscribe,
    hooks_engine: Engine,
) -> None:
    url, key, mirror = example_receiver
    webhook = subscribe(url, key, types=["activity"])
    kept = create(writer, "EXAMPLE-1")
    dropped = create(writer, "EXAMPLE-2")
    dispatcher.run_once()
    assert writer.patch(f"/v1/activities/{kept['id']}", json={"title": "latest"}).status_code == 200
    assert writer.delete(f"/v1/activities/{dropped['id']}").status_code == 204
    dispatcher.run_once()
    assert {d.outcome for d in deliveries(hooks_engine, webhook.id)} == {"delivered"}
    held = mirror.records()
    assert held[("activity", kept["id"])]["title"] == "latest"
    assert ("activity", dropped["id"]) not in held
    # A replay redelivers under the same webhook-ids: nothing changes, every answer is 2xx.
    with Session(write_engine(hooks_engine)) as session, session.begin():
        session.exec(
            update(Webhook)
            .where(col(Webhook.id) == webhook.id)
            .values(
                position_seq=webhook.position_seq, position_type=webhook.position_type, position_id=webhook.position_id
            )
        )
    dispatcher.run_once()
    assert {d.outcome for d in deliveries(hooks_engine, webhook.id)} == {"delivered"}
    assert mirror.records() == held
    # A request that does not verify is refused, and changes nothing.
    forged = httpx.post(
        url,
        content=b'{"type": "activity"}',
        headers={"webhook-id": "msg_x", "webhook-timestamp": str(int(time.time())), "webhook-signature": "v1,AAAA"},
    )
    assert forged.status_code == 401


def test_a_subscription_made_through_the_api_hears_exactly_the_changes_made_after_it(
    admin: TestClient, dispatcher: Dispatcher, receiver: Receiver, subscribe: Subscribe
) -> None:
    before = create(admin, "API-BEFORE")
    made = admin.post("/v1/webhooks", json={"url": receiver.base + "/api", "types": ["activity"]})
    assert made.status_code == 201, made.text
    # Verified with the secret the 201 showed, and nothing else.
    receiver.secrets["/api"], receiver.scripts["/api"] = [made.json()["secret"]], [200]
    dispatcher.run_once()
    assert receiver.on("/api") == []
    after = [create(admin, f"API-AFTER-{n}") for n in range(2)]
    assert admin.patch(f"/v1/activities/{before['id']}", json={"title": "changed after"}).status_code == 200
    dispatcher.run_once()

    got = receiver.on("/api")
    assert all(r.verified for r in got)
    assert [(r.item["id"], r.item["data"]["title"]) for r in got] == [
        (after[0]["id"], "API-AFTER-0"),
        (after[1]["id"], "API-AFTER-1"),
        (before["id"], "changed after"),
    ]
    shown = admin.get(f"/v1/webhooks/{made.json()['id']}").json()
    assert shown["delivered_through"] == got[-1].item["change_seq"]


def test_a_patch_of_the_url_takes_effect_before_the_next_attempt(
    admin: TestClient, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    key = secret()
    webhook = subscribe(receiver.at("/before", key), key, types=["activity"])
    receiver.at("/after", key)
    records = [create(admin, f"MOVE-{n}") for n in range(8)]
    slowed(receiver, 0.2)
    worker = threading.Thread(target=Dispatcher(hooks_engine).run_once)
    worker.start()
    wait_for(lambda: len(receiver.on("/before")) >= 2)
    moved = admin.patch(f"/v1/webhooks/{webhook.id}", json={"url": receiver.base + "/after"})
    assert moved.status_code == 200, moved.text
    patched = time.time()
    worker.join(timeout=30)

    # At most the attempt in flight when the PATCH committed went on to the old URL.
    assert len([r for r in receiver.on("/before") if r.at > patched]) <= 1
    after = receiver.on("/after")
    assert after
    assert all(r.verified for r in after)
    delivered = {r.item["id"] for r in receiver.on("/before") + after}
    assert delivered == {record["id"] for record in records}


def test_a_rotation_with_no_grace_stops_the_old_signature_before_the_next_attempt(
    admin: TestClient, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    leaked = secret()
    webhook = subscribe(receiver.at("/leaked", leaked), leaked, types=["activity"])
    records = [create(admin, f"LEAK-{n}") for n in range(8)]
    slowed(receiver, 0.2)
    worker = threading.Thread(target=Dispatcher(hooks_engine).run_once)
    worker.start()
    wait_for(lambda: len(receiver.on("/leaked")) >= 2)
    rotated = admin.post(f"/v1/webhooks/{webhook.id}/rotate-secret", json={"grace_seconds": 0})
    assert rotated.status_code == 200, rotated.text
    at = time.time()
    worker.join(timeout=30)

    fresh = rotated.json()["secret"]
    later = [r for r in receiver.on("/leaked") if r.at > at]
    signed_by_leaked = []
    for r in later:
        try:
            Verifier(leaked).verify(r.body, r.headers)
            signed_by_leaked.append(r)
        except WebhookVerificationError:
            Verifier(fresh).verify(r.body, r.headers)
    assert len(signed_by_leaked) <= 1  # the attempt in flight
    assert len(later) - len(signed_by_leaked) >= 1
    assert {r.item["id"] for r in receiver.on("/leaked")} == {record["id"] for record in records}


def test_an_idle_dispatcher_picks_up_a_patch_that_widens_the_types(
    admin: TestClient, dispatcher: Dispatcher, receiver: Receiver, subscribe: Subscribe
) -> None:
    key = secret()
    webhook = subscribe(receiver.at("/widen", key), key, types=["government_report"])
    record = create(admin, "WIDEN-1")
    dispatcher.run_once()  # nothing for it at this head: known to be caught up
    assert receiver.on("/widen") == []
    widened = admin.patch(f"/v1/webhooks/{webhook.id}", json={"types": ["government_report", "activity"]})
    assert widened.status_code == 200, widened.text
    dispatcher.run_once()
    assert [r.item["id"] for r in receiver.on("/widen")] == [record["id"]]


def test_a_subscription_whose_partner_was_deleted_is_disabled_and_delivers_nothing(
    admin: TestClient, dispatcher: Dispatcher, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    partner = admin.post("/v1/partners", json={"name": "Orphaned subscriber", "kind": "ngo"})
    assert partner.status_code == 201, partner.text
    key = secret()
    webhook = subscribe(
        receiver.at("/orphan", key), key, types=["activity"], partner_id=uuid.UUID(partner.json()["id"])
    )
    create(admin, "ORPHAN-1")
    dispatcher.run_once()
    assert len(receiver.on("/orphan")) == 1  # delivered while its partner exists
    assert admin.delete(f"/v1/partners/{partner.json()['id']}").status_code == 204
    create(admin, "ORPHAN-2")
    dispatcher.run_once()

    assert len(receiver.on("/orphan")) == 1
    orphan = stored(hooks_engine, webhook.id)
    assert not orphan.active
    assert orphan.disabled_at is not None
    assert orphan.disabled_reason is not None
    assert "partner was deleted" in orphan.disabled_reason
    shown = admin.get(f"/v1/webhooks/{webhook.id}").json()
    assert (shown["active"], shown["disabled_reason"]) == (False, orphan.disabled_reason)
