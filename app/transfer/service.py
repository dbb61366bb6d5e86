"""Export and import of every record: the core of `workplan export` and `workplan import`.

A record travels as its public representation (exactly what the API returns) plus its private
fields (partner `contact_name`, `contact_email`, `notes`; report `notes`), so a backup loses
nothing. Deleted records are not exported. Resources always go in dependency order: work_plans,
partners, ratifications, government_reports, objectives, activities.

Formats:
- `ndjson` (`.ndjson`, `.jsonl`): one record per line as `{"type": "activity", "data": {...}}`, the
  shape of a `/v1/changes` item; type is work_plan, partner, ratification, government_report,
  objective or activity. An envelope, not a `"type"` key beside the fields: activities have a `type` field.
- `json`: one object `{"work_plans": [...], "partners": [...], ...}`; the key names the type.
- `csv`: one resource per file, the header row naming the fields. An empty cell is null, or an
  empty list for a list field (so an empty string and null are the same in CSV). Lists are
  flattened: countries `KEN;FRA`; participants `partner_id:role;partner_id:role`;
  government_report_ids and monitored_by `id;id`; articles as JSON text.
  Formula injection is neutralised: a cell that starts with `=`, `+`, `-`, `@`, a tab or a
  carriage return, after any leading `'`, is written with one more leading `'`, which
  spreadsheets take as "this is text". Import removes exactly that one quote (a cell starting
  with `'` whose first character after its leading quotes is one of those), so every value,
  one that really starts with `'=` included, comes back as it was.

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

import csv
import json
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import Column, MetaData, Table, Text, Uuid, func, insert, text
from sqlalchemy import select as core_select
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel, col, select

from app.access.audit import log_bulk_creates
from app.activities.models import (
    Activity,
    ActivityCountry,
    ActivityCreate,
    ActivityGovernmentReport,
    ActivityParticipant,
    ActivityPublic,
)
from app.csv_cells import restore, to_cell
from app.errors import json_pointer
from app.kinds import KINDS
from app.objectives.models import Objective, ObjectiveCreate, ObjectivePublic
from app.partners.models import Partner, PartnerCreate, PartnerPublic
from app.ratifications.models import Ratification, RatificationImport, RatificationPublic
from app.records import RecordTable, Timestamp, apply_changes, utcnow
from app.reports.models import (
    GovernmentReport,
    GovernmentReportCreate,
    GovernmentReportPublic,
    ReportArticle,
    ReportMonitor,
)
from app.work_plans.models import WorkPlan, WorkPlanCreate, WorkPlanPublic

Format = Literal["json", "ndjson", "csv"]
EXPORT_BATCH_SIZE = 2000
IMPORT_CHUNK_SIZE = 2000
STATISTICS_GROWTH = 2  # PostgreSQL: ANALYZE a table once the import saw this many times the rows its statistics know
SERVER_FIELDS = ("id", "version", "created_at", "updated_at")
EXTENSIONS: dict[str, Format] = {".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv"}


@dataclass(frozen=True)
class _Link:
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
class _Spec:
    resource: str
    record_type: str
    table: type[RecordTable]
    create: type[SQLModel]
    public: type[SQLModel]
    key_columns: tuple[str, ...]
    key_label: str  # how a duplicate is named, formatted with the key's last value
    private: tuple[str, ...] = ()
    links: tuple[_Link, ...] = ()
    derived: tuple[str, ...] = ()  # read-only in the public form, recomputed on import

    @property
    def label(self) -> str:
        return self.record_type.replace("_", " ")

    @property
    def link_names(self) -> set[str]:
        return {link.name for link in self.links}

    @property
    def columns(self) -> list[str]:
        return [*self.public.model_fields, *self.public.model_computed_fields, *self.private]


ACTIVITY_LINKS = (
    _Link("countries", "countries", ActivityCountry, "activity_id", "country", ("country",)),
    _Link("participants", "participants", ActivityParticipant, "activity_id", "position", ("partner_id", "role")),
    _Link(
        "government_report_ids",
        "government_reports",
        ActivityGovernmentReport,
        "activity_id",
        "government_report_id",
        ("government_report_id",),
    ),
)
REPORT_LINKS = (
    _Link(
        "articles",
        "articles",
        ReportArticle,
        "government_report_id",
        "position",
        ("instrument", "article", "assessment", "note"),
    ),
    _Link("monitored_by", "monitors", ReportMonitor, "government_report_id", "partner_id", ("partner_id",)),
)
SPECS = (
    _Spec(
        "work_plans", "work_plan", WorkPlan, WorkPlanCreate, WorkPlanPublic,
        ("code",), "Work plan code '{}'",
    ),
    _Spec(
        "partners", "partner", Partner, PartnerCreate, PartnerPublic,
        ("name",), "Partner name '{}'", private=("contact_name", "contact_email", "notes"),
    ),
    _Spec(
        "ratifications", "ratification", Ratification, RatificationImport, RatificationPublic,
        ("country", "instrument"), "Ratification of the '{}' by this State",
        derived=(
            "entry_into_force_on", "entry_into_force_computed", "entry_into_force_overridden",
            "entry_into_force_unknown_reason",
        ),
    ),
    _Spec(
        "government_reports", "government_report", GovernmentReport, GovernmentReportCreate,
        GovernmentReportPublic, ("symbol",), "Symbol '{}'",
        private=("notes",), links=REPORT_LINKS, derived=("is_overdue", "days_late"),
    ),
    _Spec(
        "objectives", "objective", Objective, ObjectiveCreate, ObjectivePublic,
        ("work_plan_id", "code"), "Objective code '{}' in this work plan",
    ),
    _Spec(
        "activities", "activity", Activity, ActivityCreate, ActivityPublic,
        ("work_plan_id", "code"), "Activity code '{}' in this work plan",
        links=ACTIVITY_LINKS, derived=("work_plan_id",),
    ),
)  # fmt: skip
BY_RESOURCE = {spec.resource: spec for spec in SPECS}
BY_TYPE = {spec.record_type: spec for spec in SPECS}
RESOURCES = tuple(BY_RESOURCE)
LIST_FIELDS = frozenset({"countries", "participants", "government_report_ids", "monitored_by", "articles"})
# How each list is written in a CSV cell, as each record type declares it (app/kinds.py).
CELL_FORMS = {child.field: child.cell_form for kind in KINDS for child in kind.children}


# --- export ---------------------------------------------------------------------------------


def _specs_for(resources: Sequence[str]) -> list[_Spec]:
    unknown = [name for name in resources if name not in BY_RESOURCE]
    if unknown or not resources:
        raise ValueError(f"Unknown or no resources {unknown}; choose from {', '.join(RESOURCES)}.")
    return [spec for spec in SPECS if spec.resource in resources]


def count_records(session: Session, resources: Sequence[str]) -> int:
    """How many live records an export of `resources` writes (for a progress bar)."""
    return sum(
        session.exec(select(func.count()).select_from(spec.table).where(col(spec.table.deleted_at).is_(None))).one()
        for spec in _specs_for(resources)
    )


def _read_links(session: Session, spec: _Spec, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, dict[str, list[Any]]]:
    """The owned lists of the records `ids`, one query per child table."""
    found: dict[uuid.UUID, dict[str, list[Any]]] = {
        record_id: {link.name: [] for link in spec.links} for record_id in ids
    }
    for link in spec.links:
        table = _table(link.model)
        parent = table.c[link.parent]
        statement = core_select(table).where(parent.in_(ids)).order_by(parent, table.c[link.order])
        for child in session.execute(statement):
            found[getattr(child, link.parent)][link.name].append(link.value(child))
    return found


def _live_batches(session: Session, spec: _Spec) -> Iterator[list[dict[str, Any]]]:
    """Live records by id, a batch at a time, as column values plus owned lists (no ORM objects)."""
    table = _table(spec.table)
    last: uuid.UUID | None = None
    while True:
        statement = core_select(table).where(table.c.deleted_at.is_(None))
        if last is not None:
            statement = statement.where(table.c.id > last)
        batch = [
            dict(row) for row in session.execute(statement.order_by(table.c.id).limit(EXPORT_BATCH_SIZE)).mappings()
        ]
        if batch and spec.links:
            links = _read_links(session, spec, [values["id"] for values in batch])
            for values in batch:
                values.update(links[values["id"]])
        if batch:
            yield batch
        if len(batch) < EXPORT_BATCH_SIZE:
            return
        last = batch[-1]["id"]


def exported(spec: _Spec, values: dict[str, Any]) -> dict[str, Any]:
    """A record's full exported form: its public representation and its private fields."""
    data: dict[str, Any] = spec.public.model_validate(values).model_dump(mode="json")
    for name in spec.private:
        data[name] = values[name]
    return data


