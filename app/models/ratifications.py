"""A State's instrument of ratification, accession or succession to the CRC or one of its protocols."""

import json
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import ValidationInfo, computed_field, field_validator, model_validator
from sqlalchemy import JSON, Index, String, text
from sqlmodel import Field, SQLModel

from app.records import CountryCode, Day, InputModel, LongText, RecordPublic, RecordTable, ShortText, change_seq_index
from app.treaties import ADOPTED, party_in_force
from app.vocabularies import Instrument, RatificationAction

EXAMPLE: dict[str, Any] = {
    "country": "MEX",
    "instrument": "OPSC",
    "action": "ratification",
    "deposited_on": "2002-03-15",
    "entry_into_force_override": None,
    "succession_effective_on": None,
    "reports_tracked_from": None,
    "reservations": None,
    "source": "United Nations Treaty Collection, chapter IV.11.c",
}


class RatificationBase(SQLModel):
    country: CountryCode = Field(sa_type=String(3), description="The State party, ISO 3166-1 alpha-3.")
    instrument: Instrument = Field(sa_type=String(10))
    action: RatificationAction = Field(sa_type=String(20), description="How the State became a party.")
    deposited_on: Day = Field(description="When its instrument was deposited with the Secretary-General.")
    entry_into_force_override: Day | None = Field(
        default=None,
        description=(
            "Only where the depositary records another date than the treaty arithmetic gives; "
            "null: entry_into_force_on is computed."
        ),
    )
    succession_effective_on: Day | None = Field(
        default=None,
        description=(
            "A succession only: the date of succession (usually independence), from which the successor is "
            "bound. Without it a succession has no entry into force: the notification date gives none."
        ),
    )
    reports_tracked_from: Day | None = Field(
        default=None,
        description=(
            "The service keeps this State's reports under this instrument from this due date on: a cycle due "
            "since then with no submitted report is `overdue`. Without it (and with no report of the State on "
            "record) a passed date is `no_report_on_record`."
        ),
    )
    reservations: LongText | None = Field(
        default=None, max_length=20_000, description="Reservations and declarations, as deposited."
    )
    source: ShortText | None = Field(
        default=None, max_length=300, description="Where these facts come from (e.g. the UN Treaty Collection)."
    )
    sources: LongText | None = Field(
        default=None,
        max_length=20_000,
        description="The shipped data's sources for this row, verbatim, separated by ` | ` (captures, documents).",
    )
    confidence: ShortText | None = Field(
        default=None,
        max_length=40,
        description="The shipped data's confidence: `confirmed` (two captures agree) or `single-source`.",
    )
    entry_into_force_published: Day | None = Field(
        default=None,
        description="The entry into force a source prints, where one does: a cross-check, never used by the calendar.",
    )


class Origin(StrEnum):
    SHIPPED = "shipped"
    EDITOR = "editor"


ORIGIN_DESCRIPTION = (
    "`shipped`: as the project's reference data (app/seed/untc-ratifications.csv) has it, and `workplan seed` "
    "keeps it so; `editor`: created or changed through the API, which a seed never touches again."
)
DISPUTED_DESCRIPTION = (
    "Fields whose sources give two values, with both (`{field: [a, b]}`): the field itself stays null, and "
    "neither value is used silently (a disputed date of succession makes the calendar say date unknown)."
)


