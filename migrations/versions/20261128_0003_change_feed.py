"""Sync: change stamps stamped by the database, idempotency keys, partner-owned references.

Change stamps. Every record table gets `change_seq`, which the database sets on every insert and
update through triggers, so every write path stamps: the API, import, seed, the command line, raw
SQL and later migrations. The stamp comes from the single row of `sync_state`, which the writing
transaction increments and so holds locked until it commits: a transaction that takes a later stamp
waits for the earlier one to commit, so stamps become visible in the order they were taken and a
reader that has seen stamp N will never later find a new row at N or below (the guarantee of
`GET /v1/changes`).

- PostgreSQL: one BEFORE INSERT OR UPDATE trigger per table calls `workplan_stamp()`. A transaction
  takes one stamp for all its rows (kept in the transaction-local setting `workplan.change_seq`),
  so a bulk import does not update the counter row once per row.
- SQLite: writers are serialised by the database itself; an AFTER INSERT and an AFTER UPDATE
  trigger per table take a new stamp per row (SQLite has no transaction-local state a trigger can
  read). The update trigger fires only when the statement did not set change_seq itself, which is
  how the insert trigger's own UPDATE avoids stamping twice.

Rows that exist when this runs are stamped 1, and the counter starts at 1. `epoch` is new for each
database: a cursor issued by another database (a restored copy) is refused with 410.

A later migration that rebuilds one of these tables in batch mode on SQLite drops its triggers: it
must recreate them (see `_sqlite_triggers`), as for the full-text triggers of 0002.

Also:
- `owner_partner_id` and `external_ref` on activities and government reports, unique per owner
  among live records, for `PUT /v1/<collection>/by-ref/{external_ref}`.
- `idempotency_key`: POST responses kept for replay under the client's `Idempotency-Key`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 21:40:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SYNCED = ("work_plan", "objective", "activity", "partner", "government_report")
OWNED = ("activity", "government_report")

PG_STAMP_FUNCTION = """
CREATE FUNCTION workplan_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    seq bigint := nullif(current_setting('workplan.change_seq', true), '')::bigint;
BEGIN
    IF seq IS NULL THEN
        UPDATE sync_state SET change_seq = change_seq + 1 WHERE id = 1 RETURNING change_seq INTO seq;
        PERFORM set_config('workplan.change_seq', seq::text, true);
    END IF;
    NEW.change_seq := seq;
    RETURN NEW;
END
$$
"""


def _sqlite_triggers(table: str) -> list[str]:
    stamp = (
        "UPDATE sync_state SET change_seq = change_seq + 1 WHERE id = 1; "
        f"UPDATE {table} SET change_seq = (SELECT change_seq FROM sync_state WHERE id = 1) "
        "WHERE rowid = new.rowid; "
    )
    return [
        f"CREATE TRIGGER {table}_stamp_insert AFTER INSERT ON {table} BEGIN {stamp}END",
        f"CREATE TRIGGER {table}_stamp_update AFTER UPDATE ON {table} "
        f"WHEN new.change_seq IS old.change_seq BEGIN {stamp}END",
    ]


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    sync_state = op.create_table(
        "sync_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Uuid(), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("purged_seq", sa.BigInteger(), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_sync_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_state")),
    )
    op.bulk_insert(sync_state, [{"id": 1, "epoch": uuid.uuid4(), "change_seq": 1, "purged_seq": 0}])

    for table in SYNCED:
        op.add_column(table, sa.Column("change_seq", sa.BigInteger(), server_default=sa.text("0"), nullable=False))
        op.execute(f"UPDATE {table} SET change_seq = 1")
        op.create_index(f"ix_{table}_change_seq_id", table, ["change_seq", "id"])

    for table in OWNED:
        # SQLite adds a column with a REFERENCES clause in place; Alembic's add_column would
        # ask for a table rebuild (which would drop the full-text triggers of 0002).
        if sqlite:
            op.execute(f"ALTER TABLE {table} ADD COLUMN owner_partner_id CHAR(32) REFERENCES partner (id)")
            op.execute(f"ALTER TABLE {table} ADD COLUMN external_ref VARCHAR(200)")
        else:
            op.add_column(table, sa.Column("owner_partner_id", sa.Uuid(), nullable=True))
            op.add_column(table, sa.Column("external_ref", sa.String(length=200), nullable=True))
            op.create_foreign_key(
                f"fk_{table}_owner_partner_id_partner", table, "partner", ["owner_partner_id"], ["id"]
            )
        op.create_index(f"ix_{table}_owner_partner_id", table, ["owner_partner_id"])
        op.create_index(
            f"uq_{table}_owner_partner_id_external_ref_live",
            table,
            ["owner_partner_id", "external_ref"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL AND external_ref IS NOT NULL"),
            postgresql_where=sa.text("deleted_at IS NULL AND external_ref IS NOT NULL"),
        )

    if sqlite:
        for table in SYNCED:
            for statement in _sqlite_triggers(table):
                op.execute(statement)
    else:
        op.execute(PG_STAMP_FUNCTION)
        for table in SYNCED:
            op.execute(
                f"CREATE TRIGGER {table}_stamp BEFORE INSERT OR UPDATE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION workplan_stamp()"
            )

    op.create_table(
        "idempotency_key",
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("claim", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("response_headers", sa.Text(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("principal", "key", name=op.f("pk_idempotency_key")),
    )
    op.create_index("ix_idempotency_key_expires_at", "idempotency_key", ["expires_at"])


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index("ix_idempotency_key_expires_at", "idempotency_key")
    op.drop_table("idempotency_key")
    for table in SYNCED:
        if sqlite:
            op.execute(f"DROP TRIGGER {table}_stamp_insert")
            op.execute(f"DROP TRIGGER {table}_stamp_update")
        else:
            op.execute(f"DROP TRIGGER {table}_stamp ON {table}")
    if not sqlite:
        op.execute("DROP FUNCTION workplan_stamp()")
    for table in OWNED:
        op.drop_index(f"uq_{table}_owner_partner_id_external_ref_live", table)
        op.drop_index(f"ix_{table}_owner_partner_id", table)
        if not sqlite:
            op.drop_constraint(f"fk_{table}_owner_partner_id_partner", table, type_="foreignkey")
        # Plain DROP COLUMN on SQLite (3.35+) too: a batch rebuild would drop the full-text
        # triggers of 0002, and the drop of the parent table would cascade to its child rows.
        op.execute(f"ALTER TABLE {table} DROP COLUMN external_ref")
        op.execute(f"ALTER TABLE {table} DROP COLUMN owner_partner_id")
    for table in SYNCED:
        op.drop_index(f"ix_{table}_change_seq_id", table)
        op.execute(f"ALTER TABLE {table} DROP COLUMN change_seq")
    op.drop_table("sync_state")
