"""create_app(): the service, its middleware, error handling and self-hosted docs."""

import functools
import gc
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from alembic.runtime.migration import MigrationContext
from anyio import to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.access.keys import BEARER, BEARER_SCHEME, OWNED_PREFIXES, SAFE
from app.api import include_api
from app.config import get_settings
from app.db import SessionDep, get_engine, reads_on_this_loop
from app.errors import (
    PROBLEM_MEDIA_TYPE,
    database_unavailable_response,
    install_error_handlers,
    problem_response,
    problems,
)
from app.http import HeadMiddleware
from app.limits import BodyLimitMiddleware, RateLimitMiddleware, SecurityHeadersMiddleware, with_headers
from app.migrations import head_revision
from app.observability import RequestLogMiddleware, forget_this_process, observe_engine, read_metrics
from app.pages.routes import router as pages_router
from app.pages.routes import static as pages_static
from app.sync.idempotency import Replay, send_replay

DESCRIPTION = """
The work plan of the NGO Group for the Convention on the Rights of the Child's subgroup against the
sexual exploitation of children: its objectives, activities and partners, and the State party
reports to the Committee on the Rights of the Child that its Focal Point monitors.

**Conventions.** Lists answer `{"items": [...], "next_cursor": "..."}`; follow `next_cursor` (or the
`Link: rel="next"` header) until it is absent. Filters are query parameters named after the field;
repeating one means OR, `_from`/`_to` bound dates, `sort=-updated_at,code` orders. Every record has
`id`, `version`, `created_at` and `updated_at`, and a strong `ETag`: send it back in `If-Match` to
change only what you have seen, or in `If-None-Match` to skip an unchanged download. PATCH takes a
JSON Merge Patch. Every error is `application/problem+json` with a stable `code`.
"""

