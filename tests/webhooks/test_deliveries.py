"""`/v1/webhooks/{id}/deliveries`, redelivery and replay, through the HTTP API, against a real
receiver."""

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.access.keys import Principal, current_principal
from app.db import write_engine
from app.main import app
from app.models.access import Role
from app.models.webhooks import WebhookDelivery
from app.records import utcnow
from app.sync.feed import purge_tombstones
from app.webhooks.dispatch import Dispatcher
from tests.conftest import client_on
from tests.webhooks.receiving import OBJECTIVE_5, Receiver, Subscribe, secret, stored

pytestmark = pytest.mark.usefixtures("loopback_targets")

As = Callable[[Principal], None]


@pytest.fixture
def api(hooks_engine: Engine) -> Iterator[TestClient]:
    yield from client_on(hooks_engine)


@pytest.fixture
def act_as() -> As:
    """From now on the API client's requests are this principal's."""

    def switch(principal: Principal) -> None:
        def override(request: Request) -> Principal:
            request.state.principal = principal
            return principal

        app.dependency_overrides[current_principal] = override

    return switch


ADMIN = Principal(key_id="test-admin", role=Role.ADMIN)
EDITOR = Principal(key_id="test-editor", role=Role.EDITOR)


def assert_problem(response: Any, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == status
    if code is not None:
        assert response.json()["code"] == code, response.text


def create(api: TestClient, code: str) -> dict[str, Any]:
    body = {"objective_id": OBJECTIVE_5, "code": code, "title": code, "type": "meeting"}
    response = api.post("/v1/activities", json=body)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


def test_deliveries_are_listed_newest_first_filtered_and_paged(
    api: TestClient, act_as: As, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    key = secret()
    webhook = subscribe(receiver.at("/list", key, 500, 200), key, types=["activity"])
    create(api, "LIST-1")
    dispatcher = Dispatcher(hooks_engine, retry_base=0.01)
    dispatcher.run_once()
    time.sleep(0.05)
    dispatcher.run_once()
    create(api, "LIST-2")
    dispatcher.run_once()
    act_as(ADMIN)

    page = api.get(f"/v1/webhooks/{webhook.id}/deliveries")
    assert page.status_code == 200, page.text
    items = page.json()["items"]
    assert [(i["outcome"], i["trigger"], i["attempt"]) for i in items] == [
        ("delivered", "dispatch", 1),
        ("delivered", "retry", 2),
        ("failed", "dispatch", 1),
    ]
    assert items[2]["response_status"] == 500
    assert items[2]["response_excerpt"] == '{"ok": true}'
    assert items[1]["message_id"] == items[2]["message_id"]
    assert set(items[0]) >= {"id", "type", "record_id", "change_seq", "deleted", "at", "duration_ms", "error"}
    failed = api.get(f"/v1/webhooks/{webhook.id}/deliveries", params={"outcome": "failed"}).json()["items"]
    assert [i["id"] for i in failed] == [items[2]["id"]]
    first = api.get(f"/v1/webhooks/{webhook.id}/deliveries", params={"limit": 2})
    assert [i["id"] for i in first.json()["items"]] == [items[0]["id"], items[1]["id"]]
    assert 'rel="next"' in first.headers["link"]
    rest = api.get(
        f"/v1/webhooks/{webhook.id}/deliveries", params={"limit": 2, "cursor": first.json()["next_cursor"]}
    ).json()
    assert [i["id"] for i in rest["items"]] == [items[2]["id"]]
    assert "next_cursor" not in rest
    one = api.get(f"/v1/webhooks/{webhook.id}/deliveries/{items[2]['id']}")
    assert one.json() == items[2]
    assert_problem(api.get(f"/v1/webhooks/{webhook.id}/deliveries/{uuid.uuid4()}"), 404)
    assert_problem(api.get(f"/v1/webhooks/{webhook.id}/deliveries", params={"outcome": "lost"}), 422)
    assert_problem(api.get(f"/v1/webhooks/{webhook.id}/deliveries", params={"cursor": "junk"}), 400)


def test_only_the_owner_reads_a_subscriptions_deliveries(
    api: TestClient, act_as: As, receiver: Receiver, subscribe: Subscribe
) -> None:
    partner = api.get("/v1/partners", params={"limit": 2}).json()["items"]
    mine, theirs = uuid.UUID(partner[0]["id"]), uuid.UUID(partner[1]["id"])
    key = secret()
    webhook = subscribe(receiver.at("/owned", key), key, partner_id=mine)
    act_as(Principal(key_id="p1", role=Role.PARTNER, partner_id=mine))
    assert api.get(f"/v1/webhooks/{webhook.id}/deliveries").status_code == 200
    act_as(Principal(key_id="p2", role=Role.PARTNER, partner_id=theirs))
    assert_problem(api.get(f"/v1/webhooks/{webhook.id}/deliveries"), 404)
    assert_problem(api.post(f"/v1/webhooks/{webhook.id}/replay", json={"from_change_seq": 1}), 404)
    act_as(EDITOR)
    assert_problem(api.get(f"/v1/webhooks/{webhook.id}/deliveries"), 403)
    act_as(Principal())
    assert_problem(api.get(f"/v1/webhooks/{webhook.id}/deliveries"), 401)


def test_a_delivery_is_redelivered_now_as_the_record_is_now(
    api: TestClient, act_as: As, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    key = secret()
    webhook = subscribe(receiver.at("/again", key), key, types=["activity"])
    record = create(api, "AGAIN-1")
    Dispatcher(hooks_engine).run_once()
    act_as(ADMIN)
    [original] = api.get(f"/v1/webhooks/{webhook.id}/deliveries").json()["items"]

    again = api.post(f"/v1/webhooks/{webhook.id}/deliveries/{original['id']}/redeliver")
    assert again.status_code == 201, again.text
    assert again.json()["trigger"] == "redelivery"
    assert again.json()["outcome"] == "delivered"
    assert again.json()["changed_since"] is False
    assert again.json()["message_id"] == original["message_id"]
    got = receiver.on("/again")
    assert len(got) == 2
    assert got[1].verified
    assert got[1].body == got[0].body

    act_as(EDITOR)
    assert api.patch(f"/v1/activities/{record['id']}", json={"title": "since"}).status_code == 200
    act_as(ADMIN)
    changed = api.post(f"/v1/webhooks/{webhook.id}/deliveries/{original['id']}/redeliver").json()
    assert changed["changed_since"] is True
    assert changed["change_seq"] > original["change_seq"]
    assert changed["message_id"] != original["message_id"]
    assert receiver.on("/again")[-1].item["data"]["title"] == "since"
    listed = api.get(f"/v1/webhooks/{webhook.id}/deliveries").json()["items"]
    assert [i["trigger"] for i in listed] == ["redelivery", "redelivery", "dispatch"]
    assert_problem(api.post(f"/v1/webhooks/{webhook.id}/deliveries/{uuid.uuid4()}/redeliver"), 404)


def test_a_replay_delivers_again_from_a_change_seq_and_refuses_one_beyond_the_head(
    api: TestClient, act_as: As, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    key = secret()
    webhook = subscribe(receiver.at("/replay", key), key, types=["activity"])
    records = [create(api, f"REPLAY-{n}") for n in range(3)]
    dispatcher = Dispatcher(hooks_engine)
    dispatcher.run_once()
    first = [r.item for r in receiver.on("/replay")]
    assert [i["id"] for i in first] == [r["id"] for r in records]
    act_as(ADMIN)

    accepted = api.post(f"/v1/webhooks/{webhook.id}/replay", json={"from_change_seq": first[1]["change_seq"]})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["position_seq"] == first[1]["change_seq"] - 1
    dispatcher.run_once()
    replayed = receiver.on("/replay")[3:]
    assert [r.item["id"] for r in replayed] == [records[1]["id"], records[2]["id"]]
    assert [r.message_id for r in replayed] == [r.message_id for r in receiver.on("/replay")[1:3]]
    assert all(r.verified for r in replayed)

    head = stored(hooks_engine, webhook.id).position_seq
    assert_problem(
        api.post(f"/v1/webhooks/{webhook.id}/replay", json={"from_change_seq": head + 1000}), 422, "BEYOND_THE_FEED"
    )
    assert_problem(api.post(f"/v1/webhooks/{webhook.id}/replay", json={"from_change_seq": -1}), 422)
    assert_problem(api.post(f"/v1/webhooks/{webhook.id}/replay", json={}), 422)


def test_metrics_say_how_far_behind_each_subscription_is_and_what_deliveries_came_to(
    api: TestClient, act_as: As, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    key = secret()
    webhook = subscribe(receiver.at("/metered", key), key, types=["activity"])
    create(api, "METRIC-1")
    create(api, "METRIC-2")
    time.sleep(0.05)
    act_as(ADMIN)

    def sample(name: str, label: str) -> float:
        text = api.get("/metrics").text
        line = next(line for line in text.splitlines() if line.startswith(f"{name}{{{label}}}"))
        return float(line.rsplit(" ", 1)[1])

    behind = f'webhook="{webhook.id}"'
    assert sample("workplan_webhook_backlog", behind) == 2
    assert sample("workplan_webhook_lag_seconds", behind) > 0
    delivered = sample("workplan_webhook_deliveries_last_minute", 'outcome="delivered"')
    Dispatcher(hooks_engine).run_once()
    assert sample("workplan_webhook_backlog", behind) == 0
    assert sample("workplan_webhook_lag_seconds", behind) == 0
    assert sample("workplan_webhook_deliveries_last_minute", 'outcome="delivered"') == delivered + 2


def test_purging_tombstones_removes_the_attempts_older_than_the_horizon(
    api: TestClient, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    key = secret()
    webhook = subscribe(receiver.at("/purged", key), key, types=["activity"])
    create(api, "PURGE-1")
    Dispatcher(hooks_engine).run_once()
    with Session(write_engine(hooks_engine), expire_on_commit=False) as session, session.begin():
        [recent] = session.exec(select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)).all()
        old = WebhookDelivery.model_validate(
            {**recent.model_dump(), "id": uuid.uuid4(), "at": utcnow() - timedelta(days=31)}
        )
        session.add(old)
    with Session(write_engine(hooks_engine)) as session, session.begin():
        counts = purge_tombstones(session, timedelta(days=30))
    assert counts["webhook_delivery"] == 1
    with Session(hooks_engine) as session:
        left = session.exec(select(WebhookDelivery.id).where(WebhookDelivery.webhook_id == webhook.id)).all()
    assert left == [recent.id]


def test_a_redelivery_holds_no_transaction_while_the_receiver_answers(
    api: TestClient, act_as: As, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    act_as(ADMIN)
    key = secret()
    webhook = subscribe(receiver.at("/slow", key), key, types=["activity"])
    record = create(api, "SLOW-1")
    Dispatcher(hooks_engine).run_once()
    [original] = api.get(f"/v1/webhooks/{webhook.id}/deliveries").json()["items"]
    handle = receiver.handle

    def slow(path: str, headers: dict[str, str], body: bytes) -> int | str:
        answer = handle(path, headers, body)
        time.sleep(2.5)
        return answer

    receiver.handle = slow  # type: ignore[method-assign]
    url = f"/v1/webhooks/{webhook.id}/deliveries/{original['id']}/redeliver"
    answers: list[Any] = []
    redelivery = threading.Thread(target=lambda: answers.append(api.post(url, headers={"Idempotency-Key": "slow-1"})))
    redelivery.start()
    deadline = time.monotonic() + 10
    while len(receiver.on("/slow")) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    # While the receiver takes its time, the service's other writers do not wait for it.
    started = time.monotonic()
    patched = api.patch(f"/v1/activities/{record['id']}", json={"title": "meanwhile"})
    took = time.monotonic() - started
    redelivery.join(timeout=30)
    assert patched.status_code == 200, patched.text
    assert took < 1.0

    [answer] = answers
    assert answer.status_code == 201, answer.text
    assert (answer.json()["outcome"], answer.json()["trigger"]) == ("delivered", "redelivery")
    recorded = api.get(f"/v1/webhooks/{webhook.id}/deliveries/{answer.json()['id']}")
    assert recorded.status_code == 200
    assert recorded.json() == {k: v for k, v in answer.json().items() if k != "changed_since"}
    # The key was remembered with the attempt: a retry replays it, and makes no other.
    receiver.handle = handle  # type: ignore[method-assign]
    again = api.post(url, headers={"Idempotency-Key": "slow-1"})
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == answer.json()
    assert len(receiver.on("/slow")) == 2
