import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.db import SAFE_METHODS, ReadSessionDep, SessionDep
from app.errors import CREATE_ERRORS, DELETE_ERRORS, LIST_ERRORS, READ_ERRORS, UPDATE_ERRORS
from app.http import check_if_match, delete_response, read_record, record_response, require_json
from app.lists import Page
from app.models.work_plans import WorkPlan, WorkPlanCreate, WorkPlanPublic, WorkPlanUpdate
from app.records import get_record
from app.streams import STREAM_RESPONSES, read_list
from app.work_plans import service
from app.work_plans.kind import WORK_PLAN
from app.work_plans.service import WorkPlanListParams
from app.writes.idempotency import IdempotencyDep, remember

router = APIRouter(prefix=WORK_PLAN.path, tags=[WORK_PLAN.title])


def load_work_plan(request: Request, session: SessionDep, work_plan_id: uuid.UUID) -> WorkPlan:
    return get_record(session, WorkPlan, work_plan_id, for_update=request.method not in SAFE_METHODS)


WorkPlanDep = Annotated[WorkPlan, Depends(load_work_plan)]


@router.get("", response_model=Page[WorkPlanPublic], responses={**LIST_ERRORS, **STREAM_RESPONSES})
async def list_work_plans(
    request: Request, session: ReadSessionDep, params: Annotated[WorkPlanListParams, Query()]
) -> Response:
    """List work plans, the latest period first."""
    return await read_list(request, session, params, service.list_work_plans, WORK_PLAN.reader, "work-plans")


@router.post(
    "",
    status_code=201,
    response_model=WorkPlanPublic,
    responses=CREATE_ERRORS,
    dependencies=[Depends(require_json)],
)
def create_work_plan(
    request: Request, idempotency: IdempotencyDep, session: SessionDep, body: WorkPlanCreate
) -> Response:
    """Create a work plan; its code must be unused."""
    work_plan = service.create_work_plan(session, body)
    location = request.url_for("get_work_plan", work_plan_id=work_plan.id).path
    return remember(
        session,
        idempotency,
        record_response(
            request, session, WORK_PLAN.reader, work_plan.id, status_code=201, headers={"Location": location}
        ),
    )


@router.get("/{work_plan_id}", response_model=WorkPlanPublic, responses=READ_ERRORS)
async def get_work_plan(request: Request, session: ReadSessionDep, work_plan_id: uuid.UUID) -> Response:
    """Fetch one work plan."""
    return await read_record(request, session, WORK_PLAN.reader, work_plan_id)


@router.patch(
    "/{work_plan_id}",
    response_model=WorkPlanPublic,
    responses=UPDATE_ERRORS,
    dependencies=[Depends(require_json)],
)
def update_work_plan(request: Request, session: SessionDep, work_plan: WorkPlanDep, body: WorkPlanUpdate) -> Response:
    """Change a work plan with a JSON Merge Patch."""
    check_if_match(request, session, WORK_PLAN.reader, work_plan.id)
    service.update_work_plan(session, work_plan, body)
    return record_response(request, session, WORK_PLAN.reader, work_plan.id)


@router.delete("/{work_plan_id}", status_code=204, responses=DELETE_ERRORS)
def delete_work_plan(request: Request, session: SessionDep, work_plan_id: uuid.UUID) -> Response:
    """Delete a work plan that has no objectives left; deleting it again is harmless."""
    return delete_response(request, session, WorkPlan, work_plan_id, WORK_PLAN.reader, service.delete_work_plan)
