import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.access.keys import check_record_owner, claim_ownership, private_reader
from app.activities import service
from app.activities.kind import ACTIVITY
from app.activities.service import ActivityItem, ActivityListParams
from app.db import SAFE_METHODS, ReadSessionDep, SessionDep
from app.errors import CREATE_ERRORS, DELETE_ERRORS, LIST_ERRORS, READ_ERRORS, UPDATE_ERRORS
from app.http import check_if_match, delete_response, read_record, record_response, require_json
from app.lists import Page
from app.models.activities import Activity, ActivityCreate, ActivityPublic, ActivityUpdate
from app.partners.kind import PARTNER
from app.records import get_record
from app.streams import STREAM_RESPONSES, read_list
from app.writes.by_ref import BY_REF_RESPONSES, RefPath, put_by_ref
from app.writes.idempotency import IdempotencyDep, remember

router = APIRouter(prefix=ACTIVITY.path, tags=[ACTIVITY.title])


def load_activity(request: Request, session: SessionDep, activity_id: uuid.UUID) -> Activity:
    record = get_record(session, Activity, activity_id, for_update=request.method not in SAFE_METHODS)
    if request.method not in SAFE_METHODS:
        check_record_owner(request, record)
    return record


ActivityDep = Annotated[Activity, Depends(load_activity)]


@router.get("", response_model=Page[ActivityItem], responses={**LIST_ERRORS, **STREAM_RESPONSES})
async def list_activities(
    request: Request, session: ReadSessionDep, params: Annotated[ActivityListParams, Query()]
) -> Response:
    """List activities, filtered by objective, partner, country, status, dates and more."""
    return await read_list(
        request,
        session,
        params,
        service.list_activities,
        ACTIVITY.reader,
        "activities",
        lambda read, rows: service.with_includes(
            read, rows, params.include, private_reader(request, PARTNER.private_readers)
        ),
    )


@router.post(
    "",
    status_code=201,
    response_model=ActivityPublic,
    responses=CREATE_ERRORS,
    dependencies=[Depends(require_json)],
)
def create_activity(
    request: Request, idempotency: IdempotencyDep, session: SessionDep, body: ActivityCreate
) -> Response:
    """Create an activity with its participants, countries and monitored reports."""
    claim_ownership(request, body)
    activity = service.create_activity(session, body)
    location = request.url_for("get_activity", activity_id=activity.id).path
    return remember(
        session,
        idempotency,
        record_response(
            request, session, ACTIVITY.reader, activity.id, status_code=201, headers={"Location": location}
        ),
    )


@router.put(
    "/by-ref/{external_ref}",
    response_model=ActivityPublic,
    responses={**BY_REF_RESPONSES, **UPDATE_ERRORS},
    dependencies=[Depends(require_json)],
)
def put_activity_by_ref(request: Request, session: SessionDep, external_ref: RefPath, body: ActivityCreate) -> Response:
    """Create or replace the activity that `owner_partner_id` names `external_ref`.

    201 when it is new, 200 when it replaced the record (a PUT that changes nothing leaves its
    version alone). `If-None-Match: *` only creates; `If-Match` replaces only that version."""
    return put_by_ref(
        request,
        session,
        Activity,
        external_ref,
        body,
        create=service.create_activity,
        replace=service.replace_activity,
        reader=ACTIVITY.reader,
        location=lambda activity: request.url_for("get_activity", activity_id=activity.id).path,
    )


@router.get("/{activity_id}", response_model=ActivityPublic, responses=READ_ERRORS)
async def get_activity(request: Request, session: ReadSessionDep, activity_id: uuid.UUID) -> Response:
    """Fetch one activity with its participants, countries and monitored reports."""
    return await read_record(request, session, ACTIVITY.reader, activity_id)


@router.patch(
    "/{activity_id}",
    response_model=ActivityPublic,
    responses=UPDATE_ERRORS,
    dependencies=[Depends(require_json)],
)
def update_activity(request: Request, session: SessionDep, activity: ActivityDep, body: ActivityUpdate) -> Response:
    """Change an activity with a JSON Merge Patch; a list sent replaces the whole list."""
    check_if_match(request, session, ACTIVITY.reader, activity.id)
    service.update_activity(session, activity, body)
    return record_response(request, session, ACTIVITY.reader, activity.id)


@router.delete("/{activity_id}", status_code=204, responses=DELETE_ERRORS)
def delete_activity(request: Request, session: SessionDep, activity_id: uuid.UUID) -> Response:
    """Delete an activity; deleting it again is harmless."""
    return delete_response(
        request,
        session,
        Activity,
        activity_id,
        ACTIVITY.reader,
        service.delete_activity,
        check_owner=check_record_owner,
    )
