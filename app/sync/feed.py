"""`GET /v1/changes`: one state feed over every synced type, ordered by (change_seq, type, id).

The database stamps `change_seq` (migration 0003) and stamps become visible in stamp order, so a
reader that has seen everything up to a position can resume from it and miss nothing: a row
committed later always carries a later stamp. A page is read in one snapshot (REPEATABLE READ on
PostgreSQL; a read transaction is one snapshot on SQLite), so a transaction's rows in different
tables are seen all or none.

The cursor is signed and carries: the database's epoch, the position (stamp, type, id), the types
it was issued for, the high-water stamp when the initial sync began (tombstones at or below it are
of records the client never had, so the initial sync skips them), and when it was issued.
"""

import operator
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import reduce
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import ColumnElement, Engine, and_, delete, exists, func, or_, true, tuple_
from sqlmodel import Session, SQLModel, col, select

from app.config import get_settings
from app.errors import BadRequest, Gone
from app.kind import Kind
from app.kinds import BY_NAME, KINDS
from app.lists import seal, unseal
from app.models.webhooks import WebhookDelivery
from app.models.writes import IdempotencyKey, SyncState
from app.reads import PrivateReaders, Reader
from app.records import RecordTable, utcnow

# Every record type (app/kinds.py), in the order of their names.
SyncType = StrEnum(  # type: ignore[misc]
    "SyncType", {kind.name.upper(): kind.name for kind in sorted(KINDS, key=lambda kind: kind.name)}
)
SyncType.__doc__ = "The record types in the feed, named like their tables (and like export envelopes)."
# Referring records before the records they refer to: the order tombstones are purged in.
PURGE_ORDER = tuple(reversed(KINDS))


class ChangesParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    types: list[SyncType] = Field(default=[], description="Only these types (all when absent); bound into the cursor.")
    cursor: str | None = Field(default=None, description="`next_cursor` of the previous page; absent: initial sync.")
    limit: int = Field(default=500, ge=1, le=1000, description="Items per page, 1 to 1000.")


def _change_model(kind: Kind) -> type[BaseModel]:
    """The feed item of one type: its `data` is that type's record, as its GET returns it."""
    # Private fields as in the record's GET: for editors, and for a partner key on its partner's.
    readers = [kind.readers.full, kind.readers.public] if isinstance(kind.readers, PrivateReaders) else [kind.readers]
    record: Any = reduce(operator.or_, [reader.public for reader in readers])
    type_: Any = Literal[kind.name]
    return create_model(
        f"{kind.table.__name__}Change",
        __doc__=f"A change to a {kind.label}.",
        type=(type_, Field()),
        id=(uuid.UUID, Field()),
        change_seq=(int, Field(description="Apply the item only if this is above the one you hold for (type, id).")),
        deleted=(bool, Field(description="A tombstone: the record was deleted; `data` is null.")),
        data=(
            record | None,
            Field(description="The record as its GET returns it to the same caller; null for a deletion."),
        ),
    )


# `type` says which record `data` is: generated clients pick the item's model by it.
Change: Any = Annotated[
    reduce(operator.or_, [_change_model(BY_NAME[name]) for name in SyncType]),
    Field(discriminator="type"),
]


class ChangesPage(BaseModel):
    items: list[Change]
    next_cursor: str = Field(description="Always present: store it and ask again later for what changed since.")
    has_more: bool = Field(description="More items are waiting: ask again now with next_cursor.")


@dataclass(frozen=True)
class Position:
    seq: int
    type: str  # "" before the first type
    id: uuid.UUID | None
    floor: int  # tombstones at or below it are skipped (see the module docstring)


def _types_key(types: Sequence[SyncType]) -> list[str]:
    return sorted({t.value for t in types} or {t.value for t in SyncType})


def encode_cursor(epoch: uuid.UUID, types: Sequence[SyncType], position: Position) -> str:
    return seal(
        {
            "e": epoch.hex,
            "t": _types_key(types),
            "s": position.seq,
            "y": position.type,
            "i": position.id.hex if position.id else None,
            "f": position.floor,
            "at": int(time.time()),
        }
    )


