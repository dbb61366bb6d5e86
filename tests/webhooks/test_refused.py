"""What the service cannot deliver to, or sign with, is a refused attempt or a 422, never a 500 nor a
dispatcher stuck: a host with a malformed IDNA label, a secret sealed under a service key that has
changed since; and settings whose lease an attempt could outlast are refused at start."""

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from app.access.keys import new_key
from app.config import Settings
from app.db import write_engine
from app.models.access import Role
from app.models.webhooks import Webhook, WebhookDelivery
from app.records import as_utc, utcnow
from app.webhooks import targets
from app.webhooks.delivery import CANNOT_SIGN, send
from app.webhooks.dispatch import Dispatcher
from app.webhooks.secrets import new_secret, seal_secret
from tests.conftest import client_on
from tests.problems import assert_problem, body_error, problem
from tests.webhooks.receiving import OBJECTIVE_5, Receiver, Subscribe, stored

IDNA = (
    "The URL's host is not a valid internationalized domain name: "
    "Codepoint U+0080 at position 1 of '\\x80' not allowed."
)
ITEM = {"type": "activity", "id": str(uuid.uuid4()), "change_seq": 7, "deleted": True, "data": None}


def foreign_seal(secret: str) -> str:
    """The secret as a service with another WORKPLAN_SECRET_KEY stored it."""
    return Fernet(Fernet.generate_key()).encrypt(secret.encode()).decode()


# Settings


def test_the_lease_must_outlast_an_attempt_by_two_seconds() -> None:
    defaults = Settings()
    assert (defaults.webhook_timeout, defaults.webhook_lease_seconds) == (10, 30)
    assert Settings(webhook_timeout=1, webhook_lease_seconds=3).webhook_lease_seconds == 3
    for timeout, lease in [(10, 11.9), (30, 30), (60, 30)]:
        with pytest.raises(ValidationError) as refused:
            Settings(webhook_timeout=timeout, webhook_lease_seconds=lease)
        assert (
            f"WORKPLAN_WEBHOOK_LEASE_SECONDS ({lease:g}) must be at least WORKPLAN_WEBHOOK_TIMEOUT ({timeout:g}) "
            "+ 2 seconds: a delivery attempt must end, and be recorded, before another dispatcher may take its "
            "subscription over"
        ) in str(refused.value)


# A host with a malformed IDNA label


@pytest.fixture
def admin(session: Session) -> dict[str, str]:
    _, key = new_key(session, name="admin", role=Role.ADMIN, partner_id=None)
    session.flush()
    return {"Authorization": f"Bearer {key}"}


def test_a_malformed_idna_host_is_a_422_on_create_and_on_change(
    anonymous_client: TestClient, admin: dict[str, str]
) -> None:
    expected = problem(422, "The request body is not valid.", "TARGET_REFUSED", [body_error("/url", IDNA)])
    created = anonymous_client.post("/v1/webhooks", json={"url": "https://xn--a.com/in"}, headers=admin)
    assert assert_problem(created, 422, "TARGET_REFUSED") == expected
    made = anonymous_client.post("/v1/webhooks", json={"url": "https://receiver.example.org/in"}, headers=admin)
    assert made.status_code == 201, made.text
    changed = anonymous_client.patch(
        f"/v1/webhooks/{made.json()['id']}", json={"url": "https://xn--a.com/in"}, headers=admin
    )
    assert assert_problem(changed, 422, "TARGET_REFUSED") == expected


# A secret sealed under another service key


@pytest.mark.usefixtures("loopback_targets")
def test_an_undecryptable_secret_is_a_refused_attempt_and_nothing_is_sent(receiver: Receiver) -> None:
    webhook = Webhook(url=receiver.at("/in", new_secret()), secret=foreign_seal(new_secret()), created_by="tests")
    with targets.new_client() as client:
        delivery = send(client, webhook, ITEM, trigger="dispatch")
    assert (delivery.outcome, delivery.error, delivery.response_status) == ("refused", CANNOT_SIGN, None)
    assert receiver.on("/in") == []


