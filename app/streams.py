"""`format=csv|ndjson` on a list: every matching row, streamed in chunks, in constant memory.

CSV has one column per field of the JSON item, in the same order, and flattens lists as
`workplan export` does: countries `KEN;FRA`, participants `partner_id:role;...`, id lists
`id;id`, articles as JSON text. A cell a spreadsheet would run as a formula (starting with
= + - @, a tab or a carriage return) gets a leading `'`. `bom=true` starts the file with a
UTF-8 byte order mark, which Excel needs to read UTF-8.
"""

import csv
import io
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from app.access.keys import caller
from app.csv_cells import to_cell
from app.db import Database, ReadSession, run_read
from app.errors import AppError
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


# Rows a chunk: what an export holds at a time (its rows, items and bytes); 1,000 cost 3 MB more
# for no measurable speed.
CHUNK = 500
# Seconds an export refused for being one too many asks its client to wait.
EXPORT_RETRY_AFTER = "10"


class TooManyExports(AppError):
    status, code = 429, "TOO_MANY_EXPORTS"


class ExportsBusy(AppError):
    status, code = 503, "EXPORTS_BUSY"


class ExportSlots:
    """The exports one worker process streams at once: at most `at_once` in all, and `per_client`
    for one caller (its key, or its address without one). Past either, the export is refused at once
    with Retry-After: a slow client then holds no more than its share, and an export never waits in
    a queue while its client's connection times out. Used on the event loop only.
    """

    def __init__(self, at_once: int, per_client: int) -> None:
        self.at_once, self.per_client = at_once, per_client
        self.running: Counter[str] = Counter()

    def take(self, client: str) -> Callable[[], None]:
        """Count an export of `client`'s, or raise; returns what ends it (safe to call twice)."""
        retry = {"Retry-After": EXPORT_RETRY_AFTER}
        if self.running[client] >= self.per_client:
            detail = f"This client already has {self.per_client} exports running: retry when one has finished."
            raise TooManyExports(detail, headers=retry)
        if self.running.total() >= self.at_once:
            raise ExportsBusy(f"The service is streaming {self.at_once} exports already: retry shortly.", headers=retry)
        self.running[client] += 1
        ended = False

        def end() -> None:
            nonlocal ended
            if not ended:
                ended = True
                self.running[client] -= 1

        return end


def _no_slot() -> None:
    """What ends the export slot of a list that took none (a page, a HEAD)."""


class ExportResponse(StreamingResponse):
    """A streamed export that gives its slot back however it ends: sent whole, failed or abandoned."""

    def __init__(self, content: AsyncIterator[bytes], end: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.end = end

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.end()


def stream_list(
    session: Session,
    database: Database,
    listing: Listing[Any],
    reader: Reader,
    name: str,
    *,
    rows: bool = True,
    end: Callable[[], None] = _no_slot,
) -> Response:
    """Every matching row, in chunks; with `rows=False` (a HEAD) the same answer without them.

    The first chunk is read in `session`; each later one in a short read of its own, in a session
    of its own, after the sort key values of the last row sent (keyset, as pages are): a slow
    client holds no database connection and no transaction while it reads, so exports cannot
    starve other requests of connections. An export is therefore not one snapshot: a row changed
    while it runs shows its state when its chunk was read (`/v1/changes` is the consistent way to
    copy).

    The first chunk is read here, before the response starts, so that a bad sort or an unreachable
    database is still a problem response.
    """
    fmt = listing.params.format
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.{fmt.value}"',
        # Vary: private fields are in it or not by the caller's key, as in every JSON answer.
        "Vary": "Authorization",
    }
    listing.keys()  # a bad sort is 400 now
    if not rows:
        end()
        return StreamingResponse(_nothing(), media_type=MEDIA_TYPES[fmt], headers=headers)
    first, after = _chunk(session, listing, reader, None)
    return ExportResponse(
        _chunks(database, listing, reader, first, after), end, media_type=MEDIA_TYPES[fmt], headers=headers
    )


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield  # an async generator that yields nothing


def _chunk(
    session: Session, listing: Listing[Any], reader: Reader, after: list[Any] | None
) -> tuple[bytes, list[Any] | None]:
    """One chunk's bytes (CSV with its header row first), and the key values to read the next after."""
    rows, last = listing.rows_after(session, reader.columns, after, CHUNK)
    items = reader.build(session, rows)
    del rows
    if listing.params.format is Format.NDJSON:
        return (b"\n".join(map(to_json, items)) + b"\n" if items else b""), last
    return _csv(items, reader, header=after is None, bom=listing.params.bom), last


async def _chunks(
    database: Database, listing: Listing[Any], reader: Reader, first: bytes, after: list[Any] | None
) -> AsyncIterator[bytes]:
    yield first
    while after is not None:
        chunk = partial(_chunk, listing=listing, reader=reader, after=after)
        data, after = await run_read(ReadSession(database), chunk, bounded=False)
        yield data


def _csv(items: Sequence[Item], reader: Reader, *, header: bool, bom: bool) -> bytes:
    fields, forms = reader.fields, reader.cell_forms
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if header:
        if bom:
            buffer.write("\ufeff")
        writer.writerow(fields)
    # A row may lack private fields the caller does not read on it (app.reads.PrivateReaders).
    writer.writerows([to_cell(item.get(field), forms.get(field)) for field in fields] for item in items)
    return buffer.getvalue().encode()


def list_response(
    request: Request,
    session: Session,
    database: Database,
    listing: Listing[Any],
    reader: Reader,
    name: str,
    items: Callable[[Session, Sequence[Any]], list[Item]] | None = None,
    end: Callable[[], None] = _no_slot,
) -> Response:
    """How every list answers, read in `session`: a page of JSON (items built by `items`), or the
    whole stream (its later chunks read from `database`; `end` ends its export slot).

    `items` gets the session and the page's rows (the reader's columns first) and makes their
    items, e.g. with embedded records; by default they are the reader's items.
    """
    if listing.params.format is not Format.JSON:
        head = request.scope.get(HEAD, False)
        return stream_list(session, database, listing, reader, name, rows=not head, end=end)
    rows, next_cursor = listing.page(session, reader.columns)
    page: Item = {"items": items(session, rows) if items else reader.build(session, rows)}
    if next_cursor is not None:
        page["next_cursor"] = next_cursor
    return page_response(request, page, next_cursor)


ParamsT = TypeVar("ParamsT", bound=ListParams)


async def read_list(
    request: Request,
    session: ReadSession,
    params: ParamsT,
    listing: Callable[[Session, ParamsT], Listing[Any]],
    reader: Reader,
    name: str,
    items: Callable[[Session, Sequence[Any]], list[Item]] | None = None,
) -> Response:
    """A list endpoint's answer: `listing` made and answered (`list_response`) where `run_read`
    puts the read, bounded or not as `params` make it. An export (not its HEAD) takes one of the
    worker's export slots first, or is refused."""
    end = _no_slot
    if params.streamed and not request.scope.get(HEAD, False):
        slots: ExportSlots = request.state.exports
        end = slots.take(caller(request).key_id or _address(request))
    try:
        return await run_read(
            session,
            lambda read: list_response(
                request, read, session.database, listing(read, params), reader, name, items, end
            ),
            bounded=params.bounded,
        )
    except BaseException:
        end()
        raise


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
