import uuid
from datetime import date
from typing import Any

from pydantic import ValidationInfo, field_validator
from sqlalchemy import Index, String, text
from sqlmodel import Field, Relationship, SQLModel

from app.records import (
    DISTINCT,
    Code,
    CountryCode,
    Day,
    InputModel,
    LongText,
    Owned,
    RecordPublic,
    RecordTable,
    Title,
    change_seq_index,
    check_order,
    owner_ref_index,
)
from app.vocabularies import ActivityLevel, ActivityStatus, ActivityType, ParticipantRole

# The seed's own record (objective 5 of the 2003 plan); the ids are the same on every installation.
EXAMPLE: dict[str, Any] = {
    "objective_id": "de576537-25ea-5ba0-9148-3733718f059c",
    "code": "SEC-2003-5.1",
    "title": "Monitoring of government reports to the Committee, through the Focal Point and subgroup members",
    "description": (
        "Continued monitoring of government reports to the Committee, through the Focal Point and "
        "subgroup members, will be an ongoing commitment."
    ),
    "status": "in_progress",
    "type": "monitoring",
    "level": "international",
    "countries": [],
    "planned_start": "2003-01-01",
    "planned_end": "2003-12-31",
    "actual_start": None,
    "actual_end": None,
    "participants": [
        {"partner_id": "ccff0b3f-1f71-5810-ac3d-462dd1e95f06", "role": "focal_point"},
        {"partner_id": "13b34c86-d168-5e8c-87ff-3d801c08fe37", "role": "target"},
    ],
    "government_report_ids": [],
}


def _unique(values: list[Any], what: str) -> list[Any]:
    seen = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what} {value} appears twice")
        seen.add(value)
    return values


class ActivityParticipant(SQLModel, table=True):
    __tablename__ = "activity_participant"
    __table_args__ = (Index("ix_activity_participant_partner_id_role", "partner_id", "role"),)

    activity_id: uuid.UUID | None = Field(default=None, foreign_key="activity.id", primary_key=True, ondelete="CASCADE")
    partner_id: uuid.UUID = Field(foreign_key="partner.id", primary_key=True, index=True)
    role: str = Field(primary_key=True, max_length=40)
    position: int = Field(default=0)

    activity: "Activity" = Relationship(back_populates="participants")


class ActivityCountry(SQLModel, table=True):
    __tablename__ = "activity_country"

    activity_id: uuid.UUID | None = Field(default=None, foreign_key="activity.id", primary_key=True, ondelete="CASCADE")
    country: str = Field(primary_key=True, max_length=3, index=True)

    activity: "Activity" = Relationship(back_populates="countries")


class ActivityGovernmentReport(SQLModel, table=True):
    __tablename__ = "activity_government_report"

    activity_id: uuid.UUID | None = Field(default=None, foreign_key="activity.id", primary_key=True, ondelete="CASCADE")
    government_report_id: uuid.UUID = Field(foreign_key="government_report.id", primary_key=True, index=True)

    activity: "Activity" = Relationship(back_populates="government_reports")


class ActivityBase(SQLModel):
    objective_id: uuid.UUID = Field(foreign_key="objective.id", description="The objective it serves.")
    code: Code = Field(max_length=40, description='Unique within the work plan, e.g. "SEC-2003-5.1".')
    title: Title = Field(max_length=300)
    description: LongText | None = Field(default=None, max_length=20_000)
    status: ActivityStatus = Field(default=ActivityStatus.PLANNED, sa_type=String(40))
    type: ActivityType = Field(sa_type=String(40))
    level: ActivityLevel | None = Field(default=None, sa_type=String(40))
    planned_start: Day | None = None
    planned_end: Day | None = None
    actual_start: Day | None = None
    actual_end: Day | None = None

    @field_validator("planned_end", "actual_end")
    @classmethod
    def _end_after_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        start_name = info.field_name.replace("_end", "_start")  # type: ignore[union-attr]
        check_order(info.data.get(start_name), value, start_name)
        return value


