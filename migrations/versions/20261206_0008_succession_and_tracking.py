"""A succession takes effect from the date of succession; a State's report history is kept from a date.

`ratification.succession_effective_on` records that date; without it a succession has no entry
into force and the calendar says "date unknown" instead of computing one from the notification
(app/calendar/rules.py, `party_in_force`). `ratification.reports_tracked_from`: from that due
date on the service keeps the State's reports of the instrument, so a passed date with no report
is overdue; elsewhere it is "no report on record" (DOMAIN.md, "Overdue is a claim").

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ratification", sa.Column("succession_effective_on", sa.Date(), nullable=True))
    op.add_column("ratification", sa.Column("reports_tracked_from", sa.Date(), nullable=True))


def downgrade() -> None:
    # In place on both databases (SQLite 3.35+ drops a column), keeping the change-feed triggers.
    op.drop_column("ratification", "reports_tracked_from")
    op.drop_column("ratification", "succession_effective_on")
