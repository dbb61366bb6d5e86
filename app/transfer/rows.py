"""An import record once validated: its server-owned fields and its Create model, and what the
checks and the writes read from it (its unique key, its references, its column values, its lists)."""

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField

from app.models.activities import ActivityCreate
from app.models.objectives import ObjectiveCreate
from app.models.reports import GovernmentReportCreate
from app.records import Timestamp
from app.transfer.formats import Source
from app.transfer.specs import Spec


class ServerFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = None
    version: int | None = PydanticField(default=None, ge=1)
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None

    @model_validator(mode="after")
    def _updated_after_created(self) -> "ServerFields":
        if self.created_at and self.updated_at and self.updated_at < self.created_at:
            raise ValueError("updated_at must not be before created_at")
        return self


@dataclass
class Row:
    source: Source
    id: uuid.UUID
    data: Any  # the spec's Create model
    server: ServerFields
    work_plan_id: uuid.UUID | None = None  # activities: their objective's plan

    @property
    def spec(self) -> Spec:
        return self.source.spec

    def key(self) -> tuple[Any, ...] | None:
        values = tuple(
            self.work_plan_id
            if name == "work_plan_id" and self.spec.record_type == "activity"
            else getattr(self.data, name)
            for name in self.spec.key_columns
        )
        return None if None in values else values

    def references(self) -> list[tuple[str, str, uuid.UUID]]:
        """(resource, pointer, id) of each record this one refers to."""
        data = self.data
        if isinstance(data, ObjectiveCreate):
            return [("work_plans", "/work_plan_id", data.work_plan_id)]
        owner = (
            [("partners", "/owner_partner_id", data.owner_partner_id)]
            if getattr(data, "owner_partner_id", None)
            else []
        )
        if isinstance(data, GovernmentReportCreate):
            return [*owner, *(("partners", f"/monitored_by/{i}", p) for i, p in enumerate(data.monitored_by))]
        if isinstance(data, ActivityCreate):
            participants = [
                ("partners", f"/participants/{i}/partner_id", p.partner_id) for i, p in enumerate(data.participants)
            ]
            report_ids = enumerate(data.government_report_ids)
            reports = [("government_reports", f"/government_report_ids/{i}", r) for i, r in report_ids]
            return [("objectives", "/objective_id", data.objective_id), *owner, *participants, *reports]
        return []

    def scalars(self) -> dict[str, Any]:
        # The validated field values as model_dump() gives them, without its cost per row.
        names = self.spec.link_names
        values = {name: value for name, value in vars(self.data).items() if name not in names}
        if self.spec.record_type == "activity":
            values["work_plan_id"] = self.work_plan_id
        return values

    def links(self) -> dict[str, list[Any]]:
        """The owned lists in the shape `Link.value` reads them from child rows."""
        data = self.data
        if isinstance(data, ActivityCreate):
            return {
                "countries": list(data.countries),
                "participants": [{"partner_id": p.partner_id, "role": p.role.value} for p in data.participants],
                "government_report_ids": list(data.government_report_ids),
            }
        if isinstance(data, GovernmentReportCreate):
            articles = [
                {
                    "instrument": a.instrument.value,
                    "article": a.article,
                    "assessment": a.assessment.value,
                    "note": a.note,
                }
                for a in data.articles
            ]
            return {"articles": articles, "monitored_by": list(data.monitored_by)}
        return {}
