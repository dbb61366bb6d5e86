import uuid
from typing import Any

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from app.records import Code, InputModel, LongText, RecordPublic, RecordTable, Title, change_seq_index

EXAMPLE: dict[str, Any] = {
    "work_plan_id": "c49feba7-c386-510d-ab94-6b54f43d719d",
    "code": "5",
    "title": "Committee on the Rights of the Child",
    "description": (
        "Continued monitoring of government reports to the Committee, through the Focal Point and "
        "subgroup members, will be an ongoing commitment, as well as a thematic analysis of issues "
        "related to the sexual exploitation of children in order to ensure that respective countries "
        "comply with the CRC articles."
    ),
    "position": 5,
}


class ObjectiveBase(SQLModel):
    work_plan_id: uuid.UUID = Field(
        foreign_key="work_plan.id", description="The work plan it belongs to; fixed once created."
    )
    code: Code = Field(max_length=40, description='Unique within its work plan, e.g. "5".')
    title: Title = Field(max_length=300)
    description: LongText | None = Field(default=None, max_length=20_000)
    position: int = Field(default=0, ge=0, le=10_000, description="Order within the plan.")


class Objective(ObjectiveBase, RecordTable, table=True):
    __tablename__ = "objective"
    __table_args__ = (
        change_seq_index("objective"),
        Index(
            "uq_objective_work_plan_id_code_live",
            "work_plan_id",
            "code",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_objective_work_plan_id_position", "work_plan_id", "position"),
        Index("ix_objective_updated_at", "updated_at"),
        Index("ix_objective_code", "code"),
        Index("ix_objective_title", "title"),
        Index("ix_objective_created_at", "created_at"),
    )


class ObjectiveCreate(ObjectiveBase, InputModel):
    model_config = {"json_schema_extra": {"examples": [EXAMPLE]}}


class ObjectivePublic(RecordPublic, ObjectiveBase):
    pass


class ObjectiveUpdate(InputModel):
    """JSON Merge Patch: absent fields stay as they are, null clears an optional field."""

    model_config = {"json_schema_extra": {"examples": [{"position": 2}]}}

    work_plan_id: uuid.UUID | None = Field(default=None, description="May only repeat the current plan.")
    code: Code | None = None
    title: Title | None = None
    description: LongText | None = None
    position: int | None = Field(default=None, ge=0, le=10_000)
