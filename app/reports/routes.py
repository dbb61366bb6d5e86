import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from app.access.keys import check_record_owner, claim_ownership, private_reader
from app.db import SAFE_METHODS, ReadSessionDep, SessionDep
from app.errors import CREATE_ERRORS, DELETE_ERRORS, LIST_ERRORS, READ_ERRORS, UPDATE_ERRORS
from app.http import check_if_match, delete_response, read_record, record_response, require_json
from app.lists import Page
from app.models.reports import (
    GovernmentReport,
    GovernmentReportCreate,
    GovernmentReportUpdate,
    GovernmentReportWithNotes,
)
from app.reads import Reader
from app.records import get_record
from app.reports import service
from app.reports.kind import GOVERNMENT_REPORT
from app.reports.service import GovernmentReportListParams
from app.streams import STREAM_RESPONSES, read_list
from app.writes.by_ref import BY_REF_RESPONSES, RefPath, put_by_ref
from app.writes.idempotency import IdempotencyDep, remember

router = APIRouter(prefix=GOVERNMENT_REPORT.path, tags=[GOVERNMENT_REPORT.title])


def reader(request: Request) -> Reader:
    """A report as the caller may read it, in a get and in a write's answer: with its internal notes
    for an editor, an admin or its owner's key (`private_reader`)."""
    return private_reader(request, GOVERNMENT_REPORT.private_readers)


def load_government_report(request: Request, session: SessionDep, government_report_id: uuid.UUID) -> GovernmentReport:
    record = get_record(session, GovernmentReport, government_report_id, for_update=request.method not in SAFE_METHODS)
    if request.method not in SAFE_METHODS:
        check_record_owner(request, record)
    return record


GovernmentReportDep = Annotated[GovernmentReport, Depends(load_government_report)]


@router.get("", response_model=Page[GovernmentReportWithNotes], responses={**LIST_ERRORS, **STREAM_RESPONSES})
async def list_government_reports(
    request: Request, session: ReadSessionDep, params: Annotated[GovernmentReportListParams, Query()]
) -> Response:
    """List State party reports to the Committee, by country, instrument, status and dates."""
    return await read_list(request, session, params, service.list_reports, reader(request), "government-reports")


@router.post(
    "",
    status_code=201,
    response_model=GovernmentReportWithNotes,
    responses=CREATE_ERRORS,
    dependencies=[Depends(require_json)],
)
def create_government_report(
    request: Request, idempotency: IdempotencyDep, session: SessionDep, body: GovernmentReportCreate
) -> Response:
    """Record a State party report, with its article analysis."""
    claim_ownership(request, body)
    government_report = service.create_report(session, body)
    location = request.url_for("get_government_report", government_report_id=government_report.id).path
    return remember(
        session,
        idempotency,
        record_response(
            request, session, reader(request), government_report.id, status_code=201, headers={"Location": location}
        ),
    )


@router.put(
    "/by-ref/{external_ref}",
    response_model=GovernmentReportWithNotes,
    responses={**BY_REF_RESPONSES, **UPDATE_ERRORS},
    dependencies=[Depends(require_json)],
)
def put_government_report_by_ref(
    request: Request, session: SessionDep, external_ref: RefPath, body: GovernmentReportCreate
) -> Response:
    """Create or replace the report that `owner_partner_id` names `external_ref`.

    201 when it is new, 200 when it replaced the record (a PUT that changes nothing leaves its
    version alone). `If-None-Match: *` only creates; `If-Match` replaces only that version."""
    return put_by_ref(
        request,
        session,
        GovernmentReport,
        external_ref,
        body,
        create=service.create_report,
        replace=service.replace_report,
        reader=reader(request),
        location=lambda report: request.url_for("get_government_report", government_report_id=report.id).path,
    )


@router.get("/{government_report_id}", response_model=GovernmentReportWithNotes, responses=READ_ERRORS)
async def get_government_report(request: Request, session: ReadSessionDep, government_report_id: uuid.UUID) -> Response:
    """Fetch one government report, with whether it is overdue today."""
    return await read_record(request, session, reader(request), government_report_id)


@router.patch(
    "/{government_report_id}",
    response_model=GovernmentReportWithNotes,
    responses=UPDATE_ERRORS,
    dependencies=[Depends(require_json)],
)
def update_government_report(
    request: Request,
    session: SessionDep,
    government_report: GovernmentReportDep,
    body: GovernmentReportUpdate,
) -> Response:
    """Change a government report with a JSON Merge Patch; a list sent replaces the whole list."""
    check_if_match(request, session, reader(request), government_report.id)
    service.update_report(session, government_report, body)
    return record_response(request, session, reader(request), government_report.id)


@router.delete("/{government_report_id}", status_code=204, responses=DELETE_ERRORS)
def delete_government_report(request: Request, session: SessionDep, government_report_id: uuid.UUID) -> Response:
    """Delete a report that no activity monitors any more; deleting it again is harmless."""
    return delete_response(
        request,
        session,
        GovernmentReport,
        government_report_id,
        reader(request),
        service.delete_report,
        check_owner=check_record_owner,
    )
