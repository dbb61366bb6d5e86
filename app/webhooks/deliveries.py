"""`/v1/webhooks/{id}/deliveries`: every attempt made to a subscription, one redelivered on demand,
and a replay of the feed from a `change_seq`.

A subscription's attempts are its owner's to read (app/webhooks/access.py: an admin's key any
subscription's, a partner's key its own; another's answers 404).
"""

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select
from starlette.responses import Response

from app.access.keys import caller
from app.db import ReadSessionDep, SessionDep, get_database, tag
from app.errors import ErrorItem, NotFound, ValidationFailed, problems
from app.http import json_response, page_response
from app.lists import Page, PageParams, SortKey, keyset_page
from app.models.webhooks import DeliveryOutcome, DeliveryTrigger, Webhook, WebhookDelivery
from app.records import Timestamp, as_utc, utcnow
from app.sync.feed import end_of, head, record_item
from app.webhooks import targets
from app.webhooks.access import load_webhook
from app.webhooks.delivery import reader_for, send
from app.webhooks.service import delivered_through
from app.writes.idempotency import Claim, IdempotencyDep, Replay, idempotency_claim, remember, take_claim

router = APIRouter(tags=["Webhooks"])


class DeliveriesParams(PageParams):
    outcome: DeliveryOutcome | None = Field(default=None, description="Only attempts with this outcome.")


class WebhookDeliveryPublic(BaseModel):
    """One attempt to deliver one change."""

    id: uuid.UUID
    message_id: str = Field(description="Its `webhook-id` header: the same on every attempt at the same change.")
    type: str = Field(description="The record type of the change.")
    record_id: uuid.UUID
    change_seq: int
    deleted: bool = Field(description="A tombstone was delivered.")
    trigger: DeliveryTrigger
    attempt: int = Field(description="1 for the first attempt at this change, then one more per retry.")
    at: Timestamp
    duration_ms: int
    outcome: DeliveryOutcome = Field(
        description="delivered (2xx), failed (another status, or no connection), timeout, refused (the address "
        "is not one deliveries may go to), gone (410: the subscription was disabled)."
    )
    response_status: int | None
    response_excerpt: str | None = Field(description="The first 1,000 characters of the receiver's answer.")
    error: str | None

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> "WebhookDeliveryPublic":
        return cls(
            id=delivery.id,
            message_id=delivery.message_id,
            type=delivery.change_type,
            record_id=delivery.record_id,
            change_seq=delivery.change_seq,
            deleted=delivery.deleted,
            trigger=delivery.trigger,
            attempt=delivery.attempt,
            at=as_utc(delivery.at),
            duration_ms=delivery.duration_ms,
            outcome=delivery.outcome,
            response_status=delivery.response_status,
            response_excerpt=delivery.response_excerpt,
            error=delivery.error,
        )


class Redelivery(WebhookDeliveryPublic):
    changed_since: bool = Field(
        description="The record changed after the change redelivered: its current state was delivered instead "
        "(a later change_seq, so another webhook-id)."
    )


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"from_change_seq": 1200}]})

    from_change_seq: int = Field(ge=0, description="Deliver again every change with this change_seq or a later one.")


class ReplayAccepted(BaseModel):
    webhook_id: uuid.UUID
    from_change_seq: int
    position_seq: int = Field(description="The subscription's new position: it has had everything up to this stamp.")


# Newest first.
KEYS = (
    SortKey("at", col(WebhookDelivery.at), True, False, datetime),
    SortKey("id", col(WebhookDelivery.id), True, False, uuid.UUID),
)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=Page[WebhookDeliveryPublic],
    responses=problems(400, 401, 403, 404, 422),
)
def list_deliveries(
    request: Request, session: ReadSessionDep, webhook_id: uuid.UUID, params: Annotated[DeliveriesParams, Query()]
) -> Response:
    """Every attempt to deliver a change to this subscription, newest first.

    Each with when, how long, the outcome, and the receiver's status and first bytes of its answer.
    Failed attempts of one change share its `message_id` (the `webhook-id` header)."""
    webhook = load_webhook(session, caller(request), webhook_id)
    statement = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    if params.outcome is not None:
        statement = statement.where(WebhookDelivery.outcome == params.outcome)
    found, next_cursor = keyset_page(session, statement, KEYS, params)
    page = Page[WebhookDeliveryPublic](items=[WebhookDeliveryPublic.of(d) for d in found], next_cursor=next_cursor)
    return page_response(request, page.model_dump(mode="json"), next_cursor)


def _delivery(session: Session, webhook: Webhook, delivery_id: uuid.UUID) -> WebhookDelivery:
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.webhook_id != webhook.id:
        raise NotFound(f"No delivery with id {delivery_id} to this webhook.")
    return delivery