@pytest.mark.usefixtures("loopback_targets")
def test_an_undecryptable_previous_secret_is_left_out_of_the_signature(receiver: Receiver) -> None:
    # The service's key changed, then the secret was rotated with a grace, as the error tells.
    current = new_secret()
    webhook = Webhook(
        url=receiver.at("/in", current),
        secret=seal_secret(current),
        previous_secret=foreign_seal(new_secret()),
        previous_secret_expires_at=utcnow() + timedelta(hours=1),
        created_by="tests",
    )
    with targets.new_client() as client:
        delivery = send(client, webhook, ITEM, trigger="dispatch")
    assert delivery.outcome == "delivered", delivery.error
    [got] = receiver.on("/in")
    assert got.verified
    assert len(got.headers["webhook-signature"].split(" ")) == 1


def deliveries(engine: Engine, webhook_id: uuid.UUID) -> list[WebhookDelivery]:
    with Session(engine) as session:
        statement = select(WebhookDelivery).where(col(WebhookDelivery.webhook_id) == webhook_id)
        return list(session.exec(statement.order_by(col(WebhookDelivery.at))))


@pytest.fixture
def writer(hooks_engine: Engine) -> Iterator[TestClient]:
    yield from client_on(hooks_engine)


@pytest.mark.usefixtures("loopback_targets")
def test_the_dispatcher_records_it_backs_off_and_in_the_end_disables_the_subscription(
    writer: TestClient, receiver: Receiver, subscribe: Subscribe, hooks_engine: Engine
) -> None:
    secret = new_secret()
    webhook = subscribe(receiver.at("/stale", secret), secret, types=["activity"])
    with Session(write_engine(hooks_engine)) as session, session.begin():
        session.exec(update(Webhook).where(col(Webhook.id) == webhook.id).values(secret=foreign_seal(secret)))
    body: dict[str, Any] = {"objective_id": OBJECTIVE_5, "code": "STALE-1", "title": "t", "type": "meeting"}
    assert writer.post("/v1/activities", json=body).status_code == 201

    before = utcnow()
    Dispatcher(hooks_engine, retry_base=60).run_once()
    [refused] = deliveries(hooks_engine, webhook.id)
    assert (refused.outcome, refused.error, refused.trigger) == ("refused", CANNOT_SIGN, "dispatch")
    after = stored(hooks_engine, webhook.id)
    assert after.active
    assert (after.failures, after.lease_token, after.lease_until) == (1, None, None)
    assert after.failing_since is not None
    assert as_utc(after.next_attempt_at) >= before + timedelta(seconds=30)  # backed off, not stuck
    assert receiver.on("/stale") == []

    # Still failing past the retry window: disabled, with the reason.
    with Session(write_engine(hooks_engine)) as session, session.begin():
        session.exec(
            update(Webhook)
            .where(col(Webhook.id) == webhook.id)
            .values(failing_since=utcnow() - timedelta(hours=25), next_attempt_at=utcnow())
        )
    Dispatcher(hooks_engine, retry_base=60).run_once()
    disabled = stored(hooks_engine, webhook.id)
    assert not disabled.active
    assert disabled.disabled_reason is not None
    assert disabled.disabled_reason.endswith(CANNOT_SIGN)
    assert [d.outcome for d in deliveries(hooks_engine, webhook.id)] == ["refused", "refused"]


def test_a_redelivery_answers_the_refused_attempt(
    anonymous_client: TestClient, admin: dict[str, str], session: Session
) -> None:
    made = anonymous_client.post("/v1/webhooks", json={"url": "https://receiver.example.org/in"}, headers=admin)
    assert made.status_code == 201, made.text
    webhook_id = uuid.UUID(made.json()["id"])
    webhook = session.get(Webhook, webhook_id)
    assert webhook is not None
    webhook.secret = foreign_seal(made.json()["secret"])
    original = WebhookDelivery(
        webhook_id=webhook_id,
        message_id="msg_1",
        change_type="activity",
        record_id=uuid.uuid4(),
        change_seq=1,
        deleted=True,
        outcome="failed",
    )
    session.add_all([webhook, original])
    session.flush()
    again = anonymous_client.post(
        f"/v1/webhooks/{webhook_id}/deliveries/{original.id}/redeliver",
        headers={**admin, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert again.status_code == 201, again.text
    answer = again.json()
    assert (answer["outcome"], answer["error"], answer["trigger"]) == ("refused", CANNOT_SIGN, "redelivery")
