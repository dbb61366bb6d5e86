"""Representations with strong ETags, conditional requests, and list pages with Link headers."""

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request
from pydantic import BaseModel
from pydantic_core import to_json
from sqlmodel import Session
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import ReadSession, run_read
from app.errors import ErrorItem, PreconditionFailed, UnsupportedMediaType, json_pointer, problem_response
from app.reads import Reader
from app.records import Owned, RecordT, get_record

JSON_MEDIA_TYPES = ("application/json", "application/merge-patch+json")


def etag_of(body: bytes) -> str:
    # A hash of the bytes sent, so the tag is strong by construction: derived fields
    # (such as is_overdue) change the tag even when the stored version does not.
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def none_match(request: Request, etag: str) -> bool:
    """True when If-None-Match names this representation (weak comparison, RFC 9110 13.1.2)."""
    header = request.headers.get("if-none-match")
    if header is None:
        return False
    return any(tag == "*" or tag.removeprefix("W/") == etag.removeprefix("W/") for tag in _tags(header))


def check_if_match(request: Request, session: Session, reader: Reader, record_id: uuid.UUID | None) -> None:
    """Raise 412 unless If-Match (when sent) names the record's current representation, as `reader`
    shows it to the caller (the GET's bytes, so the GET's ETag); weak tags never match. The record
    is read only when If-Match is sent; `record_id` None: there is no record (only a create)."""
    current = None if record_id is None else lambda: to_json(reader.get(session, record_id))
    if_match(request, current, "record")


def if_match(request: Request, current: Callable[[], bytes] | None, what: str) -> None:
    """Raise 412 unless If-Match (when sent) names `current()`'s bytes (the GET's, so its ETag), or
    is `*` while there is a `current` at all; weak tags never match. `current` is called only
    when If-Match is sent."""
    header = request.headers.get("if-match")
    if header is None:
        return
    tags = _tags(header)
    if current is not None and ("*" in tags or etag_of(current()) in tags):
        return
    raise PreconditionFailed(f"If-Match does not match the current version of the {what}; fetch it again.")