def _from_cell(name: str, cell: str) -> Any:
    text = restore(cell)
    if name not in LIST_FIELDS:
        return text or None
    if not text:
        return []
    if name == "articles":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text  # validation then reports /articles as not a list
    if name == "participants":
        return [dict(zip(("partner_id", "role"), item.rsplit(":", 1), strict=False)) for item in text.split(";")]
    return text.split(";")


def export_records(
    session: Session,
    resources: Sequence[str],
    fmt: Format,
    out: IO[str],
    on_progress: Callable[[int], None] | None = None,
) -> int:
    """Write the live records of `resources` to `out`; return how many were written.

    `on_progress` is called after each batch with the number of records that batch wrote.
    For CSV, open `out` with `newline=""` (the csv module writes its own line ends).
    """
    specs = _specs_for(resources)
    if fmt == "csv":
        if len(specs) != 1:
            raise ValueError(f"A CSV file holds one resource; asked for {', '.join(s.resource for s in specs)}.")
        return _export_csv(session, specs[0], out, on_progress)
    if fmt not in ("json", "ndjson"):
        raise ValueError(f"Unknown format '{fmt}'; choose json, ndjson or csv.")
    total = 0
    if fmt == "json":
        out.write("{")
    for n, spec in enumerate(specs):
        if fmt == "json":
            out.write(("," if n else "") + f"\n{json.dumps(spec.resource)}: [")
        written = 0
        for batch in _live_batches(session, spec):
            for record in batch:
                data = exported(spec, record)
                if fmt == "json":
                    out.write(("," if written else "") + "\n" + json.dumps(data, ensure_ascii=False))
                else:
                    out.write(json.dumps({"type": spec.record_type, "data": data}, ensure_ascii=False) + "\n")
                written += 1
            if on_progress is not None:
                on_progress(len(batch))
        if fmt == "json":
            out.write("\n]" if written else "]")
        total += written
    if fmt == "json":
        out.write("\n}\n")
    return total


