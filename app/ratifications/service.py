import uuid

from pydantic import Field
from sqlmodel import Session, select

from app.lists import Listing, ListParams, where_in, where_range
from app.ratifications.models import Ratification, RatificationCreate, RatificationPublic, RatificationUpdate
from app.reads import Reader
from app.records import CountryCode, Day, Timestamp, apply_changes, ensure_unique, mark_deleted, merge_patch
from app.vocabularies import Instrument, RatificationAction

SORTABLE = {
    "id": Ratification.id,
    "country": Ratification.country,
    "instrument": Ratification.instrument,
    "deposited_on": Ratification.deposited_on,
    "created_at": Ratification.created_at,
    "updated_at": Ratification.updated_at,
}


class RatificationListParams(ListParams):
    country: list[CountryCode] = Field(default=[], description="Of one of these States.")
    instrument: list[Instrument] = Field(default=[], description="To one of these instruments.")
    action: list[RatificationAction] = Field(default=[], description="By one of these actions.")
    deposited_on_from: Day | None = None
    deposited_on_to: Day | None = None
    updated_after: Timestamp | None = Field(default=None, description="Changed after this instant.")


def to_public(ratification: Ratification) -> RatificationPublic:
    return RatificationPublic.model_validate(ratification)


RATIFICATIONS = Reader(RatificationPublic, Ratification)


def list_ratifications(session: Session, params: RatificationListParams) -> Listing[Ratification]:
    statement = select(Ratification).where(Ratification.deleted_at.is_(None))  # type: ignore[union-attr]
    statement = where_in(statement, Ratification.country, params.country)
    statement = where_in(statement, Ratification.instrument, params.instrument)
    statement = where_in(statement, Ratification.action, params.action)
    statement = where_range(statement, Ratification.deposited_on, params.deposited_on_from, params.deposited_on_to)
    if params.updated_after is not None:
        statement = statement.where(Ratification.updated_at > params.updated_after)
    return Listing(statement, params, SORTABLE, "country,instrument")


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


def create_ratification(session: Session, data: RatificationCreate, record_id: uuid.UUID | None = None) -> Ratification:
    """Create it; `record_id` lets imports keep stable ids."""
    _ensure_one_per_instrument(session, data)
    ratification = Ratification.model_validate(data, update={"id": record_id or uuid.uuid4()})
    session.add(ratification)
    session.flush()
    return ratification


def update_ratification(session: Session, ratification: Ratification, patch: RatificationUpdate) -> Ratification:
    current = RatificationCreate.model_validate(ratification, from_attributes=True).model_dump()
    merged = merge_patch(current, patch, RatificationCreate)
    if (merged.country, merged.instrument) != (ratification.country, ratification.instrument):
        _ensure_one_per_instrument(session, merged, ratification)
    apply_changes(ratification, merged.model_dump())
    session.flush()
    return ratification


def delete_ratification(session: Session, ratification: Ratification) -> None:
    mark_deleted(ratification)
    session.flush()