def json_response(
    request: Request,
    model: BaseModel | Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """`model` is a Public model, or an item a Reader built (the same JSON, without validation)."""
    body = model.model_dump_json().encode() if isinstance(model, BaseModel) else to_json(model)
    etag = etag_of(body)
    # Vary: what a caller sees depends on its key (a partner's contact details).
    all_headers = {"ETag": etag, "Vary": "Authorization", **(headers or {})}
    if status_code == 200 and none_match(request, etag):
        return Response(status_code=304, headers=all_headers)
    return Response(body, status_code=status_code, media_type="application/json", headers=all_headers)


async def read_record(request: Request, session: ReadSession, reader: Reader, record_id: uuid.UUID) -> Response:
    """A get endpoint's answer: the record's item with its ETag (or 304), read where `run_read`
    puts reads."""
    return await run_read(session, lambda read: json_response(request, reader.get(read, record_id)))


def record_response(
    request: Request,
    session: Session,
    reader: Reader,
    record_id: uuid.UUID,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A write's answer: the record as its GET shows it to the caller (the same bytes and ETag),
    read by `reader` in the write's own transaction, after the service has flushed."""
    return json_response(request, reader.get(session, record_id), status_code=status_code, headers=headers)


def page_response(request: Request, page: Mapping[str, Any], next_cursor: str | None) -> Response:
    headers: dict[str, Any] = {}
    if next_cursor is not None:
        next_url = request.url.include_query_params(cursor=next_cursor)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return json_response(request, page, headers=headers)


async def require_json(request: Request) -> None:
    """Dependency for writes: the body must be JSON (or JSON Merge Patch)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in JSON_MEDIA_TYPES:
        raise UnsupportedMediaType(
            f"Send the body as {' or '.join(JSON_MEDIA_TYPES)}, not '{content_type or 'nothing'}'."
        )


def delete_response(
    request: Request,
    session: Session,
    model: type[RecordT],
    record_id: uuid.UUID,
    reader: Reader,
    delete: Callable[[Session, RecordT], None],
    *,
    check_owner: Callable[[Request, RecordT], None] | None = None,
) -> Response:
    """Soft-delete under If-Match (against what `reader` shows the caller); deleting a deleted record
    is 204 again, whatever If-Match says.

    A record a partner may own (`Owned`) is deleted only past `check_owner`, which its resource
    passes in (who may change whose records is app/access's to say, not this module's); it runs
    before the deleted test, so a deleted record of another owner is refused as a live one is."""
    record = get_record(session, model, record_id, for_update=True, include_deleted=True)
    if isinstance(record, Owned):
        if check_owner is None:
            raise TypeError(f"deleting a {model.__name__} needs its resource's check_owner")
        check_owner(request, record)
    if record.deleted_at is None:
        check_if_match(request, session, reader, record_id)
        delete(session, record)
    return Response(status_code=204)


# Set in the scope of a HEAD request (which the routes see as a GET): a stream sends no rows.
HEAD = "workplan.head"


class HeadMiddleware:
    """HEAD is the GET without its body (RFC 9110, 9.3.2), on every path that answers GET.

    Routes are declared for GET only, as OpenAPI lists them; a HEAD runs the same GET, so its
    status and headers (ETag, Content-Length, Link) are the GET's, an If-None-Match makes it a
    304 the same way, and only the body is left unsent. A CSV or NDJSON list reads no rows for
    it (app/streams.py). Answers made outside this middleware (a 429, a 413) keep their short
    bodies, which the server drops for a HEAD.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)}
            await send(message)

        as_get = {**scope, "method": "GET", HEAD: True}
        try:
            await self.app(as_get, receive, send_headers_only)
        finally:
            if "route" in as_get:  # for the request log's route template
                scope["route"] = as_get["route"]


class _Members(dict[str, Any]):
    """A JSON object as parsed, remembering a name it met twice."""

    repeated: str | None = None


def _members(pairs: list[tuple[str, Any]]) -> _Members:
    members = _Members()
    for name, value in pairs:
        if name in members and members.repeated is None:
            members.repeated = name
        members[name] = value
    return members


def repeated_member(value: Any, path: tuple[int | str, ...] = ()) -> tuple[int | str, ...] | None:
    """The path to the first member named twice in its object, if any (JSON text parsed by `_members`)."""
    if isinstance(value, _Members) and value.repeated is not None:
        return (*path, value.repeated)
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        if (found := repeated_member(child, (*path, key))) is not None:
            return found
    return None


class DuplicateKeysMiddleware:
    """Refuse a JSON body that names a member twice in one object: 400 DUPLICATE_JSON_KEY.

    RFC 8259 leaves such a text's meaning to the parser: Python's keeps the last value, others the
    first, so a partner system reading the same body could see another record than the one stored
    (`{"status": "bogus", "status": "planned"}` was a 201). Runs inside BodyLimitMiddleware, which
    has read the body whole; bodies that are not JSON, or not valid JSON, go on to the route, whose
    own errors say so.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        content_type = dict(scope["headers"]).get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type.decode("latin-1") not in JSON_MEDIA_TYPES:
            await self.app(scope, receive, send)
            return
        message = await receive()
        try:
            path = repeated_member(json.loads(message.get("body", b""), object_pairs_hook=_members))
        except ValueError:
            path = None
        if path is not None:
            item = ErrorItem.model_validate(
                {"in": "body", "pointer": json_pointer(path), "message": "is named twice in its object"}
            )
            detail = f"The body names '{path[-1]}' twice in one object: send each member once."
            await problem_response(400, "DUPLICATE_JSON_KEY", detail, errors=[item])(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return message

        await self.app(scope, replay, send)