def _export_csv(session: Session, spec: _Spec, out: IO[str], on_progress: Callable[[int], None] | None) -> int:
    writer = csv.writer(out)
    writer.writerow(spec.columns)
    written = 0
    for batch in _live_batches(session, spec):
        for record in batch:
            data = exported(spec, record)
            writer.writerow([to_cell(data[name], CELL_FORMS.get(name)) for name in spec.columns])
        written += len(batch)
        if on_progress is not None:
            on_progress(len(batch))
    return written


# --- import: report -------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportProblem:
    """One problem in an import file. `line` is 1-based (NDJSON, CSV, a JSON syntax error);
    `index` is the record's place in a JSON file (`/activities/3`); `pointer` points into the record."""

    line: int | None
    index: str | None
    resource: str | None
    pointer: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else (self.index or "file")
        what = f" {self.resource}" if self.resource else ""
        return f"{where}{what} {self.pointer or '/'}: {self.message}"


@dataclass
class ResourceCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    dry_run: bool = False
    counts: dict[str, ResourceCounts] = field(default_factory=lambda: {r: ResourceCounts() for r in RESOURCES})
    errors: list[ImportProblem] = field(default_factory=list)


class ImportFailed(Exception):
    """The file has problems (all listed in `report.errors`); nothing of it was written."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"{len(report.errors)} problem(s) in the import file; nothing was imported.")
        self.report = report


class _Abort(Exception):
    """Stop: the database refused a write, so the session cannot go on."""


class _NotUtf8(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


# --- import: reading ------------------------------------------------------------------------


@dataclass
class _Source:
    line: int | None
    index: str | None
    spec: _Spec
    data: dict[str, Any]

    def problem(self, pointer: str, message: str) -> ImportProblem:
        return ImportProblem(self.line, self.index, self.spec.resource, pointer, message)

    @property
    def place(self) -> str:
        return f"line {self.line}" if self.line is not None else str(self.index)


class _Reader:
    def __init__(self, path: Path, fmt: Format, resource: _Spec | None, report: ImportReport) -> None:
        self.path, self.fmt, self.resource, self.report = path, fmt, resource, report

    def fail(self, line: int | None, index: str | None, resource: str | None, pointer: str, message: str) -> None:
        self.report.errors.append(ImportProblem(line, index, resource, pointer, message))

    def records(self) -> Iterator[_Source]:
        try:
            readers = {"json": self._json, "ndjson": self._ndjson, "csv": self._csv}
            for source in readers[self.fmt]():
                if self.resource is None or source.spec is self.resource:
                    yield source
        except _NotUtf8 as exc:
            resource = self.resource.resource if self.resource else None
            self.fail(exc.line, None, resource, "", "The file is not UTF-8 text; save it as UTF-8 and import it again.")

    def _unwrap(self, line: int, envelope: Any) -> _Source | None:
        """An NDJSON line: {"type": ..., "data": {...}}."""
        if not isinstance(envelope, dict) or set(envelope) != {"type", "data"}:
            self.fail(line, None, None, "", 'A line must be an object with exactly "type" and "data".')
            return None
        name = envelope["type"]
        spec = BY_TYPE.get(name) if isinstance(name, str) else None
        if spec is None:
            self.fail(line, None, None, "", f'Unknown "type" {name!r}; expected one of {", ".join(BY_TYPE)}.')
            return None
        return self._record(envelope["data"], line, None, spec)

    def _record(self, data: Any, line: int | None, index: str | None, spec: _Spec) -> _Source | None:
        if not isinstance(data, dict):
            self.fail(line, index, spec.resource, "", "A record must be a JSON object.")
            return None
        return _Source(line, index, spec, data)

    def _lines(self, binary: IO[bytes]) -> Iterator[tuple[int, str]]:
        for number, raw in enumerate(binary, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _NotUtf8(number) from None
            yield number, text.removeprefix("\ufeff") if number == 1 else text

    def _ndjson(self) -> Iterator[_Source]:
        with self.path.open("rb") as binary:
            for number, text in self._lines(binary):
                if not text.strip():
                    continue
                try:
                    data = json.loads(text)
                except json.JSONDecodeError as exc:
                    self.fail(number, None, None, "", f"Not valid JSON: {exc.msg} (column {exc.colno}).")
                    continue
                if (source := self._unwrap(number, data)) is not None:
                    yield source

    def _json(self) -> Iterator[_Source]:
        raw = self.path.read_bytes()
        try:
            text = raw.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError as exc:
            raise _NotUtf8(raw[: exc.start].count(b"\n") + 1) from None
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            self.fail(exc.lineno, None, None, "", f"Not valid JSON: {exc.msg} (column {exc.colno}).")
            return
        if not isinstance(document, dict):
            self.fail(None, "", None, "", "The file must hold one JSON object with one list per resource.")
            return
        for key in document:
            if key not in BY_RESOURCE:
                self.fail(None, json_pointer([key]), None, "", f"Unknown resource; expected {', '.join(RESOURCES)}.")
        for spec in SPECS:
            items = document.get(spec.resource)
            if items is None:
                continue
            if not isinstance(items, list):
                self.fail(None, json_pointer([spec.resource]), spec.resource, "", "Must be a list of records.")
                continue
            for i, data in enumerate(items):
                if (source := self._record(data, None, json_pointer([spec.resource, i]), spec)) is not None:
                    yield source

    def _csv(self) -> Iterator[_Source]:
        assert self.resource is not None
        spec = self.resource
        with self.path.open("rb") as binary:
            reader = csv.reader(text for _, text in self._lines(binary))
            try:
                header = next(reader, None)
                if header is None:
                    self.fail(1, None, spec.resource, "", "The file is empty; a CSV file starts with its header row.")
                    return
                start = reader.line_num + 1
                for cells in reader:
                    line, start = start, reader.line_num + 1
                    if not cells:
                        continue
                    if len(cells) != len(header):
                        self.fail(
                            line, None, spec.resource, "", f"{len(cells)} cells, but the header has {len(header)}."
                        )
                        continue
                    data = {name: _from_cell(name, cell) for name, cell in zip(header, cells, strict=True)}
                    if (source := self._record(data, line, None, spec)) is not None:
                        yield source
            except csv.Error as exc:
                self.fail(reader.line_num, None, spec.resource, "", f"Not valid CSV: {exc}.")


# --- import: validating and writing ---------------------------------------------------------


class _ServerFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: uuid.UUID | None = None
    version: int | None = PydanticField(default=None, ge=1)
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None

    @model_validator(mode="after")
    def _updated_after_created(self) -> "_ServerFields":
        if self.created_at and self.updated_at and self.updated_at < self.created_at:
            raise ValueError("updated_at must not be before created_at")
        return self


@dataclass
class _Row:
    source: _Source
    id: uuid.UUID
    data: Any  # the spec's Create model
    server: _ServerFields
    work_plan_id: uuid.UUID | None = None  # activities: their objective's plan

    @property
    def spec(self) -> _Spec:
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
        """The owned lists in the shape `_Link.value` reads them from child rows."""
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


@dataclass(frozen=True)
class _Stored:
    """A record that exists, read as plain column values and owned lists: enough to compare."""

    spec: _Spec
    values: dict[str, Any]
    links: dict[str, list[Any]]


def _read_stored(session: Session, spec: _Spec, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, _Stored]:
    table = _table(spec.table)
    found = {row["id"]: dict(row) for row in session.execute(core_select(table).where(table.c.id.in_(ids))).mappings()}
    links = _read_links(session, spec, list(found)) if found and spec.links else {}
    return {record_id: _Stored(spec, values, links.get(record_id, {})) for record_id, values in found.items()}


def _stored_links(spec: _Spec, record: RecordTable) -> dict[str, list[Any]]:
    return {link.name: [link.value(child) for child in getattr(record, link.relationship)] for link in spec.links}


def _set_links(record: RecordTable, row: _Row) -> None:
    """Replace the owned lists, keeping the child rows whose key stays (no delete-then-insert clash)."""
    data = row.data
    if isinstance(record, Activity):
        countries = {c.country: c for c in record.countries}
        record.countries = [countries.get(code) or ActivityCountry(country=code) for code in data.countries]
        participants = {(p.partner_id, p.role): p for p in record.participants}
        kept = []
        for i, p in enumerate(data.participants):
            key = (p.partner_id, p.role.value)
            child = participants.get(key) or ActivityParticipant(partner_id=p.partner_id, role=p.role.value)
            child.position = i
            kept.append(child)
        record.participants = kept
        links = {g.government_report_id: g for g in record.government_reports}
        record.government_reports = [
            links.get(r) or ActivityGovernmentReport(government_report_id=r) for r in data.government_report_ids
        ]
    elif isinstance(record, GovernmentReport):
        articles = {(a.instrument, a.article): a for a in record.articles}
        kept_articles = []
        for i, a in enumerate(data.articles):
            article = articles.get((a.instrument.value, a.article)) or ReportArticle(
                instrument=a.instrument.value, article=a.article, assessment=a.assessment.value
            )
            article.assessment, article.note, article.position = a.assessment.value, a.note, i
            kept_articles.append(article)
        record.articles = kept_articles
        monitors = {m.partner_id: m for m in record.monitors}
        record.monitors = [monitors.get(p) or ReportMonitor(partner_id=p) for p in data.monitored_by]


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _child_rows(row: _Row) -> list[tuple[Table, list[dict[str, Any]]]]:
    data, record_id = row.data, row.id
    if isinstance(data, ActivityCreate):
        return [
            (_table(ActivityCountry), [{"activity_id": record_id, "country": c} for c in data.countries]),
            (
                _table(ActivityParticipant),
                [
                    {"activity_id": record_id, "partner_id": p.partner_id, "role": p.role.value, "position": i}
                    for i, p in enumerate(data.participants)
                ],
            ),
            (
                _table(ActivityGovernmentReport),
                [{"activity_id": record_id, "government_report_id": r} for r in data.government_report_ids],
            ),
        ]
    if isinstance(data, GovernmentReportCreate):
        articles = [
            {
                "government_report_id": record_id,
                "instrument": a.instrument.value,
                "article": a.article,
                "assessment": a.assessment.value,
                "note": a.note,
                "position": i,
            }
            for i, a in enumerate(data.articles)
        ]
        monitors = [{"government_report_id": record_id, "partner_id": p} for p in data.monitored_by]
        return [(_table(ReportArticle), articles), (_table(ReportMonitor), monitors)]
    return []


def _table(model: type[SQLModel]) -> Table:
    return SQLModel.metadata.tables[str(model.__tablename__)]


def _errors(exc: ValidationError) -> list[tuple[str, str]]:
    return [
        (json_pointer(e["loc"]), str(e["msg"]).removeprefix("Value error, "))
        for e in exc.errors(include_url=False, include_input=False)
    ]


class _Statistics:
    """Keeps PostgreSQL's planner statistics abreast of the tables the import fills.

    The per-chunk look-ups are planned from the statistics, and rows inserted by this transaction
    are invisible to autovacuum until it commits. Statistics that describe an empty or small table
    make PostgreSQL look a unique key up by reading every row of its plan (the `work_plan_id` index,
    `code` as a filter); once psycopg prepares the statement, the generic plan's
    `code IN ($2, ..., $2001)` filter is a linear search, so each chunk costs rows already in the
    table x 2000, and the import grows with the square of the file (a 40k-row chunk look-up: 2.3 s;
    after an ANALYZE: 1.5 ms, by the `code` index). ANALYZE inside the transaction counts its own
    new rows. It is run when a table has received (or shown) STATISTICS_GROWTH times the rows its
    statistics know of, so a handful of times per import, and never for a small import into a
    table whose statistics are sound. SKIP_LOCKED: rather than wait behind another import or
    autovacuum; a table the user does not own is skipped with a warning by PostgreSQL itself.
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.enabled = session.get_bind().dialect.name == "postgresql"
        self.known: dict[str, float] = {}  # resource -> rows its table's statistics count
        self.seen: dict[str, int] = dict.fromkeys(RESOURCES, 0)  # resource -> valid rows of the file so far

    def _reltuples(self, table: Table) -> float:
        statement = text("SELECT reltuples FROM pg_class WHERE oid = CAST(:name AS regclass)")
        return max(float(self.session.execute(statement, {"name": table.name}).scalar_one()), 0.0)

    def after_chunk(self, rows: Iterable[_Row]) -> None:
        """Count a written chunk's rows; ANALYZE the tables that outgrew their statistics."""
        if not self.enabled:
            return
        for row in rows:
            self.seen[row.spec.resource] += 1
        for spec in SPECS:
            seen = self.seen[spec.resource]
            if seen < IMPORT_CHUNK_SIZE:
                continue
            table = _table(spec.table)
            if spec.resource not in self.known:
                # The first full chunk is always analysed: pg_class may count rows that are not
                # there (an ANALYZE inside an import that was rolled back still updates it), so
                # statistics that look large enough may describe none of the table's real rows.
                self.known[spec.resource] = 0.0
            if seen < STATISTICS_GROWTH * self.known[spec.resource]:
                continue
            # The columns the look-ups filter on (all the planner needs here, and far cheaper than
            # every column: the search vector's statistics are the costly ones).
            columns = [(table, ("id", "deleted_at", *spec.key_columns))]
            columns += [(_table(link.model), (link.parent,)) for link in spec.links]
            for each, names in columns:
                self.session.execute(text(f"ANALYZE (SKIP_LOCKED) {each.name} ({', '.join(names)})"))
            # Skipped or not, wait for the table to grow as much again before the next try.
            self.known[spec.resource] = max(self._reltuples(table), float(seen))


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