class Activity(Owned, ActivityBase, RecordTable, table=True):
    __tablename__ = "activity"
    __table_args__ = (
        change_seq_index("activity"),
        owner_ref_index("activity"),
        Index(
            "uq_activity_work_plan_id_code_live",
            "work_plan_id",
            "code",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_activity_objective_id", "objective_id"),
        Index("ix_activity_updated_at", "updated_at"),
        Index("ix_activity_status_updated_at", "status", "updated_at"),
        Index("ix_activity_code", "code"),
        Index("ix_activity_title", "title"),
        Index("ix_activity_type", "type"),
        Index("ix_activity_level", "level"),
        Index("ix_activity_work_plan_id_updated_at", "work_plan_id", "updated_at"),
        Index("ix_activity_planned_start", "planned_start"),
        Index("ix_activity_planned_end", "planned_end"),
        Index("ix_activity_actual_start", "actual_start"),
        Index("ix_activity_actual_end", "actual_end"),
        Index("ix_activity_created_at", "created_at"),
    )

    # Copied from the objective so that codes can be unique per plan in the database.
    work_plan_id: uuid.UUID = Field(foreign_key="work_plan.id")

    participants: list[ActivityParticipant] = Relationship(
        back_populates="activity",
        sa_relationship_kwargs={
            "cascade": "all, delete-orphan",
            "lazy": "selectin",
            "order_by": "ActivityParticipant.position",
        },
    )
    countries: list[ActivityCountry] = Relationship(
        back_populates="activity",
        sa_relationship_kwargs={
            "cascade": "all, delete-orphan",
            "lazy": "selectin",
            "order_by": "ActivityCountry.country",
        },
    )
    government_reports: list[ActivityGovernmentReport] = Relationship(
        back_populates="activity",
        sa_relationship_kwargs={
            "cascade": "all, delete-orphan",
            "lazy": "selectin",
            "order_by": "ActivityGovernmentReport.government_report_id",
        },
    )


class Participant(InputModel):
    partner_id: uuid.UUID
    role: ParticipantRole


class ActivityLinks(SQLModel):
    countries: list[CountryCode] = Field(
        default=[], max_length=250, description="ISO 3166-1 alpha-3 codes.", schema_extra=DISTINCT
    )
    participants: list[Participant] = Field(
        default=[], max_length=200, description="Partners and their role.", schema_extra=DISTINCT
    )
    government_report_ids: list[uuid.UUID] = Field(
        default=[],
        max_length=500,
        description="Government reports this activity monitors or analyses.",
        schema_extra=DISTINCT,
    )

    @field_validator("countries")
    @classmethod
    def _distinct_countries(cls, value: list[str]) -> list[str]:
        return sorted(_unique(value, "Country"))

    @field_validator("participants")
    @classmethod
    def _distinct_participants(cls, value: list[Participant]) -> list[Participant]:
        _unique([f"{p.partner_id} as {p.role.value}" for p in value], "Participant")
        return value

    @field_validator("government_report_ids")
    @classmethod
    def _distinct_reports(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        # Kept in the client's order, so that an error can point at the index it sent.
        return _unique(value, "Government report")


class ActivityCreate(Owned, ActivityLinks, ActivityBase, InputModel):
    model_config = {"json_schema_extra": {"examples": [EXAMPLE]}}


class ActivityPublic(RecordPublic, Owned, ActivityLinks, ActivityBase):
    work_plan_id: uuid.UUID = Field(description="The objective's work plan (read-only).")


class ActivityUpdate(InputModel):
    """JSON Merge Patch: absent fields stay as they are, null clears an optional field, lists are replaced."""

    model_config = {"json_schema_extra": {"examples": [{"status": "completed", "actual_end": "2003-12-15"}]}}

    objective_id: uuid.UUID | None = None
    code: Code | None = None
    title: Title | None = None
    description: LongText | None = None
    status: ActivityStatus | None = None
    type: ActivityType | None = None
    level: ActivityLevel | None = None
    planned_start: Day | None = None
    planned_end: Day | None = None
    actual_start: Day | None = None
    actual_end: Day | None = None
    countries: list[CountryCode] | None = Field(default=None, max_length=250, schema_extra=DISTINCT)
    participants: list[Participant] | None = Field(default=None, max_length=200, schema_extra=DISTINCT)
    government_report_ids: list[uuid.UUID] | None = Field(default=None, max_length=500, schema_extra=DISTINCT)
