"""The activity as a record type (app/kind.py)."""

from app.kind import Kind
from app.models.access import Role
from app.models.activities import (
    Activity,
    ActivityCountry,
    ActivityCreate,
    ActivityGovernmentReport,
    ActivityPublic,
)
from app.reads import Child

ACTIVITY = Kind(
    name="activity",
    collection="activities",
    title="Activities",
    description="The commitments under each objective, with who takes part and where.",
    table=Activity,
    create=ActivityCreate,
    public=ActivityPublic,
    sortable={
        "id": Activity.id,
        "code": Activity.code,
        "title": Activity.title,
        "status": Activity.status,
        "planned_start": Activity.planned_start,
        "planned_end": Activity.planned_end,
        "actual_start": Activity.actual_start,
        "actual_end": Activity.actual_end,
        "created_at": Activity.created_at,
        "updated_at": Activity.updated_at,
    },
    # A partner's key writes the activities its partner owns (the services check ownership).
    writes=Role.PARTNER,
    unique=("work_plan_id", "code"),
    duplicate="Activity code '{}' in this work plan",
    children=(
        Child("countries", Activity.countries, ActivityCountry.country),  # type: ignore[arg-type]
        Child("participants", Activity.participants, cell="pairs"),  # type: ignore[arg-type]
        Child(
            "government_report_ids",
            Activity.government_reports,  # type: ignore[arg-type]
            ActivityGovernmentReport.government_report_id,  # type: ignore[arg-type]
        ),
    ),
)
