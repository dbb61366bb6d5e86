import uuid

from pydantic import Field
from sqlalchemy import or_
from sqlmodel import Session, col, select

from app.lists import Listing, SearchParams, sort_by, where_in, where_range
from app.models.activities import Activity, ActivityParticipant
from app.models.partners import Partner, PartnerCreate, PartnerUpdate
from app.models.reports import GovernmentReport, ReportMonitor
from app.partners.kind import PARTNER
from app.records import (
    CountryCode,
    Day,
    Timestamp,
    apply_changes,
    ensure_unique,
    ensure_unused,
    mark_deleted,
    merge_patch,
)
from app.search import search
from app.vocabularies import PartnerKind


class PartnerListParams(SearchParams):
    sort: str | None = sort_by(PARTNER.sortable)
    kind: list[PartnerKind] = Field(default=[], description="One of these kinds.")
    country: list[CountryCode] = Field(default=[], description="Based in one of these countries.")
    active_on: Day | None = Field(default=None, description="Active on this day (open ends count as active).")
    active_from_from: Day | None = None
    active_from_to: Day | None = None
    active_to_from: Day | None = None
    active_to_to: Day | None = None
    updated_after: Timestamp | None = Field(default=None, description="Changed after this instant.")


# A partner's contact details and notes: for its own key (and editors; app.access.keys.private_reader).


def list_partners(session: Session, params: PartnerListParams) -> Listing[Partner]:
    statement = select(Partner).where(Partner.deleted_at.is_(None))  # type: ignore[union-attr]
    statement = where_in(statement, Partner.kind, params.kind)
    statement = where_in(statement, Partner.country, params.country)
    if params.active_on is not None:
        statement = statement.where(
            or_(col(Partner.active_from).is_(None), col(Partner.active_from) <= params.active_on),
            or_(col(Partner.active_to).is_(None), col(Partner.active_to) >= params.active_on),
        )
    statement = where_range(statement, Partner.active_from, params.active_from_from, params.active_from_to)
    statement = where_range(statement, Partner.active_to, params.active_to_from, params.active_to_to)
    if params.updated_after is not None:
        statement = statement.where(Partner.updated_at > params.updated_after)
    score = None
    if params.q is not None:
        statement, score = search(statement, Partner, session.get_bind().dialect.name, params.q)
    return Listing(statement, params, PARTNER.sortable, "name", score)


def _ensure_name_free(session: Session, name: str, exclude: Partner | None = None) -> None:
    ensure_unique(
        session,
        Partner,
        [Partner.name == name],
        "/name",
        f"Partner name '{name}'",
        exclude_id=exclude.id if exclude else None,
    )


def create_partner(session: Session, data: PartnerCreate, record_id: uuid.UUID | None = None) -> Partner:
    """Create it; `record_id` lets the seed and imports keep stable ids."""
    _ensure_name_free(session, data.name)
    partner = Partner.model_validate(data, update={"id": record_id or uuid.uuid4()})
    session.add(partner)
    session.flush()
    return partner


def update_partner(session: Session, partner: Partner, patch: PartnerUpdate) -> Partner:
    current = {name: getattr(partner, name) for name in PartnerCreate.model_fields}
    merged = merge_patch(current, patch, PartnerCreate)
    if merged.name != partner.name:
        _ensure_name_free(session, merged.name, partner)
    apply_changes(partner, merged.model_dump())
    session.flush()
    return partner


def delete_partner(session: Session, partner: Partner) -> None:
    activities = (
        select(Activity.id)
        .join(ActivityParticipant)
        .where(ActivityParticipant.partner_id == partner.id, Activity.deleted_at.is_(None))  # type: ignore[union-attr]
    )
    reports = (
        select(GovernmentReport.id)
        .join(ReportMonitor)
        .where(ReportMonitor.partner_id == partner.id, GovernmentReport.deleted_at.is_(None))  # type: ignore[union-attr]
    )
    live_activity, live_report = col(Activity.deleted_at).is_(None), col(GovernmentReport.deleted_at).is_(None)
    owned_activities = select(Activity.id).where(Activity.owner_partner_id == partner.id, live_activity)
    owned_reports = select(GovernmentReport.id).where(GovernmentReport.owner_partner_id == partner.id, live_report)
    ensure_unused(
        session,
        "This partner",
        [
            ("activities", "/v1/activities", activities),
            ("government reports", "/v1/government-reports", reports),
            ("activities it owns", "/v1/activities", owned_activities),
            ("government reports it owns", "/v1/government-reports", owned_reports),
        ],
    )
    mark_deleted(partner)
    session.flush()
