"""The work plan as a record type (app/kind.py)."""

from app.kind import Kind
from app.models.access import Role
from app.models.work_plans import WorkPlan, WorkPlanCreate, WorkPlanPublic

WORK_PLAN = Kind(
    name="work_plan",
    collection="work_plans",
    title="Work plans",
    description="A year's plan of the subgroup.",
    table=WorkPlan,
    create=WorkPlanCreate,
    public=WorkPlanPublic,
    sortable={
        "id": WorkPlan.id,
        "code": WorkPlan.code,
        "title": WorkPlan.title,
        "period_start": WorkPlan.period_start,
        "created_at": WorkPlan.created_at,
        "updated_at": WorkPlan.updated_at,
    },
    writes=Role.EDITOR,
    unique=("code",),
    duplicate="Work plan code '{}'",
)
