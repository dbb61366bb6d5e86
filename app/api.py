"""Mounts each resource's router under /v1."""

from fastapi import Depends, FastAPI

from app.access.keys import authorize
from app.access.routes import router as access
from app.activities.routes import router as activities
from app.analysis.routes import router as analysis
from app.calendar.routes import router as calendar
from app.objectives.routes import router as objectives
from app.partners.routes import router as partners
from app.ratifications.routes import router as ratifications
from app.reports.routes import router as reports
from app.sync.routes import router as sync
from app.vocabularies.routes import router as vocabularies
from app.work_plans.routes import router as work_plans

# FastAPI tries routes in this order, every route of each router, until one matches: the most
# requested come first (activity reads cost 5 % less CPU than behind work plans and objectives).
# The docs keep the domain's order, which TAGS in app/openapi.py sets.
ROUTERS = (
    activities,
    partners,
    reports,
    sync,
    objectives,
    work_plans,
    ratifications,
    calendar,
    analysis,
    vocabularies,
    access,
)


def include_api(app: FastAPI) -> None:
    """Mount every resource's router under /v1 behind `authorize` (default-deny: writes need a key
    with a role).

    Each router is included in the app itself rather than in one /v1 router: FastAPI walks every
    level of nested routers on each request, and that level was an eighth of a get's Python
    function calls (bench/README.md).
    """
    for router in ROUTERS:
        app.include_router(router, prefix="/v1", dependencies=[Depends(authorize)])
