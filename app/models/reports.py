import uuid
from datetime import date
from typing import Any

from pydantic import ValidationInfo, computed_field, field_validator, model_validator
from sqlalchemy import Index, String, text
from sqlmodel import Field, Relationship, SQLModel

from app.records import (
    DISTINCT,
    CountryCode,
    Day,
    InputModel,
    LongText,
    Owned,
    RecordPublic,
    RecordTable,
    ShortText,
    change_seq_index,
    check_order,
    owner_ref_index,
    utcnow,
)
from app.vocabularies import ARTICLE_COUNT, Assessment, Instrument, ReportKind, ReportStatus

EXAMPLE: dict[str, Any] = {
    "country": "MEX",
    "instrument": "OPSC",
    "kind": "initial",
    "cycle_from": 1,
    "cycle_to": 1,
    "symbol": "CRC/C/OPSC/MEX/1",
    "due_date": None,
    "submitted_date": None,
    "committee_session": None,
    "review_date": None,
    "concluding_observations_symbol": None,
    "concluding_observations_date": None,
    "status": "expected",
    "analysis": None,
    "articles": [{"instrument": "CRC", "article": 34, "assessment": "unknown", "note": None}],
    "monitored_by": ["ccff0b3f-1f71-5810-ac3d-462dd1e95f06"],
}

Symbol = ShortText


class ReportArticle(SQLModel, table=True):
    __tablename__ = "report_article"

    government_report_id: uuid.UUID | None = Field(
        default=None, foreign_key="government_report.id", primary_key=True, ondelete="CASCADE"
    )
    instrument: str = Field(primary_key=True, max_length=10)
    article: int = Field(primary_key=True)
    assessment: str = Field(max_length=40)
    note: str | None = Field(default=None, max_length=20_000)
    position: int = Field(default=0)

    report: "GovernmentReport" = Relationship(back_populates="articles")


class ReportMonitor(SQLModel, table=True):
    __tablename__ = "report_monitor"

    government_report_id: uuid.UUID | None = Field(
        default=None, foreign_key="government_report.id", primary_key=True, ondelete="CASCADE"
    )
    partner_id: uuid.UUID = Field(foreign_key="partner.id", primary_key=True, index=True)

    report: "GovernmentReport" = Relationship(back_populates="monitors")


class ArticleAssessment(InputModel):
    # `_article_exists`, for OpenAPI: each instrument's own number of articles.
    model_config = {
        "json_schema_extra": {
            "allOf": [
                {
                    "if": {"properties": {"instrument": {"const": instrument.value}}},
                    "then": {"properties": {"article": {"maximum": count}}},
                }
                for instrument, count in ARTICLE_COUNT.items()
            ]
        }
    }

    instrument: Instrument
    article: int = Field(ge=1, le=54, description="Article number within the instrument.")
    assessment: Assessment = Assessment.UNKNOWN
    note: LongText | None = Field(default=None, max_length=20_000)

    @model_validator(mode="after")
    def _article_exists(self) -> "ArticleAssessment":
        if self.article > ARTICLE_COUNT[self.instrument]:
            raise ValueError(f"The {self.instrument} has {ARTICLE_COUNT[self.instrument]} articles, not {self.article}")
        return self


class GovernmentReportBase(SQLModel):
    country: CountryCode = Field(sa_type=String(3), description="The reporting State, ISO 3166-1 alpha-3.")
    instrument: Instrument = Field(sa_type=String(10))
    kind: ReportKind = Field(sa_type=String(40))
    cycle_from: int | None = Field(
        default=None, ge=1, le=20, description="First reporting cycle covered (1 = initial)."
    )
    cycle_to: int | None = Field(default=None, ge=1, le=20, description='Last cycle covered: 4 for "third and fourth".')
    symbol: Symbol | None = Field(default=None, max_length=300, description="UN document symbol, verbatim.")
    due_date: Day | None = None
    submitted_date: Day | None = None
    committee_session: int | None = Field(default=None, ge=1, le=1000)
    review_date: Day | None = None
    concluding_observations_symbol: Symbol | None = Field(default=None, max_length=300)
    concluding_observations_date: Day | None = None
    next_report_due_date: Day | None = Field(
        default=None,
        description=(
            "The date the concluding observations (`concluding_observations_symbol`) set for the next report. "
            "It replaces the treaty's date for the cycles that report covers (`due_source` committee)."
        ),
    )
    next_report_cycle_from: int | None = Field(
        default=None, ge=1, le=20, description="First cycle the next report covers; default: the one after this."
    )
    next_report_cycle_to: int | None = Field(
        default=None, ge=1, le=20, description='Last cycle it covers: 6 for "fifth and sixth combined".'
    )
    status: ReportStatus = Field(default=ReportStatus.EXPECTED, sa_type=String(40))
    analysis: LongText | None = Field(default=None, max_length=20_000, description="The thematic analysis.")

    @field_validator("cycle_to")
    @classmethod
    def _cycles_in_order(cls, value: int | None, info: ValidationInfo) -> int | None:
        start = info.data.get("cycle_from")
        if start is not None and value is not None and value < start:
            raise ValueError(f"must not be below cycle_from ({start})")
        return value

    @field_validator("next_report_cycle_to")
    @classmethod
    def _next_cycles_in_order(cls, value: int | None, info: ValidationInfo) -> int | None:
        start = info.data.get("next_report_cycle_from")
        if start is not None and value is not None and value < start:
            raise ValueError(f"must not be below next_report_cycle_from ({start})")
        return value

    @field_validator("review_date")
    @classmethod
    def _review_after_submission(cls, value: date | None, info: ValidationInfo) -> date | None:
        check_order(info.data.get("submitted_date"), value, "submitted_date")
        return value

    @field_validator("concluding_observations_date")
    @classmethod
    def _observations_after_review(cls, value: date | None, info: ValidationInfo) -> date | None:
        check_order(info.data.get("review_date"), value, "review_date")
        return value