def decode_cursor(cursor: str, state: SyncState, types: Sequence[SyncType]) -> Position:
    payload = unseal(cursor)
    try:
        position = Position(
            seq=int(payload["s"]),
            type=str(payload["y"]),
            id=uuid.UUID(payload["i"]) if payload["i"] else None,
            floor=int(payload["f"]),
        )
        epoch, issued_at, cursor_types = payload["e"], int(payload["at"]), payload["t"]
    except (ValueError, TypeError, KeyError):
        # Signed by this service, but not a feed cursor (a list's or the audit log's).
        raise BadRequest("The cursor is not one this service issued.", code="INVALID_CURSOR") from None
    if epoch != state.epoch.hex:
        raise Gone("The cursor was issued by another database: sync again from no cursor.", code="CURSOR_EXPIRED")
    if cursor_types != _types_key(types):
        raise BadRequest(
            f"The cursor was issued for types={','.join(cursor_types)}: keep the types it was issued with.",
            code="CURSOR_MISMATCH",
        )
    horizon = timedelta(days=get_settings().tombstone_days)
    # Purged tombstones at or below the floor were never owed to this client (its initial sync
    # skipped them), and those below its position it has seen. At its position's own stamp it may
    # have stopped halfway (one PostgreSQL transaction shares one stamp), so that one counts.
    missed = state.purged_seq > position.floor and state.purged_seq >= position.seq
    if missed or time.time() - issued_at > horizon.total_seconds():
        raise Gone(
            "The cursor is older than the tombstone horizon, so deletions may have been missed: "
            "sync again from no cursor.",
            code="CURSOR_EXPIRED",
        )
    return position


def after(model: type[RecordTable], name: str, position: Position) -> ColumnElement[bool]:
    """(change_seq, type, id) > position, for the rows of one type."""
    seq = col(model.change_seq)
    if name > position.type:
        return seq >= position.seq
    if name < position.type:
        return seq > position.seq
    return tuple_(seq, col(model.id)) > tuple_(position.seq, position.id)


def head(session: Session) -> int:
    """The feed's head: the highest change_seq stamped so far (committed, as the session sees it)."""
    return session.exec(select(SyncState.change_seq)).one()


def end_of(seq: int) -> Position:
    """The position just past every change stamped `seq` or lower (every type's name is above "":
    `after`), with no tombstone skipped: where a webhook subscription starts (`end_of(head)`), and
    where a replay from `seq + 1` goes back to."""
    return Position(seq=seq + 1, type="", id=None, floor=0)


def one_snapshot(session: Session) -> None:
    """Read the rest of this transaction in one snapshot: a transaction that touched two tables is
    seen whole (REPEATABLE READ on PostgreSQL; a SQLite read transaction is one snapshot anyway).
    Call it before the transaction's first statement."""
    bind = session.get_bind()
    if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def changes_after(
    session: Session,
    type_names: Sequence[str],
    position: Position,
    limit: int,
    readers: Callable[[PrivateReaders], Reader],
) -> tuple[list[dict[str, Any]], Position, bool]:
    """The feed items after `position` of these types (sorted names), at most `limit`, oldest change
    first: each as `/v1/changes` serves it, its record in JSON form (built from table rows by the same
    readers as GET); `readers` picks how the caller reads a type with private fields
    (app.access.keys.private_reader). Also the position of the last item (`position` when none) and
    whether more items wait. The webhook dispatcher reads its subscriptions' changes with it."""
    found: list[tuple[int, str, uuid.UUID, bool]] = []
    for name in type_names:
        model = BY_NAME[name].table
        live = col(model.deleted_at).is_(None)
        statement = (
            select(model.change_seq, model.id, live)
            .where(after(model, name, position))
            .where(or_(live, col(model.change_seq) > position.floor) if position.floor else true())
            .order_by(col(model.change_seq), col(model.id))
            .limit(limit + 1)
        )
        found.extend((seq or 0, name, record_id, not alive) for seq, record_id, alive in session.exec(statement))
    found.sort()
    has_more = len(found) > limit
    found = found[:limit]
    items = _items(session, found, readers)
    if found:
        seq, name, record_id, _ = found[-1]
        position = Position(seq=seq, type=name, id=record_id, floor=position.floor)
    return items, position, has_more


