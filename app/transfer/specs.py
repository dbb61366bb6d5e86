"""What import and export know of each record type: its table, models, unique key and owned lists.

Resources are listed in dependency order (work_plans, partners, ratifications, government_reports,
objectives, activities): an export writes them in that order and an import writes each chunk so.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Table
from sqlmodel import SQLModel

from app.activities.models import (
    Activity,
    ActivityCountry,
    ActivityCreate,
    ActivityGovernmentReport,
    ActivityParticipant,
    ActivityPublic,
)
from app.objectives.models import Objective, ObjectiveCreate, ObjectivePublic
from app.partners.models import Partner, PartnerCreate, PartnerPublic
from app.ratifications.models import Ratification, RatificationImport, RatificationPublic
from app.records import RecordTable
from app.records import label as type_label
from app.reports.models import (
    GovernmentReport,
    GovernmentReportCreate,
    GovernmentReportPublic,
    ReportArticle,
    ReportMonitor,
)
from app.work_plans.models import WorkPlan, WorkPlanCreate, WorkPlanPublic

SERVER_FIELDS = ("id", "version", "created_at", "updated_at")  # set by the server, read apart on import


@dataclass(frozen=True)
class Link:
    """A list a record owns, stored as child rows: how to read it without loading ORM objects."""

    name: str  # the field in the public form
    relationship: str  # the table model's attribute
    model: type[SQLModel]
    parent: str
    order: str  # the relationship's order_by, so that Core reads come back in the ORM's order
    fields: tuple[str, ...]  # one: the list holds the value itself; several: an object of them

    def value(self, child: Any) -> Any:
        if len(self.fields) == 1:
            return getattr(child, self.fields[0])
        return {name: getattr(child, name) for name in self.fields}


@dataclass(frozen=True)
class Spec:
    resource: str
    record_type: str
    table: type[RecordTable]
    create: type[SQLModel]
    public: type[SQLModel]
    key_columns: tuple[str, ...]
    key_label: str  # how a duplicate is named, formatted with the key's last value
    private: tuple[str, ...] = ()
    links: tuple[Link, ...] = ()

    @property
    def label(self) -> str:
        return type_label(self.table)  # as the API names a record type in its messages

    @property
    def link_names(self) -> set[str]:
        return {link.name for link in self.links}

    @cached_property
    def derived(self) -> tuple[str, ...]:
        """What the public form shows and the Create model does not take (ratification entry into
        force, report lateness, an activity's plan): ignored on import, worked out again as the API does."""
        taken = {*self.create.model_fields, *SERVER_FIELDS}
        public = (*self.public.model_fields, *self.public.model_computed_fields)
        return tuple(name for name in public if name not in taken)

    @property
    def columns(self) -> list[str]:
        return [*self.public.model_fields, *self.public.model_computed_fields, *self.private]

    def exported(self, values: dict[str, Any]) -> dict[str, Any]:
        """A record's full exported form: its public representation and its private fields."""
        data: dict[str, Any] = self.public.model_validate(values).model_dump(mode="json")
        for name in self.private:
            data[name] = values[name]
        return data


ACTIVITY_LINKS = (
    Link("countries", "countries", ActivityCountry, "activity_id", "country", ("country",)),
    Link("participants", "participants", ActivityParticipant, "activity_id", "position", ("partner_id", "role")),
    Link(
        "government_report_ids",
        "government_reports",
        ActivityGovernmentReport,
        "activity_id",
        "government_report_id",
        ("government_report_id",),
    ),
)
REPORT_LINKS = (
    Link(
        "articles",
        "articles",
        ReportArticle,
        "government_report_id",
        "position",
        ("instrument", "article", "assessment", "note"),
    ),
    Link("monitored_by", "monitors", ReportMonitor, "government_report_id", "partner_id", ("partner_id",)),
)
SPECS = (
    Spec(
        "work_plans", "work_plan", WorkPlan, WorkPlanCreate, WorkPlanPublic,
        ("code",), "Work plan code '{}'",
    ),
    Spec(
        "partners", "partner", Partner, PartnerCreate, PartnerPublic,
        ("name",), "Partner name '{}'", private=("contact_name", "contact_email", "notes"),
    ),
    Spec(
        "ratifications", "ratification", Ratification, RatificationImport, RatificationPublic,
        ("country", "instrument"), "Ratification of the '{}' by this State",
    ),
    Spec(
        "government_reports", "government_report", GovernmentReport, GovernmentReportCreate,
        GovernmentReportPublic, ("symbol",), "Symbol '{}'",
        private=("notes",), links=REPORT_LINKS,
    ),
    Spec(
        "objectives", "objective", Objective, ObjectiveCreate, ObjectivePublic,
        ("work_plan_id", "code"), "Objective code '{}' in this work plan",
    ),
    Spec(
        "activities", "activity", Activity, ActivityCreate, ActivityPublic,
        ("work_plan_id", "code"), "Activity code '{}' in this work plan",
        links=ACTIVITY_LINKS,
    ),
)  # fmt: skip
BY_RESOURCE = {spec.resource: spec for spec in SPECS}
BY_TYPE = {spec.record_type: spec for spec in SPECS}
RESOURCES = tuple(BY_RESOURCE)
LIST_FIELDS = frozenset(link.name for spec in SPECS for link in spec.links)


def specs_for(resources: Sequence[str]) -> list[Spec]:
    unknown = [name for name in resources if name not in BY_RESOURCE]
    if unknown or not resources:
        raise ValueError(f"Unknown or no resources {unknown}; choose from {', '.join(RESOURCES)}.")
    return [spec for spec in SPECS if spec.resource in resources]


def table_of(model: type[SQLModel]) -> Table:
    return SQLModel.metadata.tables[str(model.__tablename__)]
