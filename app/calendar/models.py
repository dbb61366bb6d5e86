"""What the calendar endpoints answer, for OpenAPI and for the JSON they write."""

import uuid
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.calendar.rules import DueSource, Expected, Status
from app.records import LAST_DAY, CountryCode, Day
from app.vocabularies import Instrument


class CalendarParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    country: list[CountryCode] = Field(default=[], description="Only these States (ISO 3166-1 alpha-3).")
    instrument: list[Instrument] = Field(default=[], description="Only these instruments.")
    as_of: Day | None = Field(default=None, description="Judge overdue and satisfied as of this day (default today).")
    overdue: bool | None = Field(
        default=None,
        description="Only items whose `status` is `overdue` as of `as_of`, or only the others. A passed date of a "
        "State whose report history the service does not keep is `no_report_on_record`, never overdue.",
    )
    status: list[Status] = Field(default=[], description="Only items with one of these statuses.")
    due_from: Day | None = Field(default=None, description="Applicable due date on or after this day.")
    due_to: Day | None = Field(
        default=None, description="Applicable due date on or before this day; also how far the cycles run."
    )


DEFAULT_WINDOW_MONTHS = 12


class GapParams(CalendarParams):
    period_from: Day | None = Field(
        default=None, description="First day of the period asked about (default: `as_of`, itself default today)."
    )
    period_to: Day | None = Field(
        default=None,
        description=f"Last day of the period asked about (default: {DEFAULT_WINDOW_MONTHS} months after its first day, "
        "so that no parameter at all asks what falls due in the next 12 months).",
    )


class ExpectedReport(BaseModel):
    country: str = Field(description="ISO 3166-1 alpha-3.")
    instrument: Instrument
    cycle: int = Field(description="1 is the initial report; n the n-th report.")
    kind: str = Field(description="`initial` or `periodic`.")
    status: Status = Field(
        description=(
            "`submitted`: a report covering the cycle was submitted on or before `as_of`. `due`: its date is "
            "to come. `overdue`: its date has passed, nothing covers it, and the service keeps the State's "
            "report history (from the ratification's `reports_tracked_from`, or from the earliest due date "
            "of a cycle that any report of the State on record covers). `no_report_on_record`: its date has "
            "passed where that history is not kept, a claim about the record, not about the State. "
            "`provisional`: a treaty date after the latest one the Committee set, never overdue. "
            "`date_unknown`: no date can be worked out (`date_unknown_reason`)."
        )
    )
    nominal_due_date: date | None = Field(
        description="The treaty arithmetic's date: the day before the second anniversary of entry into force, then "
        "every five years from it; null when entry into force is unknown."
    )
    committee_due_date: date | None = Field(
        description="A date the Committee set: recorded on a report of the cycle, or by concluding observations."
    )
    due_date: date | None = Field(
        description="The date that applies: the Committee's if set, else the nominal one; null when unknown."
    )
    due_source: DueSource | None = Field(
        description="Why `due_date` applies: `treaty` or `committee`; null when unknown."
    )
    due_source_document: str | None = Field(
        description="The symbol of the document that set a Committee date (concluding observations), when known."
    )
    provisional: bool = Field(
        description="A treaty date after the latest cycle the Committee set a date for: shown, never overdue."
    )
    date_unknown_reason: str | None = Field(
        description="Why there is no date (a succession without its date of succession, a disputed date)."
    )
    rule: str = Field(description="The article the date comes from.")
    includes: list[Instrument] = Field(
        description="Protocols whose reporting is folded into this CRC report (OPSC art. 12(2), OPAC art. 8(2))."
    )
    is_satisfied: bool = Field(description="A report covering this cycle was submitted on or before `as_of`.")
    satisfied_by: uuid.UUID | None = Field(description="The first such report.")
    submitted_date: date | None
    is_overdue: bool = Field(description="`status` is `overdue`.")
    days_late: int | None = Field(description="Days since the due date, for an overdue item only.")
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
        "status": item.status.value,
        "nominal_due_date": _day(item.nominal_due_date),
        "committee_due_date": _day(item.committee_due_date),
        "due_date": _day(item.due_date),
        "due_source": None if item.due_source is None else item.due_source.value,
        "due_source_document": item.due_source_document,
        "provisional": item.provisional,
        "date_unknown_reason": item.date_unknown_reason,
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
