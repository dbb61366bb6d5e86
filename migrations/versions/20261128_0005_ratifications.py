"""Ratifications: which States are party to the CRC and its protocols, and since when.

One live row per (country, instrument). `entry_into_force_override` is null unless the depositary
records another date than the treaty arithmetic (app/calendar/rules.py) gives. Stamped for
`/v1/changes` like every record table (the triggers of 0003, recreated here for the new table).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "ratification"
LIVE = "deleted_at IS NULL"


def _sqlite_triggers() -> list[str]:
    # The same statements as 0003's _sqlite_triggers (a migration must not import another).
    stamp = (
        "UPDATE sync_state SET change_seq = change_seq + 1 WHERE id = 1; "
        f"UPDATE {TABLE} SET change_seq = (SELECT change_seq FROM sync_state WHERE id = 1) "
        "WHERE rowid = new.rowid; "
    )
    return [
        f"CREATE TRIGGER {TABLE}_stamp_insert AFTER INSERT ON {TABLE} BEGIN {stamp}END",
        f"CREATE TRIGGER {TABLE}_stamp_update AFTER UPDATE ON {TABLE} "
        f"WHEN new.change_seq IS old.change_seq BEGIN {stamp}END",
    ]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        TABLE,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("instrument", sa.String(length=10), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("deposited_on", sa.Date(), nullable=False),
        sa.Column("entry_into_force_override", sa.Date(), nullable=True),
        sa.Column("reservations", sa.String(length=20000), nullable=True),
        sa.Column("source", sa.String(length=300), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("change_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ratification")),
    )
    op.create_index("ix_ratification_change_seq_id", TABLE, ["change_seq", "id"])
    op.create_index(
        "uq_ratification_country_instrument_live",
        TABLE,
        ["country", "instrument"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )
    op.create_index("ix_ratification_instrument", TABLE, ["instrument"])
    op.create_index("ix_ratification_deposited_on", TABLE, ["deposited_on"])
    op.create_index("ix_ratification_updated_at", TABLE, ["updated_at"])
    op.create_index("ix_ratification_created_at", TABLE, ["created_at"])
    if sqlite:
        for statement in _sqlite_triggers():
            op.execute(statement)
    else:
        op.execute(
            f"CREATE TRIGGER {TABLE}_stamp BEFORE INSERT OR UPDATE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION workplan_stamp()"
        )


def downgrade() -> None:
    # Dropping the table drops its triggers and indexes with it, on both databases.
    op.drop_table(TABLE)
