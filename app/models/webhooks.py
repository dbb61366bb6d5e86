"""Push: webhook subscriptions and every delivery attempt made to them.

A subscription keeps its own position in the change feed (`position_*`, the same (change_seq, type,
id) triple a feed cursor carries). A dispatcher leases a subscription (`lease_token` until
`lease_until`), delivers the changes after its position in feed order, and moves the position only
after the receiver answered 2xx and only while it still holds the lease: a dispatcher killed
mid-delivery leaves the position where it was, and the next one redelivers under the same
`webhook-id`. A new subscription starts at (head + 1, "", None), the head being
`sync_state.change_seq` when it was made: just before anything stamped after it, so it hears of
the changes made after it and none before. The signing secrets are stored encrypted
(app/webhooks/secrets.py), never in plain text.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Text
from sqlmodel import Field, SQLModel

from app.records import utcnow


class DeliveryOutcome(StrEnum):
    """What came of one attempt: delivered (2xx), failed (another status, or no connection),
    timeout, refused (an address deliveries may not go to, or a secret that cannot sign), gone (410)."""

    DELIVERED = "delivered"
    FAILED = "failed"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    GONE = "gone"


class DeliveryTrigger(StrEnum):
    """What made an attempt: the dispatcher's first, its retry after a failure, or a redelivery asked for."""

    DISPATCH = "dispatch"
    RETRY = "retry"
    REDELIVERY = "redelivery"


class Webhook(SQLModel, table=True):
    __tablename__ = "webhook"
    __table_args__ = (
        Index("ix_webhook_partner_id", "partner_id"),
        # What a dispatcher looks for: active subscriptions due for work, soonest first.
        Index("ix_webhook_active_next_attempt_at", "active", "next_attempt_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    url: str = Field(max_length=2000)
    types: list[str] = Field(default_factory=list, sa_type=JSON, description="Record types; empty: every type.")
    filter: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, description="List parameters a record matches.")
    description: str | None = Field(default=None, max_length=500)
    active: bool = Field(default=True)
    # A partner key's subscription is its partner's: it reads as that key reads, and only that
    # partner's keys (and admins) manage it. None: an admin's.
    partner_id: uuid.UUID | None = Field(default=None, foreign_key="partner.id")
    created_by: str = Field(max_length=64, description="The key_id that made it, or `cli`.")
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    disabled_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    disabled_reason: str | None = Field(default=None, max_length=500)
    # Fernet tokens of the signing secrets. While a rotation's grace lasts both sign.
    secret: str = Field(sa_type=Text)
    previous_secret: str | None = Field(default=None, sa_type=Text)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # The last change delivered (or skipped by the filter): (change_seq, type, id).
    position_seq: int = Field(default=0, sa_type=BigInteger)
    position_type: str = Field(default="", max_length=40)
    position_id: uuid.UUID | None = None
    # The dispatcher holding it, and until when; a lapsed lease may be taken by another.
    lease_token: uuid.UUID | None = None
    lease_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    # Consecutive failed attempts at the change at the head of its queue, and since when.
    failures: int = Field(default=0)
    failing_since: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class WebhookDelivery(SQLModel, table=True):
    """One attempt to deliver one change to one subscription."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_webhook_id_at", "webhook_id", "at"),
        Index("ix_webhook_delivery_at", "at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    webhook_id: uuid.UUID = Field(foreign_key="webhook.id", ondelete="CASCADE")
    message_id: str = Field(max_length=64, description="The `webhook-id` header: the same on every retry.")
    change_type: str = Field(max_length=40)
    record_id: uuid.UUID
    change_seq: int = Field(sa_type=BigInteger)
    deleted: bool = Field(default=False)
    trigger: str = Field(default="dispatch", max_length=20, description="dispatch, retry or redelivery.")
    attempt: int = Field(default=1)
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    duration_ms: int = Field(default=0)
    outcome: str = Field(max_length=20, description="delivered, failed, timeout, refused or gone.")
    response_status: int | None = None
    response_excerpt: str | None = Field(default=None, max_length=1000)
    error: str | None = Field(default=None, max_length=500)


__all__ = ["DeliveryOutcome", "DeliveryTrigger", "Webhook", "WebhookDelivery"]