_Checked = tuple[_Source, _ServerFields | None, Any, list[tuple[str, str]]]


class _Importer:
    def __init__(self, session: Session, report: ImportReport) -> None:
        self.session, self.report = session, report
        self.statistics = _Statistics(session)
        self.failed: dict[str, set[uuid.UUID]] = {r: set() for r in RESOURCES}
        _SEEN_IDS.create(session.connection())

    def close(self) -> None:
        _SEEN_IDS.drop(self.session.connection())

    def _check(self, source: _Source) -> _Checked:
        """The record validated: its server fields and Create model (None if invalid), and its problems."""
        spec, data = source.spec, source.data
        server = {name: data.pop(name) for name in SERVER_FIELDS if name in data}
        for name in spec.derived:
            data.pop(name, None)
        problems: list[tuple[str, str]] = []
        fields = created = None
        try:
            fields = _ServerFields.model_validate(server)
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
        statement = core_select(_SEEN_IDS.c.id, _SEEN_IDS.c.place).where(_SEEN_IDS.c.id.in_(ids))
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

    def import_chunk(self, sources: Sequence[_Source]) -> None:
        checked = [self._check(source) for source in sources]
        self._refuse_repeats(checked)
        rows = []
        for source, fields, created, problems in checked:
            if not problems and fields is not None and created is not None:
                rows.append(_Row(source, fields.id or uuid.uuid4(), created, fields))
                continue
            self.report.errors += [source.problem(pointer, message) for pointer, message in problems]
            if fields is not None and fields.id is not None:
                self.failed[source.spec.resource].add(fields.id)
        if not rows:
            return
        chunk = _Chunk(self, rows)
        for row in rows:
            chunk.stage(row)
        chunk.write()
        self.statistics.after_chunk(rows)


