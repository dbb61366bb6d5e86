"""Records as the database holds them, read with Core as plain column values and owned lists."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from app.transfer.specs import Spec, table_of


def read_links(session: Session, spec: Spec, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, list[Any]]]:
    """The owned lists of the records `ids`, one query per child table."""
    found: dict[uuid.UUID, dict[str, list[Any]]] = {
        record_id: {link.name: [] for link in spec.links} for record_id in ids
    }
    for link in spec.links:
        table = table_of(link.model)
        parent = table.c[link.parent]
        statement = select(table).where(parent.in_(ids)).order_by(parent, table.c[link.order])
        for child in session.execute(statement):
            found[getattr(child, link.parent)][link.name].append(link.value(child))
    return found


@dataclass(frozen=True)
class Stored:
    """A record that exists, read as plain column values and owned lists: enough to compare."""

    spec: Spec
    values: dict[str, Any]
    links: dict[str, list[Any]]


def read_stored(session: Session, spec: Spec, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Stored]:
    """The records `ids` of `spec`'s table, live or deleted."""
    table = table_of(spec.table)
    found = {row["id"]: dict(row) for row in session.execute(select(table).where(table.c.id.in_(ids))).mappings()}
    links = read_links(session, spec, list(found)) if found and spec.links else {}
    return {record_id: Stored(spec, values, links.get(record_id, {})) for record_id, values in found.items()}