def _items(
    session: Session, found: Sequence[tuple[int, str, uuid.UUID, bool]], readers: Callable[[PrivateReaders], Reader]
) -> list[dict[str, Any]]:
    """Feed items of (change_seq, type, id, deleted) changes: the live records read by type, a
    query or two each, whatever their number."""
    records: dict[tuple[str, str], Any] = {}
    for name in {name for _, name, _, deleted in found if not deleted}:
        reader = BY_NAME[name].readers
        if isinstance(reader, PrivateReaders):
            reader = readers(reader)
        ids = [record_id for _, n, record_id, deleted in found if n == name and not deleted]
        for item in reader.by_ids(session, ids):
            records[name, item["id"]] = item
    return [
        {
            "type": name,
            "id": str(record_id),
            "change_seq": seq,
            "deleted": deleted,
            "data": None if deleted else records[name, str(record_id)],
        }
        for seq, name, record_id, deleted in found
    ]


def record_item(
    session: Session, type_name: str, record_id: uuid.UUID, readers: Callable[[PrivateReaders], Reader]
) -> dict[str, Any] | None:
    """The feed item of one record as it is now (a tombstone if it was deleted); None if it is gone
    altogether (its tombstone purged)."""
    model = BY_NAME[type_name].table
    row = session.exec(select(model.change_seq, col(model.deleted_at).is_(None)).where(model.id == record_id)).first()
    if row is None:
        return None
    seq, alive = row
    return _items(session, [(seq or 0, type_name, record_id, not alive)], readers)[0]


def read_changes(
    session: Session, params: ChangesParams, readers: Callable[[PrivateReaders], Reader]
) -> dict[str, Any]:
    """A page of the feed, in the shape of ChangesPage, its records already in JSON form (built
    from table rows by the same readers as GET); `readers` picks how the caller reads a type with
    private fields (app.access.keys.private_reader)."""
    one_snapshot(session)
    state = session.get(SyncState, 1)
    assert state is not None, "migration 0003 creates the sync_state row"
    if params.cursor is None:
        position = Position(seq=0, type="", id=None, floor=state.change_seq)
    else:
        position = decode_cursor(params.cursor, state, params.types)
    items, position, has_more = changes_after(session, _types_key(params.types), position, params.limit, readers)
    cursor = encode_cursor(state.epoch, params.types, position)
    return {"items": items, "next_cursor": cursor, "has_more": has_more}


def _unreferenced(model: type[RecordTable]) -> list[ColumnElement[bool]]:
    """No row anywhere still refers to it (child rows that go with it, ON DELETE CASCADE, aside)."""
    table = model.__table__  # type: ignore[attr-defined]
    conditions = []
    for other in SQLModel.metadata.tables.values():
        for fk in other.foreign_keys:
            if fk.column.table is table and (fk.ondelete or "").upper() != "CASCADE":
                conditions.append(~exists().where(fk.parent == table.c.id))
    return conditions


def purge_tombstones(session: Session, older_than: timedelta) -> dict[str, int]:
    """Remove records deleted before now - older_than, expired idempotency keys, and the record of
    webhook delivery attempts made before now - older_than.

    Cursors from before the newest purged tombstone then get 410: they may have missed it."""
    cutoff = utcnow() - older_than
    counts: dict[str, int] = {}
    newest = 0
    for kind in PURGE_ORDER:
        model = kind.table
        gone = and_(col(model.deleted_at) < cutoff, *_unreferenced(model))
        seq = session.exec(select(func.max(model.change_seq)).where(gone)).one()
        result = session.exec(delete(model).where(gone))
        counts[kind.name] = result.rowcount
        newest = max(newest, seq or 0)
    state = session.exec(select(SyncState).where(SyncState.id == 1).with_for_update()).one()
    state.purged_seq = max(state.purged_seq, newest)
    state.purged_at = utcnow()
    expired = session.exec(delete(IdempotencyKey).where(col(IdempotencyKey.expires_at) < utcnow()))
    counts["idempotency_key"] = expired.rowcount
    attempts = session.exec(delete(WebhookDelivery).where(col(WebhookDelivery.at) < cutoff))
    counts["webhook_delivery"] = attempts.rowcount
    session.flush()
    return counts
