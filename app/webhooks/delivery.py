"""One delivery of one feed item to one subscription: its bytes, its Standard Webhooks headers, the
attempt, and the row that records it.

The body is the feed item exactly as `GET /v1/changes` serves it (`type`, `id`, `change_seq`,
`deleted`, `data`), so a receiver may apply pushes and polls alike. `webhook-id` is the same for
every attempt at one change of one record (derived from the subscription, the type, the record and
its `change_seq`), so that a receiver de-duplicates retries and redeliveries; `webhook-timestamp`
is the time of the attempt, as the specification asks. While a rotated secret's grace lasts, the
previous secret signs too: `webhook-signature` carries both, space-separated.
"""

import contextlib
import functools
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import httpx
from standardwebhooks import Webhook as Signer

from app.models.webhooks import DeliveryOutcome, Webhook, WebhookDelivery
from app.reads import PrivateReaders, Reader, to_json
from app.records import as_utc, utcnow
from app.webhooks import targets
from app.webhooks.secrets import open_secret

USER_AGENT = "workplan-webhooks/1 (+https://www.standardwebhooks.com/)"
NAMESPACE = uuid.UUID("1b0e4c63-7b4c-4c41-9d1e-4e0a43bb5a52")  # of message ids; never change it

Item = Mapping[str, Any]


def message_id(webhook_id: uuid.UUID, type_name: str, record_id: str | uuid.UUID, change_seq: int) -> str:
    """The `webhook-id` of one change to one record, for one subscription: stable across retries."""
    return "msg_" + uuid.uuid5(NAMESPACE, f"{webhook_id}/{type_name}/{record_id}/{change_seq}").hex


CANNOT_SIGN = "the signing secret cannot be decrypted: the service's secret key changed; rotate the secret"


class SecretUnreadable(Exception):
    """A stored secret sealed under another service key (`WORKPLAN_SECRET_KEY` changed since)."""


@functools.lru_cache(maxsize=512)
def _signer(sealed: str) -> Signer:
    """By the stored (encrypted) secret: a subscription's next delivery skips the decryption."""
    try:
        secret = open_secret(sealed)
    except ValueError:
        raise SecretUnreadable from None
    return Signer(secret)


def signature(webhook: Webhook, msg_id: str, at: datetime, body: bytes) -> str:
    """`webhook-signature`: by the current secret, and by the previous one while its grace lasts.

    SecretUnreadable if the current secret cannot be decrypted. A previous secret that cannot be is
    left out: after the service's key changed, the secret rotated as told signs on its own."""
    signatures = [_signer(webhook.secret).sign(msg_id, at, body)]
    expires = webhook.previous_secret_expires_at
    if webhook.previous_secret and expires is not None and as_utc(expires) > at:
        with contextlib.suppress(SecretUnreadable):
            signatures.append(_signer(webhook.previous_secret).sign(msg_id, at, body))
    return " ".join(signatures)


def headers_for(webhook: Webhook, msg_id: str, at: datetime, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature(webhook, msg_id, at, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def reader_for(webhook: Webhook) -> Callable[[PrivateReaders], Reader]:
    """How a subscription reads private fields: an admin's (no partner) as an admin, a partner's as
    that partner's key reads them (on its own partner's records only)."""
    partner_id = webhook.partner_id
    if partner_id is None:
        return lambda readers: readers.full
    return lambda readers: readers.owned_by(partner_id)


def send(client: httpx.Client, webhook: Webhook, item: Item, *, trigger: str, attempt: int = 1) -> WebhookDelivery:
    """One attempt, signed at the time it is made; the row recording it, not yet added."""
    at = utcnow()
    msg_id = message_id(webhook.id, item["type"], item["id"], item["change_seq"])
    body = to_json(item)
    try:
        headers = headers_for(webhook, msg_id, at, body)
    except SecretUnreadable:
        # Recorded as any attempt that went nowhere: the dispatcher backs off and, in the end,
        # disables the subscription with this reason; a redelivery answers it.
        result = targets.Attempt(DeliveryOutcome.REFUSED, None, None, CANNOT_SIGN, 0)
    else:
        result = targets.deliver(client, webhook.url, body, headers)
    return WebhookDelivery(
        webhook_id=webhook.id,
        message_id=msg_id,
        change_type=item["type"],
        record_id=uuid.UUID(str(item["id"])),
        change_seq=item["change_seq"],
        deleted=item["deleted"],
        trigger=trigger,
        attempt=attempt,
        at=at,
        duration_ms=result.duration_ms,
        outcome=result.outcome,
        response_status=result.status,
        response_excerpt=result.excerpt[:1000] if result.excerpt is not None else None,
        error=result.error[:500] if result.error is not None else None,
    )
