"""The government report as a record type (app/kind.py)."""

from app.kind import Kind
from app.models.access import Role
from app.models.reports import (
    GovernmentReport,
    GovernmentReportCreate,
    GovernmentReportPublic,
    GovernmentReportWithNotes,
    ReportMonitor,
)
from app.reads import Child

GOVERNMENT_REPORT = Kind(
    name="government_report",
    collection="government_reports",
    title="Government reports",
    description="State party reports to the Committee and their analysis.",
    table=GovernmentReport,
    create=GovernmentReportCreate,
    public=GovernmentReportPublic,
    sortable={
        "id": GovernmentReport.id,
        "due_date": GovernmentReport.due_date,
        "submitted_date": GovernmentReport.submitted_date,
        "review_date": GovernmentReport.review_date,
        "country": GovernmentReport.country,
        "symbol": GovernmentReport.symbol,
        "created_at": GovernmentReport.created_at,
        "updated_at": GovernmentReport.updated_at,
    },
    # A partner's key writes the reports its partner owns (the services check ownership).
    writes=Role.PARTNER,
    unique=("symbol",),
    duplicate="Symbol '{}'",
    children=(
        Child("articles", GovernmentReport.articles),  # type: ignore[arg-type]
        Child("monitored_by", GovernmentReport.monitors, ReportMonitor.partner_id),  # type: ignore[arg-type]
    ),
    # The internal notes: for editors, admins and the owner's key.
    private=GovernmentReportWithNotes,
    owner="owner_partner_id",
)
