"""A State's instrument of ratification, accession or succession to the CRC or one of its protocols."""

from datetime import date
from typing import Any

from pydantic import ValidationInfo, computed_field, field_validator
from sqlalchemy import Index, String, text
from sqlmodel import Field, SQLModel

from app.calendar.rules import ADOPTED, entry_into_force
from app.records import CountryCode, Day, InputModel, LongText, RecordPublic, RecordTable, ShortText, change_seq_index
from app.vocabularies import Instrument, RatificationAction

EXAMPLE: dict[str, Any] = {
    "country": "MEX",
    "instrument": "OPSC",
    "action": "ratification",
    "deposited_on": "2002-03-15",
    "entry_into_force_override": None,
    "reservations": None,
    "source": "United Nations Treaty Collection, chapter IV.11.c",
}


class RatificationBase(SQLModel):
    country: CountryCode = Field(max_length=3, description="The State party, ISO 3166-1 alpha-3.")
    instrument: Instrument = Field(sa_type=String(10))
    action: RatificationAction = Field(sa_type=String(20), description="How the State became a party.")
    deposited_on: Day = Field(description="When its instrument was deposited with the Secretary-General.")
    entry_into_force_override: Day | None = Field(
        default=None,
        description=(
            "Only where the depositary records another date than the treaty arithmetic gives (a succession "
            "takes effect from the date of succession); null: entry_into_force_on is computed."
        ),
    )
    reservations: LongText | None = Field(
        default=None, max_length=20_000, description="Reservations and declarations, as deposited."
    )
    source: ShortText | None = Field(
        default=None, max_length=300, description="Where these facts come from (e.g. the UN Treaty Collection)."
    )


class Ratification(RatificationBase, RecordTable, table=True):
    __tablename__ = "ratification"
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


class RatificationPublic(RecordPublic, RatificationBase):
    @computed_field(  # type: ignore[prop-decorator]
        description="When the instrument entered into force for the State: the override, else computed."
    )
    @property
    def entry_into_force_on(self) -> date:
        return self.entry_into_force_override or self.entry_into_force_computed

    @computed_field(  # type: ignore[prop-decorator]
        description=(
            "CRC art. 49: 30 days after deposit; OPSC art. 14, OPAC art. 10: one month after; "
            "never before the instrument's own entry into force."
        )
    )
    @property
    def entry_into_force_computed(self) -> date:
        return entry_into_force(Instrument(self.instrument), self.deposited_on)

    @computed_field(description="entry_into_force_on is the override, not the computed date.")  # type: ignore[prop-decorator]
    @property
    def entry_into_force_overridden(self) -> bool:
        return self.entry_into_force_override is not None


class RatificationUpdate(InputModel):
    """JSON Merge Patch: absent fields stay as they are, null clears an optional field."""

    model_config = {"json_schema_extra": {"examples": [{"entry_into_force_override": "1993-01-01"}]}}

    country: CountryCode | None = None
    instrument: Instrument | None = None
    action: RatificationAction | None = None
    deposited_on: Day | None = None
    entry_into_force_override: Day | None = None
    reservations: LongText | None = None
    source: ShortText | None = None
