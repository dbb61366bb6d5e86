"""Every table, imported in one place so that Alembic and the tests see them all."""

from app.models.access import ApiKey, AuditEntry
from app.models.activities import Activity, ActivityCountry, ActivityGovernmentReport, ActivityParticipant
from app.models.objectives import Objective
from app.models.partners import Partner
from app.models.ratifications import Ratification
from app.models.reports import GovernmentReport, ReportArticle, ReportMonitor
from app.models.webhooks import Webhook, WebhookDelivery
from app.models.work_plans import WorkPlan
from app.models.writes import IdempotencyKey, SyncState

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
    "Webhook",
    "WebhookDelivery",
    "WorkPlan",
]
