"""Every error the service returns is an RFC 9457 problem: one body, rendered in one place."""

import logging
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import compile_path

log = logging.getLogger("workplan")

PROBLEM_MEDIA_TYPE = "application/problem+json"


class ErrorItem(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "in": "body",
                    "pointer": "/participants/0/role",
                    "message": "Input should be 'lead', 'co_lead', 'contributor', 'partner', ...",
                }
            ]
        }
    )

    in_: str = Field(
        alias="in",
        description=(
            "Where the faulty value was: body, query, path or header; `record` for a stored record that an "
            "operation cannot take as it stands (its pointer names the record)."
        ),
    )
    pointer: str = Field(description="RFC 6901 JSON Pointer to the value (for a parameter, `/name`).")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "No activity with id 0b6f1f3e-5a4c-4a59-9d43-2f3c1d1e9a10.",
                    "code": "NOT_FOUND",
                }
            ]
        }
    )

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable UPPER_SNAKE reason a client can branch on.")
    errors: list[ErrorItem] | None = None
    blocked_by: list[str] | None = Field(
        default=None,
        description=(
            "With IN_USE: the paths of the live records that still refer to this one (up to 20), "
            "which a caller can read even where it may not change them."
        ),
    )


class AppError(Exception):
    status: int = 500
    code: str = "INTERNAL_ERROR"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: Sequence[ErrorItem] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.errors = list(errors) if errors else None
        self.headers = dict(headers or {})


class BadRequest(AppError):
    status, code = 400, "BAD_REQUEST"


class NotFound(AppError):
    status, code = 404, "NOT_FOUND"


class Conflict(AppError):
    status, code = 409, "CONFLICT"


class InUse(Conflict):
    """409 IN_USE: live records still refer to the one a caller deletes; `blocked_by` names them."""

    code = "IN_USE"

    def __init__(self, detail: str, *, blocked_by: Sequence[str]) -> None:
        super().__init__(detail)
        self.blocked_by = list(blocked_by)


class Gone(AppError):
    status, code = 410, "GONE"


class PreconditionFailed(AppError):
    status, code = 412, "PRECONDITION_FAILED"


class UnsupportedMediaType(AppError):
    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"


class ValidationFailed(AppError):
    status, code = 422, "VALIDATION_FAILED"


