"""The tables that make sync safe: the change counter and the idempotency keys."""

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel


class SyncState(SQLModel, table=True):
    """One row. `change_seq` is the counter every write transaction increments and holds until it
    commits (the stamping triggers do it), so stamps become visible in the order they were taken.
    `epoch` names this database: a cursor from another one (a restored backup, a copy) is refused.
    `purged_seq` is the highest stamp of a tombstone that `workplan purge-tombstones` removed: a
    cursor before it may have missed a deletion."""

    __tablename__ = "sync_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: int = Field(default=1, primary_key=True)
    epoch: uuid.UUID
    change_seq: int = Field(default=0, sa_type=BigInteger)
    purged_seq: int = Field(default=0, sa_type=BigInteger)
    purged_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class IdempotencyKey(SQLModel, table=True):
    """A POST's Idempotency-Key and the response to replay, stored in the same transaction as the
    write. While the first request runs, its transaction holds the key (app/writes/idempotency.py)."""

    __tablename__ = "idempotency_key"
    __table_args__ = (Index("ix_idempotency_key_expires_at", "expires_at"),)

    # Who sent it (the API key's key_id) and the key itself: keys are per caller.
    principal: str = Field(default="", primary_key=True, max_length=64)
    key: str = Field(primary_key=True, max_length=255)
    fingerprint: str = Field(max_length=64, description="SHA-256 of the method, path and body.")
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
    response_status: int
    response_headers: str = Field(sa_type=Text)
    response_body: bytes = Field(sa_type=LargeBinary)


__all__ = ["IdempotencyKey", "SyncState"]
