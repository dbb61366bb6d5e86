import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.access.keys import private_reader
from app.db import SAFE_METHODS, ReadSessionDep, SessionDep
from app.errors import CREATE_ERRORS, DELETE_ERRORS, LIST_ERRORS, READ_ERRORS, UPDATE_ERRORS
from app.http import check_if_match, delete_response, read_record, record_response, require_json
from app.lists import Page
from app.models.partners import Partner, PartnerCreate, PartnerUpdate, PartnerWithContacts
from app.partners import service
from app.partners.kind import PARTNER
from app.partners.service import PartnerListParams
from app.reads import Reader
from app.records import get_record
from app.streams import STREAM_RESPONSES, read_list
from app.writes.idempotency import IdempotencyDep, remember

router = APIRouter(prefix=PARTNER.path, tags=[PARTNER.title])


def reader(request: Request) -> Reader:
    """A partner as the caller may read it, in a get and in a write's answer: with its contacts and
    notes for an editor, an admin or its own key (`private_reader`)."""
    return private_reader(request, PARTNER.private_readers)


def load_partner(request: Request, session: SessionDep, partner_id: uuid.UUID) -> Partner:
    return get_record(session, Partner, partner_id, for_update=request.method not in SAFE_METHODS)


PartnerDep = Annotated[Partner, Depends(load_partner)]


@router.get("", response_model=Page[PartnerWithContacts], responses={**LIST_ERRORS, **STREAM_RESPONSES})
async def list_partners(
    request: Request, session: ReadSessionDep, params: Annotated[PartnerListParams, Query()]
) -> Response:
    """List partners: organisations, networks and UN bodies the subgroup works with."""
    return await read_list(request, session, params, service.list_partners, reader(request), "partners")


@router.post(
    "",
    status_code=201,
    response_model=PartnerWithContacts,
    responses=CREATE_ERRORS,
    dependencies=[Depends(require_json)],
)
def create_partner(request: Request, idempotency: IdempotencyDep, session: SessionDep, body: PartnerCreate) -> Response:
    """Create a partner; its name must be unused."""
    partner = service.create_partner(session, body)
    location = request.url_for("get_partner", partner_id=partner.id).path
    return remember(
        session,
        idempotency,
        record_response(request, session, reader(request), partner.id, status_code=201, headers={"Location": location}),
    )


@router.get("/{partner_id}", response_model=PartnerWithContacts, responses=READ_ERRORS)
async def get_partner(request: Request, session: ReadSessionDep, partner_id: uuid.UUID) -> Response:
    """Fetch one partner; its contact details and notes for an editor, an admin or its own key."""
    return await read_record(request, session, reader(request), partner_id)


@router.patch(
    "/{partner_id}",
    response_model=PartnerWithContacts,
    responses=UPDATE_ERRORS,
    dependencies=[Depends(require_json)],
)
def update_partner(request: Request, session: SessionDep, partner: PartnerDep, body: PartnerUpdate) -> Response:
    """Change a partner with a JSON Merge Patch."""
    check_if_match(request, session, reader(request), partner.id)
    service.update_partner(session, partner, body)
    return record_response(request, session, reader(request), partner.id)


@router.delete("/{partner_id}", status_code=204, responses=DELETE_ERRORS)
def delete_partner(request: Request, session: SessionDep, partner_id: uuid.UUID) -> Response:
    """Delete a partner that no activity or report still names; deleting it again is harmless."""
    return delete_response(request, session, Partner, partner_id, reader(request), service.delete_partner)
