"""The audit log: every write to a record, with who, when, and each changed field before and after.

Changes are collected from the ORM as they are flushed (a request may flush several times; the
entries of one record are merged) and written when the transaction commits, in that transaction:
no write without its entry, no entry without its write. Bulk writes that bypass the ORM (the
import) call `record_change` themselves. Who: `session.info["actor"]`, set by the request's
session from its API key, and by the command line (`cli`, `seed`, `import`). The hooks are on
every session once `register()` has run: the service and the command line call it.
"""

import uuid
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.orm import UOWTransaction

from app.models.access import AuditEntry
from app.records import SERVER_COLUMNS, RecordTable, format_timestamp, utcnow

# Bookkeeping columns: they move with every change and say nothing of their own.
QUIET = frozenset({"version", "updated_at", "created_at", *SERVER_COLUMNS})
PENDING = "audit_pending"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _child(value: Any, parent_key: str) -> Any:
    """A child row as the API shows it in its owner's list: one value, or an object."""
    mapper = inspect(type(value))
    names = [a.key for a in mapper.column_attrs if a.key not in (parent_key, "position")]
    fields = {name: _plain(getattr(value, name)) for name in names}
    return next(iter(fields.values())) if len(fields) == 1 else fields


def record_change(
    session: OrmSession, action: str, record_type: str, record_id: uuid.UUID, changes: dict[str, list[Any]]
) -> None:
    """Note a change for the audit log; merged with earlier ones of the same record."""
    pending: dict[tuple[str, uuid.UUID], dict[str, Any]] = session.info.setdefault(PENDING, {})
    entry = pending.setdefault((record_type, record_id), {"action": action, "changes": {}})
    if action == "delete" or entry["action"] != "create":
        entry["action"] = action
    for name, (before, after) in changes.items():
        if name in entry["changes"]:
            before = entry["changes"][name][0]
        entry["changes"][name] = [before, after]


def _changes(record: RecordTable, new: bool) -> dict[str, list[Any]]:
    state = inspect(record)
    changes: dict[str, list[Any]] = {}
    for attr in state.mapper.column_attrs:
        if attr.key in QUIET:
            continue
        history = state.attrs[attr.key].history
        if new:
            value = getattr(record, attr.key)
            if value is not None and attr.key != "id":
                changes[attr.key] = [None, _plain(value)]
        elif history.has_changes():
            before = history.deleted[0] if history.deleted else None
            after = history.added[0] if history.added else None
            if before != after:
                changes[attr.key] = [_plain(before), _plain(after)]
    for relationship in state.mapper.relationships:
        if not relationship.uselist:
            continue
        history = state.attrs[relationship.key].history
        if not (new or history.has_changes()):
            continue
        parent_key = next(iter(relationship.remote_side)).key
        before = [_child(v, parent_key) for v in [*history.unchanged, *history.deleted]] if not new else []
        after = [_child(v, parent_key) for v in [*history.unchanged, *history.added]]
        if before != after:
            changes[relationship.key] = [before, after]
    return changes


def log_bulk_creates(session: OrmSession, record_type: str, rows: list[dict[str, Any]]) -> None:
    """Audit entries for rows inserted without the ORM (the import), written at once: a large
    import does not hold them all in memory until it commits."""
    if not rows:
        return
    now = utcnow()
    actor = str(session.info.get("actor", "system"))
    entries = [
        {
            "at": now,
            "actor": actor,
            "request_id": session.info.get("request_id"),
            "action": "create",
            "record_type": record_type,
            "record_id": row["id"],
            "changes": {k: [None, _plain(v)] for k, v in row.items() if v is not None and k not in QUIET and k != "id"},
        }
        for row in rows
    ]
    session.execute(insert(AuditEntry), entries)


def _collect(session: OrmSession, _flush: UOWTransaction, _instances: Any) -> None:
    for record in [*session.new, *session.dirty]:
        if not isinstance(record, RecordTable):
            continue
        new = record in session.new
        changes = _changes(record, new)
        if not changes:
            continue
        deleted = changes.get("deleted_at", [None, None])
        action = "create" if new else "delete" if deleted[0] is None and deleted[1] is not None else "update"
        record_change(session, action, str(record.__tablename__), record.id, changes)


def _write(session: OrmSession) -> None:
    session.flush()  # collect what is still pending
    pending: dict[tuple[str, uuid.UUID], dict[str, Any]] = session.info.pop(PENDING, {})
    if not pending:
        return
    now = utcnow()
    actor = str(session.info.get("actor", "system"))
    request_id = session.info.get("request_id")
    rows = [
        {
            "at": now,
            "actor": actor,
            "request_id": request_id,
            "action": entry["action"],
            "record_type": record_type,
            "record_id": record_id,
            "changes": entry["changes"],
        }
        for (record_type, record_id), entry in pending.items()
    ]
    session.execute(insert(AuditEntry), rows)


def _forget(session: OrmSession, _previous: Any) -> None:
    # Any rollback, a savepoint's included (an import's dry run): what it undid is not logged.
    # Entries noted before the savepoint go too; the import runs in a session of its own.
    session.info.pop(PENDING, None)


HOOKS = (("before_flush", _collect), ("before_commit", _write), ("after_soft_rollback", _forget))


def register() -> None:
    """Write the audit log from every session, from now on: called by whatever makes sessions that
    write (`create_app()`, the command line, the tests' fixtures). Calling it again changes nothing."""
    for name, hook in HOOKS:
        if not event.contains(OrmSession, name, hook):
            event.listen(OrmSession, name, hook)
