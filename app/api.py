"""Mounts each resource's router under /v1, and says who may call it."""

import functools
import importlib

from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import APIRoute

from app.access.keys import Access
from app.access.routes import router as keys_and_audit
from app.analysis.routes import router as analysis
from app.calendar.routes import router as calendar
from app.iati.routes import router as iati
from app.kind import Kind
from app.kinds import KINDS
from app.models.access import Role
from app.sync.routes import router as sync
from app.vocabularies.routes import router as vocabularies
from app.webhooks.deliveries import router as webhook_deliveries
from app.webhooks.routes import router as webhooks

# Who may call each router's operations (API.md, "Access"): anyone reads (unless anonymous reads are
# switched off), a partner's key writes activities and government reports (those its partner owns:
# the services check ownership), an editor's key writes the rest, and only an admin's reads or
# writes keys and the audit log. Each record type declares who writes it (app/kind.py). Decided by
# the route that matched, so that a proxy's root path cannot change the answer.
ANYONE_READS_EDITORS_WRITE = Access(writes=Role.EDITOR)
ADMINS_ONLY = Access(reads=Role.ADMIN, writes=Role.ADMIN)
# A subscription reads as its owner reads: an admin's key, or a partner's key for its own partner's
# (app/webhooks/access.py refuses editors and readers, and hides other partners' subscriptions).
PARTNERS_AND_ADMINS = Access(reads=Role.PARTNER, writes=Role.PARTNER)


def routes_of(kind: Kind) -> APIRouter:
    """A record type's operations: the `router` of `app/<folder>/routes.py`, where its table is in
    `app/models/<folder>.py`."""
    folder = kind.table.__module__.rpartition(".")[2]
    router: APIRouter = importlib.import_module(f"app.{folder}.routes").router
    return router


# FastAPI tries routes in this order, every route of each router, until one matches: the record
# types first, the referring before the referred (activities, the most requested, first: their
# reads cost 5 % less CPU than behind work plans and objectives), then the rest. The docs list the
# record types in app/kinds.py's order, then the rest (TAGS in app/openapi.py).
ROUTERS: tuple[tuple[APIRouter, Access], ...] = (
    *((routes_of(kind), Access(writes=kind.writes)) for kind in reversed(KINDS)),
    (sync, ANYONE_READS_EDITORS_WRITE),
    (calendar, ANYONE_READS_EDITORS_WRITE),
    (iati, ANYONE_READS_EDITORS_WRITE),
    (analysis, ANYONE_READS_EDITORS_WRITE),
    (vocabularies, ANYONE_READS_EDITORS_WRITE),
    (webhooks, PARTNERS_AND_ADMINS),
    (webhook_deliveries, PARTNERS_AND_ADMINS),
    (keys_and_audit, ADMINS_ONLY),
)
PREFIX = "/v1"


def include_api(app: FastAPI) -> None:
    """Mount every resource's router under /v1 behind its `Access` (default-deny: writes need a key
    with a role).

    Each router is included in the app itself rather than in one /v1 router: FastAPI walks every
    level of nested routers on each request, and that level was an eighth of a get's Python
    function calls (bench/README.md).
    """
    for router, rule in ROUTERS:
        app.include_router(router, prefix=PREFIX, dependencies=[Depends(rule)])


@functools.cache
def required_roles() -> dict[tuple[str, str], Role | None]:
    """The least role each operation needs, by (path, lower-case method), as `ROUTERS` declares it:
    what the OpenAPI document says (None: no key)."""
    return {
        (PREFIX + route.path, method.lower()): rule.role(method)
        for router, rule in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
