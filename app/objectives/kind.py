"""The objective as a record type (app/kind.py)."""

from app.kind import Kind
from app.models.access import Role
from app.models.objectives import Objective, ObjectiveCreate, ObjectivePublic

OBJECTIVE = Kind(
    name="objective",
    collection="objectives",
    title="Objectives",
    description="The headings of a plan, in its order.",
    table=Objective,
    create=ObjectiveCreate,
    public=ObjectivePublic,
    sortable={
        "id": Objective.id,
        "position": Objective.position,
        "code": Objective.code,
        "title": Objective.title,
        "created_at": Objective.created_at,
        "updated_at": Objective.updated_at,
    },
    writes=Role.EDITOR,
    unique=("work_plan_id", "code"),
    duplicate="Objective code '{}' in this work plan",
)
