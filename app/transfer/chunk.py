"""One chunk of an import's valid rows: what it needs from the database read in a few queries, each
row checked against it (references, unique keys), then written."""

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select as core_select
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from app.models.objectives import Objective
from app.transfer.report import ImportProblem, ImportReport
from app.transfer.rows import Row
from app.transfer.specs import BY_RESOURCE, RESOURCES, Spec, table_of
from app.transfer.stored import Stored, read_stored
from app.transfer.writes import write_rows


class Abort(Exception):
    """Stop: the database refused a write, so the session cannot go on."""


class Chunk:
    """One chunk of valid rows: everything it needs from the database is read in a few queries."""

    def __init__(
        self, session: Session, report: ImportReport, failed: dict[str, set[uuid.UUID]], rows: list[Row]
    ) -> None:
        self.session, self.report, self.failed = session, report, failed
        by_resource: dict[str, list[Row]] = {r: [] for r in RESOURCES}
        for row in rows:
            by_resource[row.spec.resource].append(row)
        self.existing: dict[uuid.UUID, Stored] = {}
        for resource, group in by_resource.items():
            if group:
                self.existing.update(read_stored(self.session, BY_RESOURCE[resource], [row.id for row in group]))
        self.live, self.plans = self._live_references(rows)
        # The plan of each objective defined in this chunk, so that activity keys can be queried up front.
        for row in by_resource["objectives"]:
            self.plans.setdefault(row.id, row.data.work_plan_id)
        for row in by_resource["activities"]:
            row.work_plan_id = self.plans.get(row.data.objective_id)
        self.holders = {r: self._holders(BY_RESOURCE[r], group) for r, group in by_resource.items() if group}
        self.staged: dict[str, set[uuid.UUID]] = {r: set() for r in RESOURCES}
        self.keys: dict[str, dict[tuple[Any, ...], Row]] = {r: {} for r in RESOURCES}
        self.key_of: dict[uuid.UUID, tuple[Any, ...] | None] = {}
        self.creates: dict[str, list[Row]] = {r: [] for r in RESOURCES}
        self.updates: dict[str, list[Row]] = {r: [] for r in RESOURCES}

    def _live_references(self, rows: Iterable[Row]) -> tuple[dict[str, set[uuid.UUID]], dict[uuid.UUID, uuid.UUID]]:
        wanted: dict[str, set[uuid.UUID]] = {r: set() for r in RESOURCES}
        for row in rows:
            for resource, _pointer, ref_id in row.references():
                wanted[resource].add(ref_id)
        live: dict[str, set[uuid.UUID]] = {r: set() for r in RESOURCES}
        plans: dict[uuid.UUID, uuid.UUID] = {}
        for resource, ids in wanted.items():
            if not ids:
                continue
            table = BY_RESOURCE[resource].table
            if table is Objective:
                statement = select(Objective.id, Objective.work_plan_id).where(
                    col(Objective.id).in_(ids), col(Objective.deleted_at).is_(None)
                )
                plans.update((objective_id, plan_id) for objective_id, plan_id in self.session.exec(statement))
                live[resource] = set(plans)
            else:
                statement_ids = select(table.id).where(col(table.id).in_(ids), col(table.deleted_at).is_(None))
                live[resource] = set(self.session.exec(statement_ids))
        return live, plans

    def _holders(self, spec: Spec, rows: list[Row]) -> dict[tuple[Any, ...], uuid.UUID]:
        """The live records that already hold the unique keys these rows want."""
        keys = {key for row in rows if (key := row.key()) is not None}
        if not keys:
            return {}
        table = table_of(spec.table)
        columns = [table.c[name] for name in spec.key_columns]
        # One IN per column (cheaper to bind than a tuple IN); pairs that match no key are dropped below.
        conditions = [column.in_({key[i] for key in keys}) for i, column in enumerate(columns)]
        statement = core_select(table.c.id, *columns).where(*conditions, table.c.deleted_at.is_(None))
        holders = ((tuple(values), record_id) for record_id, *values in self.session.execute(statement))
        return {key: record_id for key, record_id in holders if key in keys}

    def _reference_problem(self, resource: str, ref_id: uuid.UUID) -> str | None:
        if ref_id in self.live[resource] or ref_id in self.staged[resource]:
            return None
        label = BY_RESOURCE[resource].label
        if ref_id in self.failed[resource]:
            return f"{label.capitalize()} {ref_id} is in this file but could not be imported"
        return f"No {label} with id {ref_id}"

    def _key_problem(self, row: Row, key: tuple[Any, ...]) -> str | None:
        spec = row.spec
        taken = self.keys[spec.resource].get(key)
        if taken is not None and taken.id != row.id:
            return f"{spec.key_label.format(key[-1])} is already taken (by the record at {taken.source.place})"
        holder = self.holders.get(spec.resource, {}).get(key)
        # A holder that this chunk already moved to another key has let it go.
        if holder is not None and holder != row.id and self.key_of.get(holder, key) == key:
            return f"{spec.key_label.format(key[-1])} is already taken (by {spec.label} {holder})"
        return None

    def stage(self, row: Row) -> None:
        """Check the row; count it and queue it as a create or an update, or report its problems."""
        spec, resource = row.spec, row.spec.resource
        existing = self.existing.get(row.id)
        if existing is not None and existing.spec is not spec:
            existing = None  # the same id as another type's record: the insert will say so
        problems: list[tuple[str, str]] = []
        skip_refs: set[str] = set()
        if existing is not None and spec.table is Objective:
            if existing.values["work_plan_id"] != row.data.work_plan_id:
                problems.append(("/work_plan_id", "cannot be changed"))
            if existing.values["deleted_at"] is None:
                skip_refs.add("/work_plan_id")  # the API checks the plan only on create
        for ref_resource, pointer, ref_id in row.references():
            if pointer not in skip_refs and (message := self._reference_problem(ref_resource, ref_id)):
                problems.append((pointer, message))
        key = row.key()
        if key is not None and (message := self._key_problem(row, key)):
            problems.append((f"/{spec.key_columns[-1]}", message))
        if problems:
            self.report.errors += [row.source.problem(pointer, message) for pointer, message in problems]
            self.failed[resource].add(row.id)
            return
        counts = self.report.counts[resource]
        if existing is None:
            self.creates[resource].append(row)
            counts.created += 1
        elif existing.values["deleted_at"] is not None or self._differs(existing, row):
            self.updates[resource].append(row)
            counts.updated += 1
        else:
            counts.unchanged += 1
        self.staged[resource].add(row.id)
        if key is not None:
            self.keys[resource][key] = row
        self.key_of[row.id] = key

    @staticmethod
    def _differs(stored: Stored, row: Row) -> bool:
        if any(stored.values[name] != value for name, value in row.scalars().items()):
            return True
        return stored.links != row.links()

    def write(self) -> None:
        """Write the staged rows; a refusal by the database is reported, and aborts the import."""
        try:
            write_rows(self.session, self.updates, self.creates)
        except DBAPIError as exc:
            message = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            self.report.errors.append(
                ImportProblem(None, None, None, "", f"The database refused the import: {message}")
            )
            raise Abort from None
