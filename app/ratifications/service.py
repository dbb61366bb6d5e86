import uuid

from pydantic import Field
from sqlmodel import Session, col, select

from app.lists import Listing, ListParams, sort_by, where_in, where_range
from app.models.ratifications import (
    Origin,
    Ratification,
    RatificationCreate,
    RatificationUpdate,
)
from app.ratifications.kind import RATIFICATION
from app.records import CountryCode, Day, Timestamp, apply_changes, ensure_unique, mark_deleted, merge_patch
from app.vocabularies import Instrument, RatificationAction


class RatificationListParams(ListParams):
    sort: str | None = sort_by(RATIFICATION.sortable)
    country: list[CountryCode] = Field(default=[], description="Of one of these States.")
    instrument: list[Instrument] = Field(default=[], description="To one of these instruments.")
    action: list[RatificationAction] = Field(default=[], description="By one of these actions.")
    origin: list[Origin] = Field(default=[], description="`shipped` (reference data) or `editor` records.")
    deposited_on_from: Day | None = None
    deposited_on_to: Day | None = None
    updated_after: Timestamp | None = Field(default=None, description="Changed after this instant.")


def countries_on_record(session: Session) -> list[str]:
    """The States with a live ratification of any instrument: those on the calendar, A to Z."""
    statement = select(Ratification.country).where(col(Ratification.deleted_at).is_(None)).distinct()
    return sorted(session.exec(statement).all())


def list_ratifications(session: Session, params: RatificationListParams) -> Listing[Ratification]:
    statement = select(Ratification).where(Ratification.deleted_at.is_(None))  # type: ignore[union-attr]
    statement = where_in(statement, Ratification.country, params.country)
    statement = where_in(statement, Ratification.instrument, params.instrument)
    statement = where_in(statement, Ratification.action, params.action)
    statement = where_in(statement, Ratification.origin, params.origin)
    statement = where_range(statement, Ratification.deposited_on, params.deposited_on_from, params.deposited_on_to)
    if params.updated_after is not None:
        statement = statement.where(Ratification.updated_at > params.updated_after)
    return Listing(statement, params, RATIFICATION.sortable, "country,instrument")


def _ensure_one_per_instrument(session: Session, data: RatificationCreate, exclude: Ratification | None = None) -> None:
    """A State is party to an instrument once: one live record per (country, instrument)."""
    ensure_unique(
        session,
        Ratification,
        [Ratification.country == data.country, Ratification.instrument == data.instrument],
        "/instrument",
        f"A ratification of the {data.instrument} by {data.country}",
        exclude_id=exclude.id if exclude else None,
    )


def create_ratification(
    session: Session,
    data: RatificationCreate,
    record_id: uuid.UUID | None = None,
    *,
    origin: Origin = Origin.EDITOR,
    disputed: dict[str, list[str]] | None = None,
) -> Ratification:
    """Create it; `record_id` lets imports keep stable ids; the shipped data passes its origin."""
    _ensure_one_per_instrument(session, data)
    ratification = Ratification.model_validate(
        data, update={"id": record_id or uuid.uuid4(), "origin": origin.value, "disputed": disputed or None}
    )
    session.add(ratification)
    session.flush()
    return ratification


def update_ratification(session: Session, ratification: Ratification, patch: RatificationUpdate) -> Ratification:
    """An editor's change: the record is the editor's from then on (a seed leaves it alone), and a
    field it sets is no longer disputed (the editor settled it)."""
    current = RatificationCreate.model_validate(ratification, from_attributes=True).model_dump()
    merged = merge_patch(current, patch, RatificationCreate)
    if (merged.country, merged.instrument) != (ratification.country, ratification.instrument):
        _ensure_one_per_instrument(session, merged, ratification)
    values = merged.model_dump()
    if any(values[name] != value for name, value in current.items()):
        settled = patch.model_fields_set
        disputed = {k: v for k, v in (ratification.disputed or {}).items() if k not in settled}
        values |= {"origin": Origin.EDITOR.value, "disputed": disputed or None}
    apply_changes(ratification, values)
    session.flush()
    return ratification


def delete_ratification(session: Session, ratification: Ratification) -> None:
    mark_deleted(ratification)
    session.flush()