class GovernmentReport(Owned, GovernmentReportBase, RecordTable, table=True):
    __tablename__ = "government_report"
    __table_args__ = (
        change_seq_index("government_report"),
        owner_ref_index("government_report"),
        Index(
            "uq_government_report_symbol_live",
            "symbol",
            unique=True,
            sqlite_where=text("deleted_at IS NULL AND symbol IS NOT NULL"),
            postgresql_where=text("deleted_at IS NULL AND symbol IS NOT NULL"),
        ),
        Index("ix_government_report_country_instrument", "country", "instrument"),
        Index("ix_government_report_due_date", "due_date"),
        Index("ix_government_report_updated_at", "updated_at"),
        Index("ix_government_report_status", "status"),
        Index("ix_government_report_instrument", "instrument"),
        Index("ix_government_report_committee_session", "committee_session"),
        Index("ix_government_report_submitted_date", "submitted_date"),
        Index("ix_government_report_review_date", "review_date"),
        Index("ix_government_report_concluding_observations_date", "concluding_observations_date"),
        Index("ix_government_report_created_at", "created_at"),
    )

    notes: str | None = Field(default=None, max_length=20_000)

    articles: list[ReportArticle] = Relationship(
        back_populates="report",
        sa_relationship_kwargs={
            "cascade": "all, delete-orphan",
            "lazy": "selectin",
            "order_by": "ReportArticle.position",
        },
    )
    monitors: list[ReportMonitor] = Relationship(
        back_populates="report",
        sa_relationship_kwargs={
            "cascade": "all, delete-orphan",
            "lazy": "selectin",
            "order_by": "ReportMonitor.partner_id",
        },
    )


class GovernmentReportLinks(SQLModel):
    articles: list[ArticleAssessment] = Field(default=[], max_length=200, description="Assessment per article.")
    monitored_by: list[uuid.UUID] = Field(
        default=[], max_length=200, description="Partners monitoring the report.", schema_extra=DISTINCT
    )

    @field_validator("articles")
    @classmethod
    def _distinct_articles(cls, value: list[ArticleAssessment]) -> list[ArticleAssessment]:
        seen = set()
        for item in value:
            key = (item.instrument, item.article)
            if key in seen:
                raise ValueError(f"{item.instrument} article {item.article} appears twice")
            seen.add(key)
        return value

    @field_validator("monitored_by")
    @classmethod
    def _distinct_monitors(cls, value: list[uuid.UUID]) -> list[uuid.UUID]:
        if len(set(value)) != len(value):
            raise ValueError("a partner appears twice")
        return value


class GovernmentReportCreate(Owned, GovernmentReportLinks, GovernmentReportBase, InputModel):
    model_config = {"json_schema_extra": {"examples": [EXAMPLE]}}

    notes: LongText | None = Field(
        default=None, max_length=20_000, description="Internal: for editors, admins and the owner's key."
    )


class GovernmentReportPublic(RecordPublic, Owned, GovernmentReportLinks, GovernmentReportBase):
    @computed_field(description="Not submitted and past its due date (as of today).")  # type: ignore[prop-decorator]
    @property
    def is_overdue(self) -> bool:
        return self.days_late is not None and self.days_late > 0

    @computed_field(description="Days past the due date while unsubmitted; null otherwise.")  # type: ignore[prop-decorator]
    @property
    def days_late(self) -> int | None:
        if self.submitted_date is not None or self.due_date is None:
            return None
        late = (utcnow().date() - self.due_date).days
        return late if late > 0 else None


class GovernmentReportWithNotes(GovernmentReportPublic):
    """The public fields and the internal notes: what editors, admins and the owner's key read."""

    notes: str | None = Field(default=None, description="Internal notes: for editors, admins and the owner's key.")


class GovernmentReportUpdate(InputModel):
    """JSON Merge Patch: absent fields stay as they are, null clears an optional field, lists are replaced."""

    model_config = {"json_schema_extra": {"examples": [{"submitted_date": "2004-09-01", "status": "submitted"}]}}

    country: CountryCode | None = None
    instrument: Instrument | None = None
    kind: ReportKind | None = None
    cycle_from: int | None = Field(default=None, ge=1, le=20)
    cycle_to: int | None = Field(default=None, ge=1, le=20)
    symbol: Symbol | None = None
    due_date: Day | None = None
    submitted_date: Day | None = None
    committee_session: int | None = Field(default=None, ge=1, le=1000)
    review_date: Day | None = None
    concluding_observations_symbol: Symbol | None = None
    concluding_observations_date: Day | None = None
    next_report_due_date: Day | None = None
    next_report_cycle_from: int | None = Field(default=None, ge=1, le=20)
    next_report_cycle_to: int | None = Field(default=None, ge=1, le=20)
    status: ReportStatus | None = None
    analysis: LongText | None = None
    articles: list[ArticleAssessment] | None = Field(default=None, max_length=200)
    monitored_by: list[uuid.UUID] | None = Field(default=None, max_length=200, schema_extra=DISTINCT)
    notes: LongText | None = None
