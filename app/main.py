"""create_app(): the service, its middleware, error handling and self-hosted docs."""

import functools
import gc
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from alembic.runtime.migration import MigrationContext
from anyio import to_thread
from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.access.audit import register as register_audit
from app.api import include_api
from app.config import get_settings
from app.db import Database, SessionDep, get_engine, open_database
from app.docs import include_docs
from app.errors import database_unavailable_response, install_error_handlers, problem_response
from app.http import DuplicateKeysMiddleware, HeadMiddleware
from app.limits import (
    BodyLimitMiddleware,
    CorsMiddleware,
    RateLimitMiddleware,
    SecurityHeadersMiddleware,
    with_headers,
)
from app.migrations import head_revision
from app.observability import RequestLogMiddleware, forget_this_process, observe_engine, read_metrics
from app.openapi import DESCRIPTION, TAGS, install_openapi, operation_id
from app.pages.routes import router as pages_router
from app.pages.routes import static as pages_static
from app.streams import ExportSlots
from app.writes.idempotency import Replay, send_replay

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


class State(TypedDict):
    """What the lifespan makes, in every request's `request.state`."""

    database: Database
    exports: ExportSlots


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[State]:
    tune_garbage_collection()
    settings = get_settings()
    # Every thread that runs a route can hold a connection: the pool is sized to this limiter.
    to_thread.current_default_thread_limiter().total_tokens = settings.threads
    engine = get_engine()
    observe_engine(engine)
    async with open_database(
        engine,
        read_pool_size=settings.read_pool_size,
        read_time_limit=settings.read_time_limit,
        connect_timeout=settings.db_connect_timeout,
    ) as database:
        if database.twin is not None:
            observe_engine(database.twin.sync_engine)
        yield {"database": database, "exports": ExportSlots(settings.exports_at_once, settings.exports_per_client)}
    forget_this_process()


def create_app() -> FastAPI:
    register_audit()  # every write of the service's sessions goes to the audit log
    app = FastAPI(
        docs_url=None,  # app.docs draws the docs pages
        redoc_url=None,
        lifespan=lifespan,
        title="workplan",
        version="1.0.0",
        summary="The subgroup against the sexual exploitation of children: its work plan and the reports it monitors.",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        servers=[{"url": "/", "description": "This service"}],
        license_info={"name": "MIT", "identifier": "MIT"},
        generate_unique_id_function=operation_id,
    )
    install_error_handlers(app)
    app.add_exception_handler(Replay, send_replay)
    app.add_middleware(HeadMiddleware)  # innermost: every layer above it sees the HEAD
    app.add_middleware(DuplicateKeysMiddleware)  # inside BodyLimit, which reads the body whole
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(RateLimitMiddleware)
    app.add_middleware(CorsMiddleware)  # outside the rate limit: preflights are not counted
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestLogMiddleware)
    include_api(app)
    # On the app itself, not in a router, so that request logs find its path; not in the API's schema.
    app.add_api_route("/metrics", read_metrics, methods=["GET"], include_in_schema=False)
    app.include_router(pages_router)
    app.mount("/static", pages_static, name="static")
    include_docs(app)

    @app.get("/healthz", tags=["Service"])
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

    install_openapi(app)
    return app


app = create_app()
