"""Every table, imported in one place so that Alembic and the tests see them all."""

from app.access.models import ApiKey, AuditEntry
from app.activities.models import Activity, ActivityCountry, ActivityGovernmentReport, ActivityParticipant
from app.objectives.models import Objective
from app.partners.models import Partner
from app.ratifications.models import Ratification
from app.reports.models import GovernmentReport, ReportArticle, ReportMonitor
from app.work_plans.models import WorkPlan
from app.writes.models import IdempotencyKey, SyncState

__all__ = [
    "Activity",
    "ActivityCountry",
    "ActivityGovernmentReport",
    "ActivityParticipant",
    "ApiKey",
    "AuditEntry",
    "GovernmentReport",
    "IdempotencyKey",
    "Objective",
    "Partner",
    "Ratification",
    "ReportArticle",
    "ReportMonitor",
    "SyncState",
    "WorkPlan",
]
