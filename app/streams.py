"""`format=csv|ndjson` on a list: every matching row, streamed in chunks, in constant memory.

CSV has one column per field of the JSON item, in the same order, and flattens lists as
`workplan export` does: countries `KEN;FRA`, participants `partner_id:role;...`, id lists
`id;id`, articles as JSON text. A cell a spreadsheet would run as a formula (starting with
= + - @, a tab or a carriage return) gets a leading `'`. `bom=true` starts the file with a
UTF-8 byte order mark, which Excel needs to read UTF-8.
"""

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.csv_cells import to_cell
from app.http import page_response
from app.lists import Format, Listing, Page

MEDIA_TYPES = {Format.CSV: "text/csv; charset=utf-8", Format.NDJSON: "application/x-ndjson"}

STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
        "description": "A page of items; with format=csv or format=ndjson, every matching item.",
    }
}


def stream_list(
    session: Session,
    listing: Listing[Any],
    to_public: Callable[[Any], BaseModel],
    model: type[BaseModel],
    name: str,
) -> StreamingResponse:
    fmt = listing.params.format
    chunks = listing.stream(session)  # raises here, before the response starts, on a bad sort
    if fmt is Format.NDJSON:
        body: Iterator[bytes] = _ndjson(chunks, to_public)
    else:
        body = _csv(chunks, to_public, model, bom=listing.params.bom)
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt.value}"'},
    )


def _ndjson(chunks: Iterator[Sequence[Any]], to_public: Callable[[Any], BaseModel]) -> Iterator[bytes]:
    for rows in chunks:
        yield b"".join(to_public(row).model_dump_json().encode() + b"\n" for row in rows)


def _csv(
    chunks: Iterator[Sequence[Any]], to_public: Callable[[Any], BaseModel], model: type[BaseModel], *, bom: bool
) -> Iterator[bytes]:
    fields = [*model.model_fields, *model.model_computed_fields]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if bom:
        buffer.write("\ufeff")
    writer.writerow(fields)
    for rows in chunks:
        for row in rows:
            item = to_public(row).model_dump(mode="json")
            writer.writerow([to_cell(field, item[field]) for field in fields])
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def list_response(
    request: Request,
    session: Session,
    listing: Listing[Any],
    to_public: Callable[[Any], BaseModel],
    public: type[BaseModel],
    name: str,
    items: Callable[[Sequence[Any]], Sequence[BaseModel]] | None = None,
) -> Response:
    """How every list answers: a page of JSON (items built by `items`), or the whole stream."""
    if listing.params.format is not Format.JSON:
        return stream_list(session, listing, to_public, public, name)
    rows, next_cursor = listing.page(session)
    page = Page[Any](items=list(items(rows)) if items else [to_public(row) for row in rows], next_cursor=next_cursor)
    return page_response(request, page, next_cursor)
