from datetime import date
from typing import Any

from pydantic import ValidationInfo, field_validator
from sqlalchemy import Index, String, text
from sqlmodel import Field, SQLModel

from app.records import (
    Code,
    Day,
    InputModel,
    LongText,
    RecordPublic,
    RecordTable,
    ShortText,
    Title,
    change_seq_index,
    check_order,
)
from app.vocabularies import WorkPlanStatus

EXAMPLE: dict[str, Any] = {
    "code": "2003",
    "title": "2003 Work Plan",
    "group_name": "NGO Group for the CRC, Subgroup against the Sexual Exploitation of Children",
    "period_start": "2003-01-01",
    "period_end": "2003-12-31",
    "status": "adopted",
    "description": None,
}


class WorkPlanBase(SQLModel):
    code: Code = Field(max_length=40, description="Unique human code, e.g. the year.")
    title: Title = Field(max_length=300)
    group_name: ShortText | None = Field(default=None, max_length=300)
    period_start: Day | None = None
    period_end: Day | None = None
    status: WorkPlanStatus = Field(default=WorkPlanStatus.DRAFT, sa_type=String(40))
    description: LongText | None = Field(default=None, max_length=20_000)

    @field_validator("period_end")
    @classmethod
    def _end_after_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        check_order(info.data.get("period_start"), value, "period_start")
        return value


class WorkPlan(WorkPlanBase, RecordTable, table=True):
    __tablename__ = "work_plan"
    __table_args__ = (
        change_seq_index("work_plan"),
        Index(
            "uq_work_plan_code_live",
            "code",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_work_plan_updated_at", "updated_at"),
        Index("ix_work_plan_title", "title"),
        Index("ix_work_plan_status", "status"),
        Index("ix_work_plan_period_start", "period_start"),
        Index("ix_work_plan_period_end", "period_end"),
        Index("ix_work_plan_created_at", "created_at"),
    )


class WorkPlanCreate(WorkPlanBase, InputModel):
    model_config = {"json_schema_extra": {"examples": [EXAMPLE]}}


class WorkPlanPublic(RecordPublic, WorkPlanBase):
    pass


class WorkPlanUpdate(InputModel):
    """JSON Merge Patch: absent fields stay as they are, null clears an optional field."""

    model_config = {"json_schema_extra": {"examples": [{"status": "archived"}]}}

    code: Code | None = None
    title: Title | None = None
    group_name: ShortText | None = None
    period_start: Day | None = None
    period_end: Day | None = None
    status: WorkPlanStatus | None = None
    description: LongText | None = None
