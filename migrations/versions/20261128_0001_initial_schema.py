"""Initial schema: work plans, objectives, activities, partners and government reports.

Every record table carries id, version, created_at, updated_at and deleted_at (soft delete);
unique codes are partial indexes over live rows, so a deleted record frees its code.
Enum columns are plain strings: the vocabularies are open and checked by the API.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 19:03:09.580489
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "government_report",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("instrument", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("cycle_from", sa.Integer(), nullable=True),
        sa.Column("cycle_to", sa.Integer(), nullable=True),
        sa.Column("symbol", sa.String(length=300), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("submitted_date", sa.Date(), nullable=True),
        sa.Column("committee_session", sa.Integer(), nullable=True),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column(
            "concluding_observations_symbol", sa.String(length=300), nullable=True
        ),
        sa.Column("concluding_observations_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("analysis", sa.String(length=20000), nullable=True),
        sa.Column("notes", sa.String(length=20000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_government_report")),
    )
    op.create_index(
        "ix_government_report_country_instrument",
        "government_report",
        ["country", "instrument"],
        unique=False,
    )
    op.create_index(
        "ix_government_report_due_date", "government_report", ["due_date"], unique=False
    )
    op.create_index(
        "ix_government_report_updated_at",
        "government_report",
        ["updated_at"],
        unique=False,
    )
    op.create_index(
        "uq_government_report_symbol_live",
        "government_report",
        ["symbol"],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL AND symbol IS NOT NULL"),
        postgresql_where=sa.text("deleted_at IS NULL AND symbol IS NOT NULL"),
    )

    op.create_table(
        "partner",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("acronym", sa.String(length=40), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=True),
        sa.Column("website", sa.String(length=300), nullable=True),
        sa.Column("description", sa.String(length=20000), nullable=True),
        sa.Column("active_from", sa.Date(), nullable=True),
        sa.Column("active_to", sa.Date(), nullable=True),
        sa.Column("mandate_holder", sa.String(length=300), nullable=True),
        sa.Column("contact_name", sa.String(length=300), nullable=True),
        sa.Column("contact_email", sa.String(length=320), nullable=True),
        sa.Column("notes", sa.String(length=20000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner")),
    )
    op.create_index("ix_partner_kind", "partner", ["kind"], unique=False)
    op.create_index("ix_partner_updated_at", "partner", ["updated_at"], unique=False)
    op.create_index(
        "uq_partner_name_live",
        "partner",
        ["name"],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )

    op.create_table(
        "work_plan",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("group_name", sa.String(length=300), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("description", sa.String(length=20000), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_plan")),
    )
    op.create_index(
        "ix_work_plan_updated_at", "work_plan", ["updated_at"], unique=False
    )
    op.create_index(
        "uq_work_plan_code_live",
        "work_plan",
        ["code"],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )

    op.create_table(
        "objective",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("work_plan_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.String(length=20000), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_plan_id"],
            ["work_plan.id"],
            name=op.f("fk_objective_work_plan_id_work_plan"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objective")),
    )
    op.create_index(
        "ix_objective_updated_at", "objective", ["updated_at"], unique=False
    )
    op.create_index(
        "ix_objective_work_plan_id_position",
        "objective",
        ["work_plan_id", "position"],
        unique=False,
    )
    op.create_index(
        "uq_objective_work_plan_id_code_live",
        "objective",
        ["work_plan_id", "code"],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )

    op.create_table(
        "report_article",
        sa.Column("government_report_id", sa.Uuid(), nullable=False),
        sa.Column("instrument", sa.String(length=10), nullable=False),
        sa.Column("article", sa.Integer(), nullable=False),
        sa.Column("assessment", sa.String(length=40), nullable=False),
        sa.Column("note", sa.String(length=20000), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["government_report_id"],
            ["government_report.id"],
            name=op.f("fk_report_article_government_report_id_government_report"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "government_report_id",
            "instrument",
            "article",
            name=op.f("pk_report_article"),
        ),
    )
    op.create_table(
        "report_monitor",
        sa.Column("government_report_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["government_report_id"],
            ["government_report.id"],
            name=op.f("fk_report_monitor_government_report_id_government_report"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner.id"],
            name=op.f("fk_report_monitor_partner_id_partner"),
        ),
        sa.PrimaryKeyConstraint(
            "government_report_id", "partner_id", name=op.f("pk_report_monitor")
        ),
    )
    op.create_index(
        op.f("ix_report_monitor_partner_id"),
        "report_monitor",
        ["partner_id"],
        unique=False,
    )

    op.create_table(
        "activity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("objective_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.String(length=20000), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("level", sa.String(length=40), nullable=True),
        sa.Column("planned_start", sa.Date(), nullable=True),
        sa.Column("planned_end", sa.Date(), nullable=True),
        sa.Column("actual_start", sa.Date(), nullable=True),
        sa.Column("actual_end", sa.Date(), nullable=True),
        sa.Column("work_plan_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["objective_id"],
            ["objective.id"],
            name=op.f("fk_activity_objective_id_objective"),
        ),
        sa.ForeignKeyConstraint(
            ["work_plan_id"],
            ["work_plan.id"],
            name=op.f("fk_activity_work_plan_id_work_plan"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activity")),
    )
    op.create_index(
        "ix_activity_objective_id", "activity", ["objective_id"], unique=False
    )
    op.create_index(
        "ix_activity_status_updated_at",
        "activity",
        ["status", "updated_at"],
        unique=False,
    )
    op.create_index("ix_activity_updated_at", "activity", ["updated_at"], unique=False)
    op.create_index(
        "uq_activity_work_plan_id_code_live",
        "activity",
        ["work_plan_id", "code"],
        unique=True,
        sqlite_where=sa.text("deleted_at IS NULL"),
        postgresql_where=sa.text("deleted_at IS NULL"),
    )

    op.create_table(
        "activity_country",
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activity.id"],
            name=op.f("fk_activity_country_activity_id_activity"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "activity_id", "country", name=op.f("pk_activity_country")
        ),
    )
    op.create_index(
        op.f("ix_activity_country_country"),
        "activity_country",
        ["country"],
        unique=False,
    )

    op.create_table(
        "activity_government_report",
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("government_report_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activity.id"],
            name=op.f("fk_activity_government_report_activity_id_activity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["government_report_id"],
            ["government_report.id"],
            name=op.f(
                "fk_activity_government_report_government_report_id_government_report"
            ),
        ),
        sa.PrimaryKeyConstraint(
            "activity_id",
            "government_report_id",
            name=op.f("pk_activity_government_report"),
        ),
    )
    op.create_index(
        op.f("ix_activity_government_report_government_report_id"),
        "activity_government_report",
        ["government_report_id"],
        unique=False,
    )

    op.create_table(
        "activity_participant",
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["activity.id"],
            name=op.f("fk_activity_participant_activity_id_activity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partner.id"],
            name=op.f("fk_activity_participant_partner_id_partner"),
        ),
        sa.PrimaryKeyConstraint(
            "activity_id", "partner_id", "role", name=op.f("pk_activity_participant")
        ),
    )
    op.create_index(
        op.f("ix_activity_participant_partner_id"),
        "activity_participant",
        ["partner_id"],
        unique=False,
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; children go before their parents.
    op.drop_table("activity_participant")
    op.drop_table("activity_government_report")
    op.drop_table("activity_country")
    op.drop_table("activity")
    op.drop_table("report_monitor")
    op.drop_table("report_article")
    op.drop_table("objective")
    op.drop_table("work_plan")
    op.drop_table("partner")
    op.drop_table("government_report")
