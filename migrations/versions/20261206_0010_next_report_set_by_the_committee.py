"""Concluding observations set the date and the cycles of the next report.

`government_report.next_report_due_date`, `next_report_cycle_from`, `next_report_cycle_to`: what
the observations on this report (`concluding_observations_symbol`) asked for ("the fifth and sixth
combined reports by 22 February 2018"). The calendar takes that date for those cycles, with the
symbol as its source (DOMAIN.md, "The Committee's date wins").

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "government_report"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("next_report_due_date", sa.Date(), nullable=True))
    op.add_column(TABLE, sa.Column("next_report_cycle_from", sa.Integer(), nullable=True))
    op.add_column(TABLE, sa.Column("next_report_cycle_to", sa.Integer(), nullable=True))


def downgrade() -> None:
    # In place on both databases (SQLite 3.35+ drops a column), keeping the change-feed triggers.
    for column in ("next_report_cycle_to", "next_report_cycle_from", "next_report_due_date"):
        op.drop_column(TABLE, column)
