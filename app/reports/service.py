import uuid
from typing import Annotated, Any

from pydantic import Field
from sqlmodel import Session, col, select

from app.lists import Listing, SearchParams, sort_by, where_in, where_range
from app.models.activities import Activity, ActivityGovernmentReport
from app.models.partners import Partner
from app.models.reports import (
    GovernmentReport,
    GovernmentReportCreate,
    GovernmentReportLinks,
    GovernmentReportUpdate,
    ReportArticle,
    ReportMonitor,
)
from app.records import (
    CountryCode,
    Day,
    Timestamp,
    apply_changes,
    ensure_exist,
    ensure_unique,
    ensure_unused,
    mark_deleted,
    merge_patch,
    utcnow,
)
from app.reports.kind import GOVERNMENT_REPORT
from app.search import search
from app.vocabularies import Instrument, ReportKind, ReportStatus
from app.writes.by_ref import ensure_ownership

LINK_FIELDS = ("articles", "monitored_by")
DATE_FIELDS = ("due_date", "submitted_date", "review_date", "concluding_observations_date")


class GovernmentReportListParams(SearchParams):
    sort: str | None = sort_by(GOVERNMENT_REPORT.sortable)
    country: list[CountryCode] = Field(default=[], description="Reports of one of these States.")
    instrument: list[Instrument] = Field(default=[], description="Under one of these instruments.")
    kind: list[ReportKind] = Field(default=[], description="One of these kinds.")
    status: list[ReportStatus] = Field(default=[], description="One of these statuses.")
    committee_session: list[Annotated[int, Field(ge=1, le=1000)]] = Field(
        default=[], description="Reviewed at one of these sessions."
    )
    monitored_by: list[uuid.UUID] = Field(default=[], description="Monitored by one of these partners.")
    is_overdue: bool | None = Field(default=None, description="Unsubmitted and past due (as of today), or not.")
    due_date_from: Day | None = None
    due_date_to: Day | None = None
    submitted_date_from: Day | None = None
    submitted_date_to: Day | None = None
    review_date_from: Day | None = None
    review_date_to: Day | None = None
    concluding_observations_date_from: Day | None = None
    concluding_observations_date_to: Day | None = None
    updated_after: Timestamp | None = Field(default=None, description="Changed after this instant.")


def list_reports(session: Session, params: GovernmentReportListParams) -> Listing[GovernmentReport]:
    statement = select(GovernmentReport).where(GovernmentReport.deleted_at.is_(None))  # type: ignore[union-attr]
    statement = where_in(statement, GovernmentReport.country, params.country)
    statement = where_in(statement, GovernmentReport.instrument, params.instrument)
    statement = where_in(statement, GovernmentReport.kind, params.kind)
    statement = where_in(statement, GovernmentReport.status, params.status)
    statement = where_in(statement, GovernmentReport.committee_session, params.committee_session)
    if params.monitored_by:
        statement = statement.where(
            GovernmentReport.id.in_(  # type: ignore[attr-defined]
                select(ReportMonitor.government_report_id).where(ReportMonitor.partner_id.in_(params.monitored_by))  # type: ignore[attr-defined]
            )
        )
    if params.is_overdue is not None:
        today = utcnow().date()
        overdue = (
            col(GovernmentReport.submitted_date).is_(None)
            & col(GovernmentReport.due_date).is_not(None)
            & (col(GovernmentReport.due_date) < today)
        )
        statement = statement.where(overdue if params.is_overdue else ~overdue)
    for name in DATE_FIELDS:
        column = getattr(GovernmentReport, name)
        statement = where_range(statement, column, getattr(params, f"{name}_from"), getattr(params, f"{name}_to"))
    if params.updated_after is not None:
        statement = statement.where(GovernmentReport.updated_at > params.updated_after)
    score = None
    if params.q is not None:
        statement, score = search(statement, GovernmentReport, session.get_bind().dialect.name, params.q)
    return Listing(statement, params, GOVERNMENT_REPORT.sortable, "due_date", score)


