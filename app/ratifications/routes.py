import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.db import SAFE_METHODS, ReadSessionDep, SessionDep
from app.errors import CREATE_ERRORS, DELETE_ERRORS, LIST_ERRORS, READ_ERRORS, UPDATE_ERRORS
from app.http import check_if_match, delete_response, read_record, record_response, require_json
from app.lists import Page
from app.models.ratifications import Ratification, RatificationCreate, RatificationPublic, RatificationUpdate
from app.ratifications import service
from app.ratifications.kind import RATIFICATION
from app.ratifications.service import RatificationListParams
from app.records import get_record
from app.streams import STREAM_RESPONSES, read_list
from app.writes.idempotency import IdempotencyDep, remember

router = APIRouter(prefix=RATIFICATION.path, tags=[RATIFICATION.title])


def load_ratification(request: Request, session: SessionDep, ratification_id: uuid.UUID) -> Ratification:
    return get_record(session, Ratification, ratification_id, for_update=request.method not in SAFE_METHODS)


RatificationDep = Annotated[Ratification, Depends(load_ratification)]


@router.get("", response_model=Page[RatificationPublic], responses={**LIST_ERRORS, **STREAM_RESPONSES})
async def list_ratifications(
    request: Request, session: ReadSessionDep, params: Annotated[RatificationListParams, Query()]
) -> Response:
    """List which States are party to which instrument, and since when."""
    return await read_list(request, session, params, service.list_ratifications, RATIFICATION.reader, "ratifications")


@router.post(
    "",
    status_code=201,
    response_model=RatificationPublic,
    responses=CREATE_ERRORS,
    dependencies=[Depends(require_json)],
)
def create_ratification(
    request: Request, idempotency: IdempotencyDep, session: SessionDep, body: RatificationCreate
) -> Response:
    """Record a State's ratification, accession or succession; one per State and instrument."""
    ratification = service.create_ratification(session, body)
    location = request.url_for("get_ratification", ratification_id=ratification.id).path
    return remember(
        session,
        idempotency,
        record_response(
            request, session, RATIFICATION.reader, ratification.id, status_code=201, headers={"Location": location}
        ),
    )


@router.get("/{ratification_id}", response_model=RatificationPublic, responses=READ_ERRORS)
async def get_ratification(request: Request, session: ReadSessionDep, ratification_id: uuid.UUID) -> Response:
    """Fetch one ratification, with its entry into force computed or overridden."""
    return await read_record(request, session, RATIFICATION.reader, ratification_id)


@router.patch(
    "/{ratification_id}",
    response_model=RatificationPublic,
    responses=UPDATE_ERRORS,
    dependencies=[Depends(require_json)],
)
def update_ratification(
    request: Request, session: SessionDep, ratification: RatificationDep, body: RatificationUpdate
) -> Response:
    """Change a ratification with a JSON Merge Patch; null entry_into_force_override computes the date again."""
    check_if_match(request, session, RATIFICATION.reader, ratification.id)
    service.update_ratification(session, ratification, body)
    return record_response(request, session, RATIFICATION.reader, ratification.id)


@router.delete("/{ratification_id}", status_code=204, responses=DELETE_ERRORS)
def delete_ratification(request: Request, session: SessionDep, ratification_id: uuid.UUID) -> Response:
    """Delete a ratification; deleting it again is harmless."""
    return delete_response(
        request, session, Ratification, ratification_id, RATIFICATION.reader, service.delete_ratification
    )
