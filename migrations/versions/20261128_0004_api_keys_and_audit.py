"""Access: API keys (stored as hashes) and the audit log.

`api_key` keeps a key's public id and a SHA-256 of its secret, never the key. `audit_entry`
has one row per write to a record: who (key id, or cli/seed/import), when, the action, and each
changed field before and after (JSON).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_key",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["partner_id"], ["partner.id"], name=op.f("fk_api_key_partner_id_partner")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
    )
    op.create_index("uq_api_key_key_id", "api_key", ["key_id"], unique=True)
    op.create_index("ix_api_key_partner_id", "api_key", ["partner_id"])
    op.create_table(
        "audit_entry",
        # INTEGER on SQLite: only an INTEGER PRIMARY KEY numbers rows by itself there.
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), sa.Identity(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("record_type", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entry")),
    )
    op.create_index("ix_audit_entry_record", "audit_entry", ["record_type", "record_id", "seq"])
    op.create_index("ix_audit_entry_actor", "audit_entry", ["actor", "seq"])
    op.create_index("ix_audit_entry_at", "audit_entry", ["at"])


def downgrade() -> None:
    op.drop_index("ix_audit_entry_at", "audit_entry")
    op.drop_index("ix_audit_entry_actor", "audit_entry")
    op.drop_index("ix_audit_entry_record", "audit_entry")
    op.drop_table("audit_entry")
    op.drop_index("ix_api_key_partner_id", "api_key")
    op.drop_index("uq_api_key_key_id", "api_key")
    op.drop_table("api_key")
