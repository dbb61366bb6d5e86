"""API keys and the audit log."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Identity, Index, Integer, String
from sqlmodel import Column, Field, SQLModel

from app.records import utcnow


class Role(StrEnum):
    """From least to most: each role may do what the ones before it may."""

    READER = "reader"
    PARTNER = "partner"
    EDITOR = "editor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class ApiKey(SQLModel, table=True):
    """A key is `wp_<key_id>_<secret>`. Only a SHA-256 of the secret is kept: the secret is 256 random
    bits, so a slow password hash would add nothing but latency to every request."""

    __tablename__ = "api_key"
    __table_args__ = (Index("uq_api_key_key_id", "key_id", unique=True),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    key_id: str = Field(max_length=16, description="The public part that names the key in logs and lists.")
    secret_hash: str = Field(max_length=64)
    name: str = Field(max_length=200)
    role: Role = Field(sa_type=String(20))
    partner_id: uuid.UUID | None = Field(default=None, foreign_key="partner.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class AuditEntry(SQLModel, table=True):
    """One write to one record: who, when, what, and each changed field's before and after."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_record", "record_type", "record_id", "seq"),
        Index("ix_audit_entry_actor", "actor", "seq"),
        Index("ix_audit_entry_at", "at"),
    )

    # INTEGER on SQLite: only an INTEGER PRIMARY KEY numbers rows by itself there.
    seq: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), Identity(), primary_key=True),
    )
    at: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True))
    actor: str = Field(max_length=64, description="The API key's key_id, or `cli`, `seed`, `import`, `anonymous`.")
    request_id: str | None = Field(default=None, max_length=64)
    action: str = Field(
        max_length=10,
        description=(
            "create, update or delete (of a record or a webhook); create or revoke (of an API key); rotate "
            "(of a webhook's secret)."
        ),
    )
    record_type: str = Field(max_length=40)
    record_id: uuid.UUID
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, description="field: [before, after]")
