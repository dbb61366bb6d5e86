"""Ratifications ship as reference data, with their provenance.

`origin` tells the shipped rows (app/seed/untc-ratifications.csv, kept by `workplan seed`) from
the ones an editor created or changed (which a seed never touches); existing rows were typed in,
so they are the editor's. `sources` and `confidence` are the data's own, verbatim;
`entry_into_force_published` the date a source prints, where one does; `disputed` the fields whose
sources give two values, with both ({field: [a, b]}), the field itself left null.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "ratification"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("sources", sa.String(length=20000), nullable=True))
    op.add_column(TABLE, sa.Column("confidence", sa.String(length=40), nullable=True))
    op.add_column(TABLE, sa.Column("entry_into_force_published", sa.Date(), nullable=True))
    op.add_column(TABLE, sa.Column("disputed", sa.JSON(), nullable=True))
    # The rows already there were typed in: the editor's.
    op.add_column(TABLE, sa.Column("origin", sa.String(length=10), server_default="editor", nullable=False))


def downgrade() -> None:
    # In place on both databases (SQLite 3.35+ drops a column), keeping the change-feed triggers.
    for column in ("origin", "disputed", "entry_into_force_published", "confidence", "sources"):
        op.drop_column(TABLE, column)
