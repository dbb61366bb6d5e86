"""The 2003 work plan as shipped data, loaded through the same services as the API.

Ids are derived from stable keys (uuid5), so every installation has the same ids, a second
load changes nothing, and a record someone deleted stays deleted.
"""

import json
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlmodel import Session, SQLModel

from app.activities.service import create_activity, update_activity
from app.models.activities import Activity, ActivityCreate, ActivityUpdate
from app.models.objectives import Objective, ObjectiveCreate, ObjectiveUpdate
from app.models.partners import Partner, PartnerCreate, PartnerUpdate
from app.models.work_plans import WorkPlan, WorkPlanCreate, WorkPlanUpdate
from app.objectives.service import create_objective, update_objective
from app.partners.service import create_partner, update_partner
from app.records import RecordTable
from app.work_plans.service import create_work_plan, update_work_plan

SEED_FILE = Path(__file__).with_name("workplan_2003.json")
PLAN_TEXT = Path(__file__).with_name("2003-work-plan.txt")
NAMESPACE = uuid.UUID("6f1c4c7e-2003-4e0b-9a3c-5ec0000c2003")

RecordT = TypeVar("RecordT", bound=RecordTable)
CreateT = TypeVar("CreateT", bound=SQLModel)


def seed_id(kind: str, key: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{kind}/{key}")


class SeedReport(BaseModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_deleted: int = 0


def _upsert(
    session: Session,
    counts: Counter[str],
    model: type[RecordT],
    record_id: uuid.UUID,
    data: CreateT,
    create: Callable[[Session, CreateT, uuid.UUID], RecordT],
    update: Callable[[Session, RecordT, Any], RecordT],
    update_model: type[SQLModel],
) -> None:
    existing = session.get(model, record_id, with_for_update=True)
    if existing is None:
        create(session, data, record_id)
        counts["created"] += 1
    elif existing.deleted_at is not None:
        counts["skipped_deleted"] += 1
    else:
        version = existing.version
        # Fields a PATCH cannot send (an owner, its reference) are not the seed's to change.
        update(session, existing, update_model.model_validate(data.model_dump(include=set(update_model.model_fields))))
        counts["updated" if existing.version != version else "unchanged"] += 1


def load_seed(session: Session) -> SeedReport:
    """Create or refresh the 2003 work plan; the caller owns the transaction."""
    seed = json.loads(SEED_FILE.read_text(encoding="utf-8"))
    counts: Counter[str] = Counter()
    plan = seed["work_plan"]
    plan_id = seed_id("work_plan", plan["code"])
    _upsert(
        session,
        counts,
        WorkPlan,
        plan_id,
        WorkPlanCreate.model_validate(plan),
        create_work_plan,
        update_work_plan,
        WorkPlanUpdate,
    )
    for partner in seed["partners"]:
        fields = {k: v for k, v in partner.items() if k != "key"}
        _upsert(
            session,
            counts,
            Partner,
            seed_id("partner", partner["key"]),
            PartnerCreate.model_validate(fields),
            create_partner,
            update_partner,
            PartnerUpdate,
        )
    for position, objective in enumerate(seed["objectives"], start=1):
        objective_id = seed_id("objective", f"{plan['code']}/{objective['code']}")
        fields = {k: v for k, v in objective.items() if k != "activities"}
        fields |= {"work_plan_id": plan_id, "position": position}
        _upsert(
            session,
            counts,
            Objective,
            objective_id,
            ObjectiveCreate.model_validate(fields),
            create_objective,
            update_objective,
            ObjectiveUpdate,
        )
        for number, activity in enumerate(objective["activities"], start=1):
            code = f"SEC-{plan['code']}-{objective['code']}.{number}"
            participants = [
                {"partner_id": seed_id("partner", p["partner"]), "role": p["role"]}
                for p in activity.get("participants", [])
            ]
            fields = {
                **{k: v for k, v in activity.items() if k != "participants"},
                "objective_id": objective_id,
                "code": code,
                "participants": participants,
                "planned_start": plan["period_start"],
                "planned_end": plan["period_end"],
            }
            _upsert(
                session,
                counts,
                Activity,
                seed_id("activity", code),
                ActivityCreate.model_validate(fields),
                create_activity,
                update_activity,
                ActivityUpdate,
            )
    return SeedReport(**counts)
