"""What the calendar endpoints answer, for OpenAPI and for the JSON they write."""

import uuid
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.calendar.rules import DueSource, Expected
from app.records import LAST_DAY, CountryCode, Day
from app.vocabularies import Instrument


class CalendarParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: list[CountryCode] = Field(default=[], description="Only these States (ISO 3166-1 alpha-3).")
    instrument: list[Instrument] = Field(default=[], description="Only these instruments.")
    as_of: Day | None = Field(default=None, description="Judge overdue and satisfied as of this day (default today).")
    overdue: bool | None = Field(default=None, description="Only items overdue as of `as_of`, or only the others.")
    due_from: Day | None = Field(default=None, description="Applicable due date on or after this day.")
    due_to: Day | None = Field(
        default=None, description="Applicable due date on or before this day; also how far the cycles run."
    )


class GapParams(CalendarParams):
    period_from: Day = Field(description="First day of the period asked about.")
    period_to: Day = Field(description="Last day of the period asked about.")


class ExpectedReport(BaseModel):
    country: str = Field(description="ISO 3166-1 alpha-3.")
    instrument: Instrument
    cycle: int = Field(description="1 is the initial report; n the n-th report.")
    kind: str = Field(description="`initial` or `periodic`.")
    nominal_due_date: date = Field(description="The treaty arithmetic's date.")
    committee_due_date: date | None = Field(description="A date the Committee set, recorded on a report of the cycle.")
    due_date: date = Field(description="The date that applies: the Committee's if set, else the nominal one.")
    due_source: DueSource = Field(description="Why `due_date` applies: `treaty` or `committee`.")
    rule: str = Field(description="The article the date comes from.")
    includes: list[Instrument] = Field(
        description="Protocols whose reporting is folded into this CRC report (OPSC art. 12(2), OPAC art. 8(2))."
    )
    is_satisfied: bool = Field(description="A report covering this cycle was submitted on or before `as_of`.")
    satisfied_by: uuid.UUID | None = Field(description="The first such report.")
    submitted_date: date | None
    is_overdue: bool = Field(description="Not satisfied and the applicable due date is before `as_of`.")
    days_late: int | None
    report_ids: list[uuid.UUID] = Field(description="Reports on record covering this cycle.")
    activity_ids: list[uuid.UUID] = Field(description="Live activities monitoring one of those reports.")


class CalendarPage(BaseModel):
    as_of: date
    until: date = Field(
        description=f"Cycles run while their nominal date is on or before this day, never after {LAST_DAY}."
    )
    items: list[ExpectedReport]


class Gap(ExpectedReport):
    reasons: list[str] = Field(description="What falls in the period: `due`, `submitted`, `review`.")


class GapPage(BaseModel):
    period_from: date
    period_to: date
    items: list[Gap]


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def item_json(item: Expected) -> dict[str, Any]:
    """An item as ExpectedReport writes it, without validating what the rules just built."""
    return {
        "country": item.country,
        "instrument": item.instrument.value,
        "cycle": item.cycle,
        "kind": item.kind,
        "nominal_due_date": item.nominal_due_date.isoformat(),
        "committee_due_date": _day(item.committee_due_date),
        "due_date": item.due_date.isoformat(),
        "due_source": item.due_source.value,
        "rule": item.rule,
        "includes": [i.value for i in item.includes],
        "is_satisfied": item.is_satisfied,
        "satisfied_by": item.satisfied_by,
        "submitted_date": _day(item.submitted_date),
        "is_overdue": item.is_overdue,
        "days_late": item.days_late,
        "report_ids": item.report_ids,
        "activity_ids": item.activity_ids,
    }