TAGS = [
    {"name": "Work plans", "description": "A year's plan of the subgroup."},
    {"name": "Objectives", "description": "The headings of a plan, in its order."},
    {"name": "Activities", "description": "The commitments under each objective, with who takes part and where."},
    {"name": "Partners", "description": "Organisations, networks and UN bodies the subgroup works with."},
    {"name": "Government reports", "description": "State party reports to the Committee and their analysis."},
    {"name": "Ratifications", "description": "Which States are party to the CRC and its protocols, and since when."},
    {"name": "Reporting calendar", "description": "The reports each State owes, when, and which are overdue."},
    {"name": "Sync", "description": "The change feed partner systems mirror the service with."},
    {"name": "Vocabularies", "description": "Controlled vocabularies, treaty instruments and articles."},
    {"name": "Access", "description": "API keys and the audit log (admin keys only)."},
    {"name": "Service", "description": "Liveness and readiness."},
]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIdMiddleware:
    """Echo a well-formed X-Request-ID, or give the response a new one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent if _REQUEST_ID.match(sent) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        await self.app(scope, receive, with_headers(send, {"X-Request-ID": request_id}))


class Health(BaseModel):
    status: str
    revision: str | None = None


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def required_role(path: str, method: str) -> str:
    """The least role an operation needs (what `authorize` and the admin routes enforce)."""
    if path.startswith(("/v1/api-keys", "/v1/audit")):
        return "admin"
    if method.upper() in SAFE:
        return "anonymous"
    return "partner" if path.startswith(OWNED_PREFIXES) else "editor"


_ROLE_TEXT = {
    "anonymous": "No key needed (unless the service turns anonymous reads off); a key also shows private fields.",
    "partner": "A key with the partner role (its partner's own records only) or above.",
    "editor": "A key with the editor role or above.",
    "admin": "A key with the admin role.",
}


def _declare_access(path: str, method: str, operation: dict[str, Any]) -> None:
    role = required_role(path, method)
    operation["x-required-role"] = role
    operation["description"] = f"{operation.get('description', '').rstrip()}\n\nAccess: {_ROLE_TEXT[role]}"
    # Anonymous: no key needed (`{}`), or one.
    operation["security"] = [{}, {BEARER: []}] if role == "anonymous" else [{BEARER: []}]
    responses = operation.setdefault("responses", {})
    for status in ("401", "403"):
        responses.setdefault(status, {"description": problems(int(status))[int(status)]["description"]})
        responses[status]["content"] = _problem_content()
    limits = {"429": "Too many requests for this key or address: wait `Retry-After` seconds."}
    if "requestBody" in operation:
        limits["413"] = "The body is larger than the service takes (1 MiB by default)."
    for status, description in limits.items():
        responses.setdefault(status, {"description": description, "content": _problem_content()})


def _finish_openapi(schema: dict[str, Any]) -> dict[str, Any]:
    """Errors are problem+json everywhere; PATCH also takes application/merge-patch+json."""
    for operations in schema["paths"].values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.setdefault("500", {"description": "The server failed; nothing was changed."})
            responses.setdefault("503", {"description": problems(503)[503]["description"]})
            for status, response in responses.items():
                if int(status) >= 400:
                    response["content"] = _problem_content()
                    if status == "422":
                        response["description"] = "Validation failed; `errors` points at each faulty value."
            body = operation.get("requestBody", {}).get("content", {})
            if method == "patch" and "application/json" in body:
                body["application/merge-patch+json"] = body["application/json"]
    for path, operations in schema["paths"].items():
        if path.startswith("/v1/"):
            for method, operation in operations.items():
                _declare_access(path, method, operation)
    schema.setdefault("components", {}).setdefault("securitySchemes", {})[BEARER] = BEARER_SCHEME
    components = schema.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


@functools.cache
def tune_garbage_collection() -> None:
    """Once per process, before it serves: the objects made so far (modules, models, routes, the
    compiled OpenAPI) are moved out of the collector's sight, and it runs less often.

    A request makes thousands of short-lived objects, which reference counting frees; at the
    default thresholds (700, 10, 10) the collector still ran every few requests, and every full
    collection walked the whole imported heap (about 120 ms each, a pause in every request in
    flight): 330 us of CPU per get by id on PostgreSQL, a sixth of it. Frozen, and at these
    thresholds, 35 us (bench/README.md). Cycles still get collected, later.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    tune_garbage_collection()
    # Every thread that runs a route can hold a connection: the pool is sized to this limiter.
    to_thread.current_default_thread_limiter().total_tokens = get_settings().threads
    engine = get_engine()
    observe_engine(engine)
    async with reads_on_this_loop(engine) as twin:
        if twin is not None:
            observe_engine(twin.sync_engine)
        yield
    forget_this_process()


def create_app() -> FastAPI:
    app = FastAPIOffline(
        lifespan=lifespan,
        title="workplan",
        version="1.0.0",
        summary="The subgroup against the sexual exploitation of children: its work plan and the reports it monitors.",
        description=DESCRIPTION,
        openapi_tags=TAGS,
    )
    install_error_handlers(app)
    app.add_exception_handler(Replay, send_replay)
    app.add_middleware(HeadMiddleware)  # innermost: every layer above it sees the HEAD
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(RateLimitMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestLogMiddleware)
    include_api(app)
    # On the app itself, not in a router, so that request logs find its path; not in the API's schema.
    app.add_api_route("/metrics", read_metrics, methods=["GET"], include_in_schema=False)
    app.include_router(pages_router)
    app.mount("/static", pages_static, name="static")

    @app.get("/healthz", tags=["Service"], response_model=Health)
    def healthz() -> Health:
        """The process is alive."""
        return Health(status="ok")

    @app.get("/readyz", tags=["Service"], response_model=Health, responses={503: {"description": "Not ready."}})
    def readyz(session: SessionDep) -> Response:
        """The database answers and its schema is at the latest migration."""
        try:
            current = MigrationContext.configure(session.connection()).get_current_revision()
        except SQLAlchemyError:
            return database_unavailable_response()
        if current != head_revision():
            return problem_response(
                503,
                "SCHEMA_OUT_OF_DATE",
                f"The schema is at {current}, not {head_revision()}: run `workplan db upgrade`.",
            )
        return Response(Health(status="ready", revision=current).model_dump_json(), media_type="application/json")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            app.openapi_schema = _finish_openapi(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


app = create_app()