@router.get(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}",
    response_model=WebhookDeliveryPublic,
    responses=problems(401, 403, 404, 422),
)
def get_delivery(request: Request, session: ReadSessionDep, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> Response:
    """One attempt."""
    webhook = load_webhook(session, caller(request), webhook_id)
    return json_response(request, WebhookDeliveryPublic.of(_delivery(session, webhook, delivery_id)))


def current_item(session: Session, webhook: Webhook, delivery: WebhookDelivery) -> dict[str, Any]:
    """The feed item of the delivery's record as it is now, as the subscription reads it: its
    current state, a tombstone if it was deleted, or the delivery's own tombstone if it was purged."""
    item = record_item(session, delivery.change_type, delivery.record_id, reader_for(webhook))
    if item is not None:
        return item
    return {
        "type": delivery.change_type,
        "id": str(delivery.record_id),
        "change_seq": delivery.change_seq,
        "deleted": True,
        "data": None,
    }


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    response_model=Redelivery,
    status_code=201,
    responses=problems(400, 401, 403, 404, 409, 422),
)
def redeliver_delivery(
    request: Request,
    claim: Annotated[Claim | None, Depends(idempotency_claim)],
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
) -> Response:
    """Attempt this delivery's change again, now, and answer the new attempt, whatever its outcome.

    If the record has changed since, its current state is delivered (`changed_since`), as the feed
    would. The subscription's position and retries are left as they are."""
    # No transaction is open while the receiver answers (up to the webhook timeout): on SQLite it
    # would hold every writer of the service back, on PostgreSQL a connection and a row. So: a short
    # write that answers a retried key at once, a short read of what to send, the attempt, and a
    # short write recording it (and claiming the key again: a retry that ran meanwhile answered first).
    database = get_database(request)
    principal = caller(request)
    if claim is not None:
        with tag(database.session(write=True), request) as session, session.begin():
            take_claim(session, claim)
    with database.session() as session, session.begin():
        webhook = load_webhook(session, principal, webhook_id)
        delivery = _delivery(session, webhook, delivery_id)
        item = current_item(session, webhook, delivery)
        session.expunge_all()
    with targets.new_client() as client:
        made = send(client, webhook, item, trigger=DeliveryTrigger.REDELIVERY)
    answer = Redelivery(
        **WebhookDeliveryPublic.of(made).model_dump(), changed_since=item["change_seq"] != delivery.change_seq
    )
    response = json_response(request, answer, status_code=201)
    replay: Replay | None = None
    with tag(database.session(write=True), request) as session, session.begin():
        if session.get(Webhook, webhook.id) is None:
            raise NotFound(f"The webhook {webhook_id} was deleted while its delivery was attempted.")
        session.add(made)
        try:
            if claim is not None:
                take_claim(session, claim)
        except Replay as first:
            # Another request with this key recorded its attempt meanwhile: ours is recorded too, its answered.
            replay = first
        else:
            remember(session, claim, response)
    if replay is not None:
        raise replay
    return response


class BeyondTheFeed(ValidationFailed):
    """A replay from a stamp the feed has not reached: how far it has is stored data, not a schema."""

    code = "BEYOND_THE_FEED"


@router.post(
    "/webhooks/{webhook_id}/replay",
    response_model=ReplayAccepted,
    status_code=202,
    responses=problems(400, 401, 403, 404, 409, 422),
)
def replay_webhook(
    request: Request, idempotency: IdempotencyDep, session: SessionDep, webhook_id: uuid.UUID, body: ReplayRequest
) -> Response:
    """Deliver again every change from `from_change_seq` on.

    Each under its usual webhook-id, so that a receiver that kept them may skip them: the
    subscription's position moves back, and the dispatcher delivers from there, in order. A
    dispatcher delivering it now stops at once. 422 BEYOND_THE_FEED past the feed's head."""
    webhook = load_webhook(session, caller(request), webhook_id, for_update=True)
    last = head(session)
    if body.from_change_seq > last:
        raise BeyondTheFeed(
            f"The feed ends at change_seq {last}: there is nothing from {body.from_change_seq} to replay.",
            errors=[
                ErrorItem.model_validate(
                    {"in": "body", "pointer": "/from_change_seq", "message": f"must be at most {last}"}
                )
            ],
        )
    start = end_of(body.from_change_seq - 1)
    webhook.position_seq, webhook.position_type, webhook.position_id = start.seq, start.type, start.id
    # Whoever held the lease loses it (its position updates are fenced by the token).
    webhook.lease_token = webhook.lease_until = None
    webhook.next_attempt_at = utcnow()
    webhook.failures, webhook.failing_since = 0, None
    webhook.updated_at = utcnow()
    session.add(webhook)
    session.flush()
    accepted = ReplayAccepted(
        webhook_id=webhook.id, from_change_seq=body.from_change_seq, position_seq=delivered_through(webhook)
    )
    return remember(session, idempotency, json_response(request, accepted, status_code=202))
