import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.db import SAFE_METHODS, ReadSessionDep, SessionDep
from app.errors import CREATE_ERRORS, DELETE_ERRORS, LIST_ERRORS, READ_ERRORS, UPDATE_ERRORS
from app.http import check_if_match, delete_response, read_record, record_response, require_json
from app.lists import Page
from app.models.objectives import Objective, ObjectiveCreate, ObjectivePublic, ObjectiveUpdate
from app.objectives import service
from app.objectives.kind import OBJECTIVE
from app.objectives.service import ObjectiveItem, ObjectiveListParams
from app.records import get_record
from app.streams import STREAM_RESPONSES, read_list
from app.writes.idempotency import IdempotencyDep, remember

router = APIRouter(prefix=OBJECTIVE.path, tags=[OBJECTIVE.title])


def load_objective(request: Request, session: SessionDep, objective_id: uuid.UUID) -> Objective:
    return get_record(session, Objective, objective_id, for_update=request.method not in SAFE_METHODS)


ObjectiveDep = Annotated[Objective, Depends(load_objective)]


@router.get("", response_model=Page[ObjectiveItem], responses={**LIST_ERRORS, **STREAM_RESPONSES})
async def list_objectives(
    request: Request, session: ReadSessionDep, params: Annotated[ObjectiveListParams, Query()]
) -> Response:
    """List objectives, in plan order unless sorted otherwise."""
    return await read_list(
        request,
        session,
        params,
        service.list_objectives,
        OBJECTIVE.reader,
        "objectives",
        lambda read, rows: service.with_includes(read, rows, params.include),
    )


@router.post(
    "",
    status_code=201,
    response_model=ObjectivePublic,
    responses=CREATE_ERRORS,
    dependencies=[Depends(require_json)],
)
def create_objective(
    request: Request, idempotency: IdempotencyDep, session: SessionDep, body: ObjectiveCreate
) -> Response:
    """Create an objective in a work plan; its code must be unused in that plan."""
    objective = service.create_objective(session, body)
    location = request.url_for("get_objective", objective_id=objective.id).path
    return remember(
        session,
        idempotency,
        record_response(
            request, session, OBJECTIVE.reader, objective.id, status_code=201, headers={"Location": location}
        ),
    )


@router.get("/{objective_id}", response_model=ObjectivePublic, responses=READ_ERRORS)
async def get_objective(request: Request, session: ReadSessionDep, objective_id: uuid.UUID) -> Response:
    """Fetch one objective."""
    return await read_record(request, session, OBJECTIVE.reader, objective_id)


@router.patch(
    "/{objective_id}",
    response_model=ObjectivePublic,
    responses=UPDATE_ERRORS,
    dependencies=[Depends(require_json)],
)
def update_objective(request: Request, session: SessionDep, objective: ObjectiveDep, body: ObjectiveUpdate) -> Response:
    """Change an objective with a JSON Merge Patch."""
    check_if_match(request, session, OBJECTIVE.reader, objective.id)
    service.update_objective(session, objective, body)
    return record_response(request, session, OBJECTIVE.reader, objective.id)


@router.delete("/{objective_id}", status_code=204, responses=DELETE_ERRORS)
def delete_objective(request: Request, session: SessionDep, objective_id: uuid.UUID) -> Response:
    """Delete an objective that has no activities left; deleting it again is harmless."""
    return delete_response(request, session, Objective, objective_id, OBJECTIVE.reader, service.delete_objective)
