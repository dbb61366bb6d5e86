"""Export: the live records of some resources, in dependency order, read a batch at a time with Core.

A record travels as its public representation (exactly what the API returns) plus its private
fields (partner `contact_name`, `contact_email`, `notes`; report `notes`), so a backup loses
nothing. Deleted records are not exported.
"""

import uuid
from collections.abc import Iterator, Sequence
from typing import IO, Any

from sqlalchemy import func, select
from sqlmodel import Session, col
from sqlmodel import select as sqlmodel_select

from app.transfer.formats import Format, Progress, write_csv, write_json, write_ndjson
from app.transfer.specs import Spec, specs_for, table_of
from app.transfer.stored import read_links

EXPORT_BATCH_SIZE = 2000


def count_records(session: Session, resources: Sequence[str]) -> int:
    """How many live records an export of `resources` writes (for a progress bar)."""
    return sum(
        session.exec(
            sqlmodel_select(func.count()).select_from(spec.table).where(col(spec.table.deleted_at).is_(None))
        ).one()
        for spec in specs_for(resources)
    )


def export_records(
    session: Session,
    resources: Sequence[str],
    fmt: Format,
    out: IO[str],
    on_progress: Progress = None,
) -> int:
    """Write the live records of `resources` to `out`; return how many were written.

    `on_progress` is called after each batch with the number of records that batch wrote.
    For CSV, open `out` with `newline=""` (the csv module writes its own line ends).
    """
    specs = specs_for(resources)
    if fmt == "csv":
        if len(specs) != 1:
            raise ValueError(f"A CSV file holds one resource; asked for {', '.join(s.resource for s in specs)}.")
        return write_csv(out, specs[0], _live_batches(session, specs[0]), on_progress)
    if fmt not in ("json", "ndjson"):
        raise ValueError(f"Unknown format '{fmt}'; choose json, ndjson or csv.")
    write = write_json if fmt == "json" else write_ndjson
    return write(out, ((spec, _live_batches(session, spec)) for spec in specs), on_progress)


def _live_batches(session: Session, spec: Spec) -> Iterator[list[dict[str, Any]]]:
    """Live records by id, a batch at a time, as column values plus owned lists (no ORM objects)."""
    table = table_of(spec.table)
    last: uuid.UUID | None = None
    while True:
        statement = select(table).where(table.c.deleted_at.is_(None))
        if last is not None:
            statement = statement.where(table.c.id > last)
        batch = [
            dict(row) for row in session.execute(statement.order_by(table.c.id).limit(EXPORT_BATCH_SIZE)).mappings()
        ]
        if batch and spec.links:
            links = read_links(session, spec, [values["id"] for values in batch])
            for values in batch:
                values.update(links[values["id"]])
        if batch:
            yield batch
        if len(batch) < EXPORT_BATCH_SIZE:
            return
        last = batch[-1]["id"]
