import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlmodel import Session

from app.access.keys import caller
from app.config import get_settings
from app.db import Database, ReadSession, ReadSessionDep, run_read
from app.errors import NOT_MODIFIED, NotFound, Problem, problems
from app.http import HEAD, none_match
from app.iati.export import MEDIA_TYPE, PROBLEMS_LISTED, NotPublishable, Publisher, etag, work_plan_code, write_batch
from app.iati.export import problems as find_problems
from app.streams import ExportResponse, ExportSlots

router = APIRouter(tags=["IATI"])

RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
        "description": "The IATI 2.03 activity file, streamed.",
    },
    **NOT_MODIFIED,
    **problems(404),
    409: {"model": Problem, "description": "IATI_ORG_ID_MISSING: no WORKPLAN_IATI_ORG_ID is set up."},
    422: {
        "model": Problem,
        "description": (
            "IATI_NOT_PUBLISHABLE: `errors` names each activity IATI would refuse as it stands, and what it "
            "lacks; or a path parameter is not valid."
        ),
    },
}


@router.get(
    "/work-plans/{work_plan_id}/iati-activities.xml",
    response_class=Response,
    responses=RESPONSES,
)
async def export_iati_activities(request: Request, session: ReadSessionDep, work_plan_id: uuid.UUID) -> Response:
    """The work plan's activities as one IATI 2.03 activity file, streamed."""
    head = bool(request.scope.get(HEAD, False))
    publisher = Publisher.of(get_settings())
    answer = await run_read(
        session, partial(_check, request=request, work_plan_id=work_plan_id, publisher=publisher), bounded=False
    )
    if isinstance(answer, Response):
        return answer
    name, tag = answer
    headers = {"ETag": tag, "Content-Disposition": f'attachment; filename="iati-activities-{name}.xml"'}
    if head:
        return Response(media_type=MEDIA_TYPE, headers=headers)
    slots: ExportSlots = request.state.exports
    end = slots.take(caller(request).key_id or (request.client.host if request.client else "unknown"))
    try:
        # The first batch here, before the answer starts: a database that fails is still a problem.
        first, after = await run_read(
            ReadSession(session.database),
            partial(write_batch, work_plan_id=work_plan_id, publisher=publisher, after=None),
            bounded=False,
        )
    except BaseException:
        end()
        raise
    body = _batches(session.database, work_plan_id, publisher, first, after)
    return ExportResponse(body, end, media_type=MEDIA_TYPE, headers=headers)


def _check(
    read: Session, *, request: Request, work_plan_id: uuid.UUID, publisher: Publisher
) -> Response | tuple[str, str]:
    """404, 304 or 422 now; else the plan's code and the file's ETag."""
    code = work_plan_code(read, work_plan_id)
    if code is None:
        raise NotFound(f"No work plan with id {work_plan_id}.")
    tag = etag(read, work_plan_id, publisher)
    if none_match(request, tag):
        return Response(status_code=304, headers={"ETag": tag})
    count, items = find_problems(read, work_plan_id, datetime.now(UTC).date())
    if items:
        listed = f" (the first {PROBLEMS_LISTED} by code are listed)" if count > PROBLEMS_LISTED else ""
        detail = (
            f"{count} of the plan's activities lack what IATI requires{listed}: the file is not written until "
            "each is put right."
            if count
            else "The work plan has no activities: an IATI file holds at least one."
        )
        raise NotPublishable(detail, errors=items)
    return code, tag


async def _batches(
    database: Database, work_plan_id: uuid.UUID, publisher: Publisher, first: bytes, after: str | None
) -> AsyncIterator[bytes]:
    yield first
    while after is not None:
        batch: Callable[[Session], tuple[bytes, str | None]] = partial(
            write_batch, work_plan_id=work_plan_id, publisher=publisher, after=after
        )
        data, after = await run_read(ReadSession(database), batch, bounded=False)
        yield data