class Ratification(RatificationBase, RecordTable, table=True):
    __tablename__ = "ratification"
    origin: str = Field(
        default="editor",
        sa_type=String(10),
        sa_column_kwargs={"server_default": "editor"},
        description=ORIGIN_DESCRIPTION,
    )
    disputed: dict[str, list[str]] | None = Field(default=None, sa_type=JSON, description=DISPUTED_DESCRIPTION)
    __table_args__ = (
        change_seq_index("ratification"),
        Index(
            "uq_ratification_country_instrument_live",
            "country",
            "instrument",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_ratification_instrument", "instrument"),
        Index("ix_ratification_deposited_on", "deposited_on"),
        Index("ix_ratification_updated_at", "updated_at"),
        Index("ix_ratification_created_at", "created_at"),
    )


class RatificationCreate(RatificationBase, InputModel):
    model_config = {"json_schema_extra": {"examples": [EXAMPLE]}}

    @field_validator("deposited_on")
    @classmethod
    def _after_adoption(cls, value: date, info: ValidationInfo) -> date:
        instrument = info.data.get("instrument")
        if instrument is not None and value < ADOPTED[instrument]:
            raise ValueError(f"precedes the {instrument}'s adoption ({ADOPTED[instrument].isoformat()})")
        return value

    @model_validator(mode="after")
    def _succession_only(self) -> "RatificationCreate":
        if self.succession_effective_on is not None and self.action != RatificationAction.SUCCESSION:
            raise ValueError("succession_effective_on is for a succession only")
        return self


class RatificationPublic(RecordPublic, RatificationBase):
    origin: Origin = Field(description=ORIGIN_DESCRIPTION)
    disputed: dict[str, list[str]] | None = Field(default=None, description=DISPUTED_DESCRIPTION)

    def _in_force(self) -> tuple[date | None, str | None]:
        return party_in_force(
            Instrument(self.instrument),
            self.action,
            self.deposited_on,
            None,
            self.succession_effective_on,
            self.disputed,
        )

    @computed_field(  # type: ignore[prop-decorator]
        description="When the instrument entered into force for the State: the override, else computed; "
        "null when it cannot be known (entry_into_force_unknown_reason says why)."
    )
    @property
    def entry_into_force_on(self) -> date | None:
        return self.entry_into_force_override or self.entry_into_force_computed

    @computed_field(  # type: ignore[prop-decorator]
        description=(
            "CRC art. 49: 30 days after deposit; OPSC art. 14, OPAC art. 10: one month after, and a deposit on or "
            "before the protocol's own entry into force takes that date; never before the instrument's own entry "
            "into force. A succession: the date of succession, null without it."
        )
    )
    @property
    def entry_into_force_computed(self) -> date | None:
        return self._in_force()[0]

    @computed_field(description="entry_into_force_on is the override, not the computed date.")  # type: ignore[prop-decorator]
    @property
    def entry_into_force_overridden(self) -> bool:
        return self.entry_into_force_override is not None

    @computed_field(  # type: ignore[prop-decorator]
        description="Why entry_into_force_on is null (the calendar shows this State's items as date unknown)."
    )
    @property
    def entry_into_force_unknown_reason(self) -> str | None:
        return None if self.entry_into_force_override else self._in_force()[1]


class RatificationImport(RatificationCreate):
    """What `workplan import` takes: a backup keeps each record's provenance as it was."""

    origin: Origin = Origin.EDITOR
    disputed: dict[str, list[str]] | None = None

    @field_validator("disputed", mode="before")
    @classmethod
    def _from_a_cell(cls, value: object) -> object:
        # A CSV cell holds the object as JSON text (app/csv_cells.py); empty is null.
        if isinstance(value, str):
            return json.loads(value) if value.strip() else None
        return value


class RatificationUpdate(InputModel):
    """JSON Merge Patch: absent fields stay as they are, null clears an optional field."""

    model_config = {"json_schema_extra": {"examples": [{"entry_into_force_override": "1993-01-01"}]}}

    country: CountryCode | None = None
    instrument: Instrument | None = None
    action: RatificationAction | None = None
    deposited_on: Day | None = None
    entry_into_force_override: Day | None = None
    succession_effective_on: Day | None = None
    reports_tracked_from: Day | None = None
    reservations: LongText | None = None
    source: ShortText | None = None
    sources: LongText | None = None
    confidence: ShortText | None = None
    entry_into_force_published: Day | None = None
