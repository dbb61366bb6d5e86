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
from typing import Any, TypeVar

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.csv_cells import to_cell
from app.db import run_read
from app.http import HEAD, page_response
from app.lists import Format, Listing, ListParams
from app.reads import Item, Reader, to_json

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
    session: Session, listing: Listing[Any], reader: Reader, name: str, *, rows: bool = True
) -> StreamingResponse:
    """The stream of every matching row; with `rows=False` (a HEAD) the same answer without them."""
    fmt = listing.params.format
    chunks = listing.stream(session, reader.columns)  # raises here, before the response starts, on a bad sort
    body: Iterator[bytes]
    if not rows:
        body = iter(())
    elif fmt is Format.NDJSON:
        body = _ndjson(_items(session, reader, chunks))
    else:
        body = _csv(_items(session, reader, chunks), reader.fields, bom=listing.params.bom)
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[fmt],
        # Vary: private fields are in it or not by the caller's key, as in every JSON answer.
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt.value}"', "Vary": "Authorization"},
    )


def _items(session: Session, reader: Reader, chunks: Iterator[Sequence[Any]]) -> Iterator[list[Item]]:
    for rows in chunks:
        items = reader.build(session, rows)
        del rows  # each chunk is let go of before the next is read: one chunk alive at a time
        yield items


def _ndjson(chunks: Iterator[list[Item]]) -> Iterator[bytes]:
    for items in chunks:
        body = b"\n".join(map(to_json, items)) + b"\n" if items else b""
        del items
        yield body


def _csv(chunks: Iterator[list[Item]], fields: Sequence[str], *, bom: bool) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if bom:
        buffer.write("\ufeff")
    writer.writerow(fields)
    for items in chunks:
        # A row may lack private fields the caller does not read on it (app.reads.PrivateReaders).
        writer.writerows([to_cell(field, item.get(field)) for field in fields] for item in items)
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def list_response(
    request: Request,
    session: Session,
    listing: Listing[Any],
    reader: Reader,
    name: str,
    items: Callable[[Sequence[Any]], list[Item]] | None = None,
) -> Response:
    """How every list answers: a page of JSON (items built by `items`), or the whole stream.

    `items` gets the page's rows (the reader's columns first) and makes their items, e.g. with
    embedded records; by default they are the reader's items.
    """
    if listing.params.format is not Format.JSON:
        return stream_list(session, listing, reader, name, rows=not request.scope.get(HEAD, False))
    rows, next_cursor = listing.page(session, reader.columns)
    page: Item = {"items": items(rows) if items else reader.build(session, rows)}
    if next_cursor is not None:
        page["next_cursor"] = next_cursor
    return page_response(request, page, next_cursor)


ParamsT = TypeVar("ParamsT", bound=ListParams)


async def read_list(
    request: Request,
    session: Session,
    params: ParamsT,
    listing: Callable[[Session, ParamsT], Listing[Any]],
    reader: Reader,
    name: str,
    items: Callable[[Sequence[Any]], list[Item]] | None = None,
) -> Response:
    """A list endpoint's answer: `listing` made and answered (`list_response`) where `run_read`
    puts the read, as bounded, unbounded or streamed as `params` make it."""
    return await run_read(
        session,
        lambda: list_response(request, session, listing(session, params), reader, name, items),
        bounded=params.bounded,
        streamed=params.streamed,
    )