def _check_references(session: Session, data: GovernmentReportCreate, exclude: GovernmentReport | None = None) -> None:
    ids = data.monitored_by
    ensure_exist(session, Partner, ids, [f"/monitored_by/{i}" for i in range(len(ids))])
    if data.symbol is not None and (exclude is None or data.symbol != exclude.symbol):
        ensure_unique(
            session,
            GovernmentReport,
            [GovernmentReport.symbol == data.symbol],
            "/symbol",
            f"Symbol '{data.symbol}'",
            exclude_id=exclude.id if exclude else None,
        )
    if exclude is None or (data.owner_partner_id, data.external_ref) != (
        exclude.owner_partner_id,
        exclude.external_ref,
    ):
        ensure_ownership(session, GovernmentReport, data, exclude.id if exclude else None)


def _set_links(report: GovernmentReport, data: GovernmentReportCreate) -> None:
    report.articles = [
        ReportArticle(
            instrument=a.instrument.value, article=a.article, assessment=a.assessment.value, note=a.note, position=i
        )
        for i, a in enumerate(data.articles)
    ]
    report.monitors = [ReportMonitor(partner_id=partner_id) for partner_id in sorted(data.monitored_by)]


def create_report(
    session: Session, data: GovernmentReportCreate, record_id: uuid.UUID | None = None
) -> GovernmentReport:
    """Create it; `record_id` lets the seed and imports keep stable ids."""
    _check_references(session, data)
    report = GovernmentReport.model_validate(
        data.model_dump(exclude=set(LINK_FIELDS)), update={"id": record_id or uuid.uuid4()}
    )
    _set_links(report, data)
    session.add(report)
    session.flush()
    return report


def update_report(session: Session, report: GovernmentReport, patch: GovernmentReportUpdate) -> GovernmentReport:
    current = {name: getattr(report, name) for name in GovernmentReportCreate.model_fields if name not in LINK_FIELDS}
    links = _links(report)
    return _apply(session, report, merge_patch({**current, **links}, patch, GovernmentReportCreate), links)


def _links(report: GovernmentReport) -> dict[str, Any]:
    """The report's lists as a body holds them, to compare with the lists a write sends."""
    links = GovernmentReportLinks.model_validate(
        {
            "articles": [
                {"instrument": a.instrument, "article": a.article, "assessment": a.assessment, "note": a.note}
                for a in report.articles
            ],
            "monitored_by": [m.partner_id for m in report.monitors],
        }
    )
    return {name: getattr(links, name) for name in LINK_FIELDS}


def replace_report(session: Session, report: GovernmentReport, data: GovernmentReportCreate) -> GovernmentReport:
    """Make the report what `data` says; version and updated_at move only if something changed."""
    return _apply(session, report, data, _links(report))


def _apply(
    session: Session, report: GovernmentReport, data: GovernmentReportCreate, links: dict[str, Any]
) -> GovernmentReport:
    """Write `data` over the report whose current lists are `links`."""
    _check_references(session, data, report)
    links_changed = data.articles != links["articles"] or sorted(data.monitored_by) != links["monitored_by"]
    if links_changed:
        report.articles, report.monitors = [], []
        session.flush()
        _set_links(report, data)
    apply_changes(report, data.model_dump(exclude=set(LINK_FIELDS)), children_changed=links_changed)
    session.flush()
    return report


def delete_report(session: Session, report: GovernmentReport) -> None:
    activities = (
        select(Activity.id)
        .join(ActivityGovernmentReport)
        .where(ActivityGovernmentReport.government_report_id == report.id, Activity.deleted_at.is_(None))  # type: ignore[union-attr]
    )
    ensure_unused(session, "This report", [("activities", "/v1/activities", activities)])
    mark_deleted(report)
    session.flush()
