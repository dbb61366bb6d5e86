from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from app.access.keys import private_reader
from app.db import ReadSessionDep
from app.errors import problems
from app.reads import to_json
from app.sync.feed import ChangesPage, ChangesParams, read_changes

router = APIRouter(tags=["Sync"])


@router.get("/changes", response_model=ChangesPage, responses=problems(400, 410, 422))
def list_changes(request: Request, session: ReadSessionDep, params: Annotated[ChangesParams, Query()]) -> Response:
    """Every record changed after `cursor`, oldest change first, and tombstones for deletions.

    Without a cursor: every live record (the initial sync). Items are records at their latest
    state. Follow `next_cursor` while `has_more` is true; then store it and poll with it later.
    Apply an item only if its `change_seq` is above the one you hold for that (type, id). A 410
    `CURSOR_EXPIRED` means: start again from no cursor."""
    page = read_changes(session, params, lambda readers: private_reader(request, readers))
    headers = {"Cache-Control": "no-store", "Vary": "Authorization"}  # private fields by the caller's key
    return Response(to_json(page), media_type="application/json", headers=headers)
