"""What import and export know of each record type, as its `Kind` declares it (app/kinds.py): its
table, models, unique key and owned lists.

Resources are in the dependency order of app/kinds.py: an export writes them in that order and an
import writes each chunk so.
"""

import typing
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Table
from sqlalchemy.orm import RelationshipProperty
from sqlmodel import SQLModel

from app.csv_cells import CellForm
from app.kind import Kind
from app.kinds import KINDS
from app.reads import Child
from app.records import RecordTable
from app.records import label as type_label

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
    cell: CellForm  # how a CSV cell writes the list

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


def _link(kind: Kind, child: Child) -> Link:
    """A `Kind`'s embedded list, as the import writes and the export reads its child rows."""
    prop = child.relationship.property
    assert isinstance(prop, RelationshipProperty)
    ((_parent_key, parent),) = prop.synchronize_pairs
    (order,) = prop.order_by or ()
    if child.column is not None:
        fields: tuple[str, ...] = (child.column.key,)
    else:
        (item,) = typing.get_args(kind.public.model_fields[child.field].annotation)
        assert issubclass(item, BaseModel)
        fields = tuple(item.model_fields)
    return Link(child.field, prop.key, prop.mapper.class_, str(parent.key), str(order.key), fields, child.cell_form)


def _spec(kind: Kind) -> Spec:
    return Spec(
        kind.collection,
        kind.name,
        kind.table,
        kind.row_model,
        kind.public,  # type: ignore[arg-type]
        kind.unique,
        kind.duplicate,
        private=kind.private_fields,
        links=tuple(_link(kind, child) for child in kind.children),
    )


SPECS = tuple(_spec(kind) for kind in KINDS)
BY_RESOURCE = {spec.resource: spec for spec in SPECS}
BY_TYPE = {spec.record_type: spec for spec in SPECS}
RESOURCES = tuple(BY_RESOURCE)
# How each list is written in a CSV cell.
CELL_FORMS: dict[str, CellForm] = {link.name: link.cell for spec in SPECS for link in spec.links}


def specs_for(resources: Sequence[str]) -> list[Spec]:
    unknown = [name for name in resources if name not in BY_RESOURCE]
    if unknown or not resources:
        raise ValueError(f"Unknown or no resources {unknown}; choose from {', '.join(RESOURCES)}.")
    return [spec for spec in SPECS if spec.resource in resources]


def table_of(model: type[SQLModel]) -> Table:
    return SQLModel.metadata.tables[str(model.__tablename__)]