class _Chunk:
    """One chunk of valid rows: everything it needs from the database is read in a few queries."""

    def __init__(self, importer: _Importer, rows: list[_Row]) -> None:
        self.importer, self.session = importer, importer.session
        by_resource: dict[str, list[_Row]] = {r: [] for r in RESOURCES}
        for row in rows:
            by_resource[row.spec.resource].append(row)
        self.existing: dict[uuid.UUID, _Stored] = {}
        for resource, group in by_resource.items():
            if group:
                self.existing.update(_read_stored(self.session, BY_RESOURCE[resource], [row.id for row in group]))
        self.live, self.plans = self._live_references(rows)
        # The plan of each objective defined in this chunk, so that activity keys can be queried up front.
        for row in by_resource["objectives"]:
            self.plans.setdefault(row.id, row.data.work_plan_id)
        for row in by_resource["activities"]:
            row.work_plan_id = self.plans.get(row.data.objective_id)
        self.holders = {r: self._holders(BY_RESOURCE[r], group) for r, group in by_resource.items() if group}
        self.staged: dict[str, set[uuid.UUID]] = {r: set() for r in RESOURCES}
        self.keys: dict[str, dict[tuple[Any, ...], _Row]] = {r: {} for r in RESOURCES}
        self.key_of: dict[uuid.UUID, tuple[Any, ...] | None] = {}
        self.creates: dict[str, list[_Row]] = {r: [] for r in RESOURCES}
        self.updates: dict[str, list[_Row]] = {r: [] for r in RESOURCES}

    def _live_references(self, rows: Iterable[_Row]) -> tuple[dict[str, set[uuid.UUID]], dict[uuid.UUID, uuid.UUID]]:
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

    def _holders(self, spec: _Spec, rows: list[_Row]) -> dict[tuple[Any, ...], uuid.UUID]:
        """The live records that already hold the unique keys these rows want."""
        keys = {key for row in rows if (key := row.key()) is not None}
        if not keys:
            return {}
        table = _table(spec.table)
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
        if ref_id in self.importer.failed[resource]:
            return f"{label.capitalize()} {ref_id} is in this file but could not be imported"
        return f"No {label} with id {ref_id}"

    def _key_problem(self, row: _Row, key: tuple[Any, ...]) -> str | None:
        spec = row.spec
        taken = self.keys[spec.resource].get(key)
        if taken is not None and taken.id != row.id:
            return f"{spec.key_label.format(key[-1])} is already taken (by the record at {taken.source.place})"
        holder = self.holders.get(spec.resource, {}).get(key)
        # A holder that this chunk already moved to another key has let it go.
        if holder is not None and holder != row.id and self.key_of.get(holder, key) == key:
            return f"{spec.key_label.format(key[-1])} is already taken (by {spec.label} {holder})"
        return None

    def stage(self, row: _Row) -> None:
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
            self.importer.report.errors += [row.source.problem(pointer, message) for pointer, message in problems]
            self.importer.failed[resource].add(row.id)
            return
        counts = self.importer.report.counts[resource]
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
    def _differs(stored: _Stored, row: _Row) -> bool:
        if any(stored.values[name] != value for name, value in row.scalars().items()):
            return True
        return stored.links != row.links()

    def write(self) -> None:
        """Per resource in dependency order: its updates, then its new rows and their children."""
        try:
            for spec in SPECS:
                updates = self.updates[spec.resource]
                if updates:
                    # Only records that change are loaded as ORM objects, with their children.
                    statement = select(spec.table).where(col(spec.table.id).in_([row.id for row in updates]))
                    records = {record.id: record for record in self.session.exec(statement)}
                    for row in updates:
                        self._update(records[row.id], row)
                    self.session.flush()
                self._insert(spec, self.creates[spec.resource])
        except DBAPIError as exc:
            message = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            self.importer.report.errors.append(
                ImportProblem(None, None, None, "", f"The database refused the import: {message}")
            )
            raise _Abort from None

    @staticmethod
    def _update(record: RecordTable, row: _Row) -> None:
        old_version = record.version
        links_changed = _stored_links(row.spec, record) != row.links()
        if links_changed:
            _set_links(record, row)
        values = row.scalars() | ({"deleted_at": None} if record.deleted_at is not None else {})
        apply_changes(record, values, children_changed=links_changed)
        version = row.server.version
        if version is not None and version > old_version:
            record.version = version
            if row.server.updated_at is not None:
                record.updated_at = row.server.updated_at

    def _insert(self, spec: _Spec, rows: list[_Row]) -> None:
        if not rows:
            return
        now = utcnow()
        records = []
        children: dict[str, tuple[Table, list[dict[str, Any]]]] = {}
        for row in rows:
            created_at = row.server.created_at or now
            values = {name: _plain(value) for name, value in row.scalars().items()}
            values |= {
                "id": row.id,
                "version": row.server.version or 1,
                "created_at": created_at,
                "updated_at": row.server.updated_at or created_at,
                "deleted_at": None,
            }
            records.append(values)
            for table, child_rows in _child_rows(row):
                children.setdefault(table.name, (table, []))[1].extend(child_rows)
        # Core inserts: the ORM's before_insert hook would overwrite updated_at with created_at.
        self.session.execute(insert(_table(spec.table)), records)
        log_bulk_creates(self.session, _table(spec.table).name, records)
        for table, child_rows in children.values():
            if child_rows:
                self.session.execute(insert(table), child_rows)


def _place_order(problem: ImportProblem) -> tuple[int, int, int]:
    """File order: by line, or for JSON by section (in dependency order) and index."""
    if problem.line is not None or not problem.index:
        return (problem.line or 0, 0, 0)
    _, section, *rest = problem.index.split("/")
    position = RESOURCES.index(section) if section in RESOURCES else -1
    return (0, position, int(rest[0]) if rest and rest[0].isdigit() else -1)


def _chunks(sources: Iterable[_Source], size: int) -> Iterator[list[_Source]]:
    chunk: list[_Source] = []
    for source in sources:
        chunk.append(source)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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
    reader = _Reader(path, fmt, BY_RESOURCE[resource] if resource else None, report)
    savepoint = session.begin_nested()
    try:
        importer = _Importer(session, report)
        for chunk in _chunks(reader.records(), IMPORT_CHUNK_SIZE):
            importer.import_chunk(chunk)
    except _Abort:
        pass
    except BaseException:
        savepoint.rollback()
        raise
    if report.errors or dry_run:
        savepoint.rollback()
        report.errors.sort(key=_place_order)
        if report.errors:
            raise ImportFailed(report)
        return report
    importer.close()
    savepoint.commit()
    return report
