"""Logs and metrics: one log line per request, Prometheus metrics at /metrics, slow statements.

Metrics work with several worker processes: `workplan serve --workers N` points
PROMETHEUS_MULTIPROC_DIR at a fresh directory before the workers start, each worker writes its
samples there, and a scrape of any worker reads them all (prometheus-client's multiprocess mode).
"""

import json
import logging
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any

from fastapi import Depends, FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, func, select
from starlette.responses import Response
from starlette.routing import Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.access.keys import Forbidden, Principal, PrincipalDep, Unauthorized
from app.config import get_settings
from app.db import SessionDep
from app.kinds import KINDS
from app.limits import route_path
from app.models.access import Role
from app.records import as_utc, utcnow
from app.sync.feed import head
from app.webhooks.health import WebhookCollector

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

access_log = logging.getLogger("workplan.access")
sql_log = logging.getLogger("workplan.sql")

REQUESTS = Counter(
    "workplan_http_requests_total", "Requests answered, by route template and status.", ["method", "route", "status"]
)
LATENCY = Histogram(
    "workplan_http_request_duration_seconds",
    "Time from the request's arrival to the last byte of its answer, by route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SLOW_QUERIES = Counter("workplan_db_slow_queries_total", "SQL statements slower than WORKPLAN_SLOW_QUERY_MS.")
POOL_CHECKED_OUT = Gauge(
    "workplan_db_pool_checked_out",
    "Database connections in use, summed over the live worker processes.",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "workplan_db_pool_size",
    "Database connections the pools may open, summed over the live worker processes.",
    multiprocess_mode="livesum",
)

# What a log record carries anyway; anything else on it was passed as `extra=` and goes in the JSON.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's own copy of the message, with terminal colours
}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, and every `extra=` field."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,  # which worker
            "message": record.getMessage(),
        }
        entry.update({name: value for name, value in vars(record).items() if name not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log_config(log_format: str) -> dict[str, Any]:
    """uvicorn's `log_config`: its own loggers and the service's, in one format, on stderr."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"}
        if log_format == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    logger = {"handlers": ["stderr"], "level": "INFO", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "loggers": {"uvicorn": logger, "workplan": logger},
    }


def route_template(scope: Scope, path: str | None = None) -> str:
    """The path template of the route the request went to (`/v1/activities/{activity_id}`), never
    the raw path, which would put ids in the metrics' labels; `unmatched` when no route has it.

    `path` is the request's path as it came (`route_path` before routing): a mount (/static)
    moves its prefix into the scope's root_path as it routes.
    """
    path = route_path(scope) if path is None else path
    route = scope.get("route")
    # The route's template, once found: one check instead of trying every template in turn.
    # (A route object shows only its own part of the path, not its routers' prefixes.)
    known = _by_route.get(id(route))
    if known is not None and known[0] is route and known[1].match(path):
        return known[2]
    for pattern, template in _templates(scope.get("app")):
        if pattern.match(path):
            if route is not None:
                # The route itself is kept, so that its id is never another's.
                _by_route[id(route)] = (route, pattern, template)
            return template
    return "unmatched"


_by_route: dict[int, tuple[Any, re.Pattern[str], str]] = {}


@lru_cache(maxsize=4)
def _templates(app: Any) -> list[tuple[re.Pattern[str], str]]:
    """Every route's full path, as OpenAPI lists it (nested routers' prefixes included), and the
    app's own routes; templates with fewer parameters first, so that a literal segment wins."""
    paths: set[str] = set()
    for route in getattr(app, "routes", ()):
        if isinstance(route, Mount):
            paths.add(route.path + "/{path:path}")
        elif isinstance(getattr(route, "path", None), str):
            paths.add(route.path)
        elif hasattr(route, "effective_route_contexts"):
            # FastAPI 0.165 keeps an included router as one entry, whose routes know their full
            # path only through it; OpenAPI below lists only the routes in the schema, so without
            # this the pages and the docs were all logged and counted as "unmatched".
            paths.update(context.path for context in route.effective_route_contexts() if context.path)
    if isinstance(app, FastAPI):
        paths |= set(app.openapi()["paths"])
    ordered = sorted(paths, key=lambda template: (template.count("{"), -len(template)))
    return [(compile_path(template)[0], template) for template in ordered]


class RequestLogMiddleware:
    """Logs one line per request and counts it, once the answer's last byte is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path = route_path(scope)
        status = 500  # what the client gets if the app fails before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self._record(scope, path, status, time.perf_counter() - started)

    @staticmethod
    def _record(scope: Scope, path: str, status: int, seconds: float) -> None:
        route, method = route_template(scope, path), scope["method"]
        # A label per made-up method would let any client grow the metrics without end.
        label = method if method in _METHODS else "other"
        REQUESTS.labels(label, route, str(status)).inc()
        LATENCY.labels(label, route).observe(seconds)
        state = scope.get("state", {})
        principal = state.get("principal")
        client = scope.get("client")
        fields = {
            "request_id": state.get("request_id"),
            "method": method,
            "path": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            # The key's id only: never the key, whose secret is in the Authorization header.
            "key_id": principal.key_id if isinstance(principal, Principal) else None,
            "client": client[0] if client else None,
        }
        access_log.info(
            '%s "%s %s" %s %.1f ms key=%s id=%s',
            fields["client"],
            method,
            route,
            status,
            fields["duration_ms"],
            fields["key_id"] or "-",
            fields["request_id"],
            extra=fields,
        )


def observe_engine(engine: Engine) -> None:
    """Count the pool's connections in the metrics, and log statements slower than the setting."""
    if event.contains(engine, "before_cursor_execute", _before_execute):
        return
    POOL_SIZE.inc(engine.pool.size())  # type: ignore[attr-defined]  # QueuePool, on both databases
    event.listen(engine.pool, "checkout", lambda *_: POOL_CHECKED_OUT.inc())
    event.listen(engine.pool, "checkin", lambda *_: POOL_CHECKED_OUT.dec())
    event.listen(engine, "before_cursor_execute", _before_execute)
    event.listen(engine, "after_cursor_execute", _after_execute)


def _before_execute(conn: Any, _cursor: Any, _statement: str, _params: Any, _context: Any, _many: bool) -> None:
    # One statement at a time runs on a connection; one that fails leaves a start the next overwrites.
    conn.info["statement_started"] = time.perf_counter()


def _after_execute(conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool) -> None:
    seconds = time.perf_counter() - conn.info.pop("statement_started", time.perf_counter())
    threshold = get_settings().slow_query_ms
    if threshold and seconds * 1000 >= threshold:
        SLOW_QUERIES.inc()
        # The statement only: its parameters may be contact details or notes.
        duration_ms = round(seconds * 1000, 1)
        sql_log.warning("slow statement, %s ms: %s", duration_ms, statement, extra={"duration_ms": duration_ms})


def forget_this_process() -> None:
    """At a worker's exit: its live gauges leave the sums."""
    if MULTIPROCESS_DIR in os.environ:
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class FeedCollector(Collector):
    """The change feed's head, read from the database at each scrape (a fact about the database,
    not about one process: every worker would report the same)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def collect(self) -> Iterator[GaugeMetricFamily]:
        head = GaugeMetricFamily(
            "workplan_changes_head_seq", "The highest change_seq stamp taken: where the feed ends."
        )
        age = GaugeMetricFamily(
            "workplan_changes_head_age_seconds",
            "Seconds since the newest change in the feed was made (its record's updated_at).",
        )
        try:
            seq, newest = _feed_head(self.session)
        except SQLAlchemyError:
            return
        head.add_metric([], seq)
        yield head
        if newest is not None:
            age.add_metric([], max(0.0, (utcnow() - newest).total_seconds()))
            yield age


def _feed_head(session: Session) -> tuple[int, datetime | None]:
    seq = head(session)
    newest: datetime | None = None
    for kind in KINDS:
        model = kind.table
        # The record(s) holding each table's highest stamp, found through the (change_seq, id) index.
        stamped = session.exec(
            select(model.updated_at).where(
                col(model.change_seq) == select(func.max(model.change_seq)).scalar_subquery()
            )
        ).first()
        if stamped is not None and (newest is None or as_utc(stamped) > newest):
            newest = as_utc(stamped)
    return seq, newest


def may_read_metrics(principal: PrincipalDep) -> Principal:
    """/metrics needs an admin key unless WORKPLAN_METRICS_PUBLIC is on."""
    if get_settings().metrics_public:
        return principal
    if principal.role is None:
        raise Unauthorized("The metrics need an admin key.", error=None)
    if not principal.at_least(Role.ADMIN):
        raise Forbidden(f"The metrics need the admin role; the key has {principal.role}.")
    return principal


def read_metrics(session: SessionDep, _principal: Annotated[Principal, Depends(may_read_metrics)]) -> Response:
    """Prometheus metrics, every worker's."""
    registry: Collector = REGISTRY
    if MULTIPROCESS_DIR in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(
        generate_latest(_Scrape(registry, FeedCollector(session), WebhookCollector(session))),
        media_type=CONTENT_TYPE_LATEST,
    )


class _Scrape(Collector):
    def __init__(self, *collectors: Collector) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()
