import uuid
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field
from sqlmodel import Session, select

from app.activities.kind import ACTIVITY
from app.activities.service import activities_public
from app.errors import ErrorItem, ValidationFailed
from app.lists import Listing, SearchParams, sort_by, where_in
from app.models.activities import Activity, ActivityPublic
from app.models.objectives import Objective, ObjectiveCreate, ObjectivePublic, ObjectiveUpdate
from app.models.work_plans import WorkPlan
from app.objectives.kind import OBJECTIVE
from app.records import (
    Code,
    Timestamp,
    apply_changes,
    ensure_exist,
    ensure_unique,
    ensure_unused,
    mark_deleted,
    merge_patch,
)
from app.search import search


class ObjectiveItem(ObjectivePublic):
    activities: list[ActivityPublic] | None = Field(
        default=None, exclude_if=lambda v: v is None, description="With include=activities: its live activities."
    )


class ObjectiveListParams(SearchParams):
    sort: str | None = sort_by(OBJECTIVE.sortable)
    include: list[Literal["activities"]] = Field(
        default=[], description="Embed related records in each item (JSON pages only): activities."
    )
    work_plan_id: list[uuid.UUID] = Field(default=[], description="In one of these work plans.")
    code: list[Code] = Field(default=[], description="One of these codes.")
    updated_after: Timestamp | None = Field(default=None, description="Changed after this instant.")


def with_includes(session: Session, rows: Sequence[Any], include: Sequence[str]) -> list[dict[str, Any]]:
    """Items with their activities (as ObjectiveItem): the same few queries whatever the page size."""
    items = OBJECTIVE.reader.build(session, rows)
    if "activities" in include:
        by_objective: dict[str, list[dict[str, Any]]] = {item["id"]: [] for item in items}
        if items:
            statement = (
                ACTIVITY.reader.select()
                .where(
                    ACTIVITY.reader.table.c.objective_id.in_([uuid.UUID(item["id"]) for item in items]),
                    ACTIVITY.reader.table.c.deleted_at.is_(None),
                )
                .order_by(ACTIVITY.reader.table.c.code)
            )
            for activity in activities_public(session, session.connection().execute(statement).all()):
                by_objective[activity["objective_id"]].append(activity)
        for item in items:
            item["activities"] = by_objective[item["id"]]
    return items


def list_objectives(session: Session, params: ObjectiveListParams) -> Listing[Objective]:
    statement = select(Objective).where(Objective.deleted_at.is_(None))  # type: ignore[union-attr]
    statement = where_in(statement, Objective.work_plan_id, params.work_plan_id)
    statement = where_in(statement, Objective.code, params.code)
    if params.updated_after is not None:
        statement = statement.where(Objective.updated_at > params.updated_after)
    score = None
    if params.q is not None:
        statement, score = search(statement, Objective, session.get_bind().dialect.name, params.q)
    return Listing(statement, params, OBJECTIVE.sortable, "position,code", score)


def _ensure_code_free(session: Session, data: ObjectiveCreate, exclude: Objective | None = None) -> None:
    ensure_unique(
        session,
        Objective,
        [Objective.work_plan_id == data.work_plan_id, Objective.code == data.code],
        "/code",
        f"Objective code '{data.code}' in this work plan",
        exclude_id=exclude.id if exclude else None,
    )


def create_objective(session: Session, data: ObjectiveCreate, record_id: uuid.UUID | None = None) -> Objective:
    """Create it; `record_id` lets the seed and imports keep stable ids."""
    ensure_exist(session, WorkPlan, [data.work_plan_id], ["/work_plan_id"])
    _ensure_code_free(session, data)
    objective = Objective.model_validate(data, update={"id": record_id or uuid.uuid4()})
    session.add(objective)
    session.flush()
    return objective


def update_objective(session: Session, objective: Objective, patch: ObjectiveUpdate) -> Objective:
    current = {name: getattr(objective, name) for name in ObjectiveCreate.model_fields}
    merged = merge_patch(current, patch, ObjectiveCreate)
    if merged.work_plan_id != objective.work_plan_id:
        # Activity codes are unique per plan, so moving an objective could collide
        # with the other plan's codes; create it in the other plan instead.
        raise ValidationFailed(
            "An objective cannot move to another work plan.",
            errors=[
                ErrorItem.model_validate({"in": "body", "pointer": "/work_plan_id", "message": "cannot be changed"})
            ],
        )
    if merged.code != objective.code:
        _ensure_code_free(session, merged, objective)
    apply_changes(objective, merged.model_dump())
    session.flush()
    return objective


def delete_objective(session: Session, objective: Objective) -> None:
    live_activities = select(Activity.id).where(
        Activity.objective_id == objective.id,
        Activity.deleted_at.is_(None),  # type: ignore[union-attr]
    )
    ensure_unused(session, "This objective", [("activities", "/v1/activities", live_activities)])
    mark_deleted(objective)
    session.flush()