def json_pointer(path: Iterable[int | str]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def error_items(errors: Iterable[Mapping[str, Any]], location: str | None = None) -> list[ErrorItem]:
    """Turn pydantic errors into pointers; `location` is set when `loc` does not start with one."""
    items = []
    for error in errors:
        loc = tuple(error["loc"])
        where = location
        if where is None:
            where, loc = (str(loc[0]), loc[1:]) if loc else ("body", ())
        message = str(error["msg"]).removeprefix("Value error, ")
        items.append(ErrorItem.model_validate({"in": where, "pointer": json_pointer(loc), "message": message}))
    return items


def validation_failed(exc: ValidationError, prefix: Sequence[int | str] = ()) -> ValidationFailed:
    errors = [{**e, "loc": (*prefix, *e["loc"])} for e in exc.errors(include_url=False, include_input=False)]
    return ValidationFailed("The request body is not valid.", errors=error_items(errors, "body"))


def problem_response(
    status: int,
    code: str,
    detail: str,
    errors: Sequence[ErrorItem] | None = None,
    headers: Mapping[str, str] | None = None,
    blocked_by: Sequence[str] | None = None,
) -> Response:
    problem = Problem(
        title=HTTPStatus(status).phrase, status=status, detail=detail, code=code, errors=errors, blocked_by=blocked_by
    )
    body = problem.model_dump_json(by_alias=True, exclude_none=True)
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method of the path, from all its routes (the router only reports the first one's)."""
    index: list[tuple[re.Pattern[str], set[str]]] | None = getattr(request.app.state, "allow_index", None)
    if index is None:
        index = []
        for path, operations in request.app.openapi()["paths"].items():
            methods = {method.upper() for method in operations}
            index.append((compile_path(path)[0], methods | ({"HEAD"} if "GET" in methods else set())))
        request.app.state.allow_index = index
    methods = set().union(*(methods for regex, methods in index if regex.match(request.url.path)))
    return ", ".join(sorted(methods))


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    # Paths as a caller requests them, like Location: behind a proxy's prefix, with the prefix.
    root = request.scope.get("root_path", "")
    blocked_by = [root + path for path in exc.blocked_by] if isinstance(exc, InUse) else None
    return problem_response(exc.status, exc.code, exc.detail, exc.errors, exc.headers, blocked_by)


async def _request_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return problem_response(400, "MALFORMED_JSON", "The request body is not valid JSON.")
    if any(e.get("type") == "model_attributes_type" and tuple(e["loc"]) == ("body",) for e in errors):
        return problem_response(400, "MALFORMED_JSON", "The request body must be a JSON object.")
    return problem_response(422, "VALIDATION_FAILED", "The request is not valid; see `errors`.", error_items(errors))


_HTTP_CODES = {
    400: "BAD_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "CONTENT_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
        detail = f"{request.method} is not allowed here; allowed: {headers['Allow']}."
    elif exc.status_code == 404:
        detail = f"Nothing lives at {request.url.path}."
    else:
        detail = str(exc.detail)
    code = _HTTP_CODES.get(exc.status_code, HTTPStatus(exc.status_code).name)
    return problem_response(exc.status_code, code, detail, headers=headers)


async def _integrity_error(request: Request, exc: Exception) -> Response:
    # The services check unique keys and references before writing; a violation that still
    # reaches the database is a concurrent request that got there first (two PUTs by-ref of a
    # new reference, say). Nothing of this request was written.
    log.info("integrity error on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(
        409, "CONFLICT", "Another request changed the same records at the same time; nothing was written. Retry."
    )


# How long a client is asked to wait when the database cannot be reached.
DATABASE_RETRY_AFTER = "5"
# SQLSTATE classes of a server that is gone or going, not of a faulty request: connection
# exceptions, insufficient resources (too many connections), operator intervention (shutdown,
# restart, a cancelled statement).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")
_SQLITE_UNAVAILABLE = ("database is locked", "database table is locked", "unable to open database file", "disk i/o")


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached or is busy, rather than that the request is wrong."""
    if isinstance(exc, PoolTimeout):
        return True  # every pooled connection stayed busy for the whole pool timeout
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False  # IntegrityError, DataError, ProgrammingError: the request or the code, not the server
    if isinstance(exc.orig, sqlite3.Error):
        message = str(exc.orig).lower()
        return any(text in message for text in _SQLITE_UNAVAILABLE)
    # psycopg: a failed connect, or a connection lost mid-statement, carries no SQLSTATE.
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate is None or str(sqlstate).startswith(_UNAVAILABLE_SQLSTATE_CLASSES)


def database_busy(exc: BaseException) -> bool:
    """Whether `exc` says the database answers but had no room for this request: every pooled
    connection stayed in use for the pool timeout, or SQLite's write lock for its busy timeout."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, OperationalError) and isinstance(exc.orig, sqlite3.Error):
        return "locked" in str(exc.orig).lower()
    return False


def database_busy_response() -> Response:
    return problem_response(
        503,
        "DATABASE_BUSY",
        "Every database connection this service may use is busy just now; nothing was written. "
        "Retry after `Retry-After` seconds.",
        headers={"Retry-After": DATABASE_RETRY_AFTER},
    )


def database_unavailable_response() -> Response:
    return problem_response(
        503,
        "DATABASE_UNAVAILABLE",
        "The database cannot be reached just now; nothing was written. Retry after `Retry-After` seconds.",
        headers={"Retry-After": DATABASE_RETRY_AFTER},
    )


async def _database_error(request: Request, exc: Exception) -> Response:
    if database_busy(exc):
        # Not "unreachable": the database is fine, and a request holding it will let it go.
        log.warning("database busy on %s %s: %s", request.method, request.url.path, exc)
        return database_busy_response()
    if database_unavailable(exc):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return database_unavailable_response()
    return await _unexpected_error(request, exc)


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "INTERNAL_ERROR", "The server failed to answer; the error is logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)


_DESCRIPTIONS = {
    400: "Bad request: malformed JSON, or a cursor or sort this list cannot take.",
    401: "No key, or a key that is malformed, unknown, revoked or expired (see WWW-Authenticate).",
    403: "The key's role may not do this, or its partner does not own the record.",
    404: "No such record, or it was deleted.",
    409: "Conflict: a unique code is taken, the record is still in use, or its Idempotency-Key is in use.",
    410: "The cursor is too old or from another database: sync again from no cursor.",
    412: "If-Match does not name the current version.",
    415: "The body is not JSON.",
    422: "Validation failed; `errors` points at each faulty value.",
    500: "The server failed; nothing was changed.",
    503: (
        "The database cannot be reached (DATABASE_UNAVAILABLE) or has no free connection (DATABASE_BUSY), a "
        "read ran past the service's time limit (QUERY_TIMEOUT), or the service streams as many exports as it "
        "may (EXPORTS_BUSY); nothing was changed. Retry after `Retry-After` seconds."
    ),
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the problems an operation can return."""
    return {status: {"model": Problem, "description": _DESCRIPTIONS[status]} for status in statuses}


NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: If-None-Match names this version."}
}
LIST_ERRORS = {**NOT_MODIFIED, **problems(400, 422)}
READ_ERRORS = {**NOT_MODIFIED, **problems(404, 422)}
CREATE_ERRORS = problems(400, 409, 415, 422)
UPDATE_ERRORS = problems(400, 404, 409, 412, 415, 422)
DELETE_ERRORS = problems(404, 409, 412, 422)
