"""Mounts each resource's router under /v1."""

from fastapi import APIRouter

from app.activities.routes import router as activities
from app.objectives.routes import router as objectives
from app.partners.routes import router as partners
from app.reports.routes import router as reports
from app.sync.routes import router as sync
from app.vocabularies.routes import router as vocabularies
from app.work_plans.routes import router as work_plans

api_router = APIRouter(prefix="/v1")
for router in (work_plans, objectives, activities, partners, reports, sync, vocabularies):
    api_router.include_router(router)
