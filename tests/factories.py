"""Plain factories: each validates through the service layer, flushes, and returns the row."""

from typing import Any

from sqlmodel import Session

from app.activities.service import create_activity
from app.models.activities import Activity, ActivityCreate
from app.models.objectives import Objective, ObjectiveCreate
from app.models.partners import Partner, PartnerCreate
from app.models.ratifications import Ratification, RatificationCreate
from app.models.reports import GovernmentReport, GovernmentReportCreate
from app.models.work_plans import WorkPlan, WorkPlanCreate
from app.objectives.service import create_objective
from app.partners.service import create_partner
from app.ratifications.service import create_ratification
from app.reports.service import create_report
from app.work_plans.service import create_work_plan

_counter = iter(range(1, 1_000_000))


def make_work_plan(session: Session, **overrides: Any) -> WorkPlan:
    n = next(_counter)
    data = {"code": f"P{n}", "title": f"Work plan {n}", "period_start": "2003-01-01", "period_end": "2003-12-31"}
    return create_work_plan(session, WorkPlanCreate.model_validate(data | overrides))


def make_objective(session: Session, **overrides: Any) -> Objective:
    n = next(_counter)
    if "work_plan_id" not in overrides:
        overrides["work_plan_id"] = make_work_plan(session).id
    data = {"code": str(n), "title": f"Objective {n}", "position": n}
    return create_objective(session, ObjectiveCreate.model_validate(data | overrides))


def make_partner(session: Session, **overrides: Any) -> Partner:
    n = next(_counter)
    data = {"name": f"Partner {n}", "kind": "ngo"}
    return create_partner(session, PartnerCreate.model_validate(data | overrides))


def make_report(session: Session, **overrides: Any) -> GovernmentReport:
    data = {"country": "MEX", "instrument": "OPSC", "kind": "initial", "cycle_from": 1, "cycle_to": 1}
    return create_report(session, GovernmentReportCreate.model_validate(data | overrides))


def make_activity(session: Session, **overrides: Any) -> Activity:
    n = next(_counter)
    if "objective_id" not in overrides:
        overrides["objective_id"] = make_objective(session).id
    data = {"code": f"SEC-{n}", "title": f"Activity {n}", "type": "monitoring"}
    return create_activity(session, ActivityCreate.model_validate(data | overrides))


def make_ratification(session: Session, **overrides: Any) -> Ratification:
    data = {"country": "MEX", "instrument": "CRC", "action": "ratification", "deposited_on": "1990-09-21"}
    return create_ratification(session, RatificationCreate.model_validate(data | overrides))
