import uuid

from pydantic import Field
from sqlmodel import Session, select

from app.lists import Listing, ListParams, sort_by, where_in, where_range
from app.models.objectives import Objective
from app.models.work_plans import WorkPlan, WorkPlanCreate, WorkPlanUpdate
from app.records import Code, Day, Timestamp, apply_changes, ensure_unique, ensure_unused, mark_deleted, merge_patch
from app.vocabularies import WorkPlanStatus
from app.work_plans.kind import WORK_PLAN


class WorkPlanListParams(ListParams):
    sort: str | None = sort_by(WORK_PLAN.sortable)
    code: list[Code] = Field(default=[], description="One of these codes.")
    status: list[WorkPlanStatus] = Field(default=[], description="One of these statuses.")
    period_start_from: Day | None = None
    period_start_to: Day | None = None
    period_end_from: Day | None = None
    period_end_to: Day | None = None
    updated_after: Timestamp | None = Field(default=None, description="Changed after this instant.")


def list_work_plans(session: Session, params: WorkPlanListParams) -> Listing[WorkPlan]:
    statement = select(WorkPlan).where(WorkPlan.deleted_at.is_(None))  # type: ignore[union-attr]
    statement = where_in(statement, WorkPlan.code, params.code)
    statement = where_in(statement, WorkPlan.status, params.status)
    statement = where_range(statement, WorkPlan.period_start, params.period_start_from, params.period_start_to)
    statement = where_range(statement, WorkPlan.period_end, params.period_end_from, params.period_end_to)
    if params.updated_after is not None:
        statement = statement.where(WorkPlan.updated_at > params.updated_after)
    return Listing(statement, params, WORK_PLAN.sortable, "-period_start,code")


def _ensure_code_free(session: Session, code: str, exclude: WorkPlan | None = None) -> None:
    ensure_unique(
        session,
        WorkPlan,
        [WorkPlan.code == code],
        "/code",
        f"Work plan code '{code}'",
        exclude_id=exclude.id if exclude else None,
    )


def create_work_plan(session: Session, data: WorkPlanCreate, record_id: uuid.UUID | None = None) -> WorkPlan:
    """Create it; `record_id` lets the seed and imports keep stable ids."""
    _ensure_code_free(session, data.code)
    work_plan = WorkPlan.model_validate(data, update={"id": record_id or uuid.uuid4()})
    session.add(work_plan)
    session.flush()
    return work_plan


def update_work_plan(session: Session, work_plan: WorkPlan, patch: WorkPlanUpdate) -> WorkPlan:
    current = WorkPlanCreate.model_validate(work_plan, from_attributes=True).model_dump()
    merged = merge_patch(current, patch, WorkPlanCreate)
    if merged.code != work_plan.code:
        _ensure_code_free(session, merged.code, work_plan)
    apply_changes(work_plan, merged.model_dump())
    session.flush()
    return work_plan


def delete_work_plan(session: Session, work_plan: WorkPlan) -> None:
    live_objectives = select(Objective.id).where(
        Objective.work_plan_id == work_plan.id,
        Objective.deleted_at.is_(None),  # type: ignore[union-attr]
    )
    ensure_unused(session, "This work plan", [("objectives", "/v1/objectives", live_objectives)])
    mark_deleted(work_plan)
    session.flush()
