"""Import: the records of a file validated, checked and written in chunks, all or nothing.

Import validates each record with the API's own Create models, references and unique keys, and
reports every problem with its place (line number; for JSON the index path such as
`/activities/3`) and a JSON pointer into the record. `id`, `version`, `created_at` and
`updated_at` are server-owned and read apart: an id that exists (live or deleted) is updated to
the imported content, any other is created with that id, with the file's version and timestamps,
so an export imported into an empty database reproduces it exactly. An update that changes
content sets version = max(current + 1, file's version) (a version never goes back), and takes
the file's `updated_at` only when it takes the file's version; an unchanged record is not
touched. A deleted record that is imported comes back to life. Read-only derived fields
(activity `work_plan_id`, report `is_overdue` and `days_late`) are ignored and recomputed.
References resolve against live records in the database or records earlier in the file.

Work is done in chunks of rows: one query per table per chunk for existing ids, references and
unique keys, rows inserted in bulk, changes flushed per chunk, so memory stays flat.

Transactions: `import_records` runs inside a SAVEPOINT of the caller's transaction. On any
problem it rolls the savepoint back and raises `ImportFailed(report)`; with `dry_run` it rolls it
back and returns the report. Either way nothing of the import stays, whatever the caller then
does; the caller wraps the call in `with Session(...) as s, s.begin():` as usual.
"""

import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Column, MetaData, Table, Text, Uuid, insert, select
from sqlmodel import Session

from app.errors import json_pointer
from app.transfer.chunk import Abort, Chunk
from app.transfer.formats import EXTENSIONS, Reader, Source
from app.transfer.report import ImportFailed, ImportReport
from app.transfer.rows import Row, ServerFields
from app.transfer.specs import BY_RESOURCE, RESOURCES, SERVER_FIELDS
from app.transfer.statistics import Statistics

IMPORT_CHUNK_SIZE = 2000

# Every id of the file so far and its first place, to refuse a repeat. A temporary table rather
# than a set, so that memory stays flat in the file's size; not on the app's metadata (no migration
# knows it). Created inside the import's savepoint: a rollback takes it away, a success drops it.
_SEEN_IDS = Table(
    "workplan_import_seen_ids",
    MetaData(),
    Column("id", Uuid, primary_key=True),
    Column("place", Text, nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)

_Checked = tuple[Source, ServerFields | None, Any, list[tuple[str, str]]]


def import_records(session: Session, path: Path, *, dry_run: bool = False, resource: str | None = None) -> ImportReport:
    """Import the records in `path` (.json, .ndjson, .jsonl, or .csv with `resource`).

    Raises ImportFailed with every problem found, having written nothing; with `dry_run`, returns
    the report having written nothing. `resource` is required for CSV; for JSON and NDJSON it
    imports only that resource's records. Runs in a savepoint of the caller's transaction.
    """
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"Cannot tell the format of '{path.name}'; use .json, .ndjson, .jsonl or .csv.")
    if resource is not None and resource not in BY_RESOURCE:
        raise ValueError(f"Unknown resource '{resource}'; choose from {', '.join(RESOURCES)}.")
    if fmt == "csv" and resource is None:
        raise ValueError("A CSV file holds one resource: say which.")
    report = ImportReport(dry_run=dry_run)
    reader = Reader(path, fmt, BY_RESOURCE[resource] if resource else None, report)
    return import_sources(session, report, reader.records())


def import_sources(session: Session, report: ImportReport, sources: Iterable[Source]) -> ImportReport:
    """Import the records `sources` yields, as `import_records` does a file's: the way in for a
    reader of another format (app/iati/importing.py), which adds what it cannot read to
    `report.errors` and yields the rest. `sources` is read inside the import's savepoint, so it may
    query the session; with `report.dry_run`, nothing is written."""
    dry_run = report.dry_run
    savepoint = session.begin_nested()
    try:
        importer = _Importer(session, report, IMPORT_CHUNK_SIZE)
        for chunk in _chunks(sources, IMPORT_CHUNK_SIZE):
            importer.import_chunk(chunk)
    except Abort:
        pass
    except BaseException:
        savepoint.rollback()
        raise
    if report.errors or dry_run:
        savepoint.rollback()
        report.sort_errors()
        if report.errors:
            raise ImportFailed(report)
        return report
    importer.close()
    savepoint.commit()
    return report


class _Importer:
    def __init__(self, session: Session, report: ImportReport, chunk_size: int) -> None:
        self.session, self.report = session, report
        self.statistics = Statistics(session, chunk_size)
        self.failed: dict[str, set[uuid.UUID]] = {r: set() for r in RESOURCES}
        _SEEN_IDS.create(session.connection())

    def close(self) -> None:
        _SEEN_IDS.drop(self.session.connection())

    def _check(self, source: Source) -> _Checked:
        """The record validated: its server fields and Create model (None if invalid), and its problems."""
        spec, data = source.spec, source.data
        server = {name: data.pop(name) for name in SERVER_FIELDS if name in data}
        for name in spec.derived:
            data.pop(name, None)
        problems: list[tuple[str, str]] = []
        fields = created = None
        try:
            fields = ServerFields.model_validate(server)
        except ValidationError as exc:
            problems += _errors(exc)
        try:
            created = spec.create.model_validate(data)
        except ValidationError as exc:
            problems += _errors(exc)
        return source, fields, created, problems

    def _refuse_repeats(self, checked: list[_Checked]) -> None:
        """A problem for each id already seen, in an earlier chunk or earlier in this one."""
        ids = {fields.id for _, fields, _, _ in checked if fields is not None and fields.id is not None}
        if not ids:
            return
        statement = select(_SEEN_IDS.c.id, _SEEN_IDS.c.place).where(_SEEN_IDS.c.id.in_(ids))
        first: dict[uuid.UUID, str] = {row.id: row.place for row in self.session.execute(statement)}
        new = []
        for source, fields, _created, problems in checked:
            if fields is None or fields.id is None:
                continue
            place = first.setdefault(fields.id, source.place)
            if place == source.place:
                new.append({"id": fields.id, "place": place})
            else:
                problems.append(("/id", f"{fields.id} appears twice in the file (first at {place})"))
        if new:
            self.session.execute(insert(_SEEN_IDS), new)

    def import_chunk(self, sources: Sequence[Source]) -> None:
        checked = [self._check(source) for source in sources]
        self._refuse_repeats(checked)
        rows = []
        for source, fields, created, problems in checked:
            if not problems and fields is not None and created is not None:
                rows.append(Row(source, fields.id or uuid.uuid4(), created, fields))
                continue
            self.report.errors += [source.problem(pointer, message) for pointer, message in problems]
            if fields is not None and fields.id is not None:
                self.failed[source.spec.resource].add(fields.id)
        if not rows:
            return
        chunk = Chunk(self.session, self.report, self.failed, rows)
        for row in rows:
            chunk.stage(row)
        chunk.write()
        self.statistics.after_chunk(row.spec.resource for row in rows)


def _chunks(sources: Iterable[Source], size: int) -> Iterator[list[Source]]:
    chunk: list[Source] = []
    for source in sources:
        chunk.append(source)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _errors(exc: ValidationError) -> list[tuple[str, str]]:
    return [
        (json_pointer(e["loc"]), str(e["msg"]).removeprefix("Value error, "))
        for e in exc.errors(include_url=False, include_input=False)
    ]
