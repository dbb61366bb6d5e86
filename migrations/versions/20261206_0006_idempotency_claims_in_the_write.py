"""Idempotency-Key claims live in the request's write transaction, not in rows of their own.

A claim used to be a row committed before the write (`claim`, `locked_until`, no response yet),
which a crashed worker left behind for its five-minute lease. Now the write's transaction holds the
key (app/sync/idempotency.py) and a row is only ever written with its response: the claim columns
go, the response columns become required, and rows still without a response (claims of the old
code, which this schema no longer serves) are deleted: a retry of their request runs again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "idempotency_key"
RESPONSE = {
    "response_status": sa.Integer(),
    "response_headers": sa.Text(),
    "response_body": sa.LargeBinary(),
}


def upgrade() -> None:
    op.execute(f"DELETE FROM {TABLE} WHERE response_status IS NULL")
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("claim")
        batch.drop_column("locked_until")
        for name, type_ in RESPONSE.items():
            batch.alter_column(name, existing_type=type_, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column("claim", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        for name, type_ in RESPONSE.items():
            batch.alter_column(name, existing_type=type_, nullable=True)
    # Every row holds a response, which no claim token of 0005's code is ever compared against.
    op.execute(f"UPDATE {TABLE} SET claim = ''")
    with op.batch_alter_table(TABLE) as batch:
        batch.alter_column("claim", existing_type=sa.String(length=32), nullable=False)
