"""The three file formats: writing exported records, and reading an import file's records with their places.

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
"""

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from app.csv_cells import from_cell, to_cell
from app.errors import json_pointer
from app.transfer.report import ImportProblem, ImportReport
from app.transfer.specs import BY_RESOURCE, BY_TYPE, CELL_FORMS, RESOURCES, SPECS, Spec

Format = Literal["json", "ndjson", "csv"]
EXTENSIONS: dict[str, Format] = {".json": "json", ".ndjson": "ndjson", ".jsonl": "ndjson", ".csv": "csv"}

Batches = Iterable[list[dict[str, Any]]]  # stored records' values, a batch at a time
Progress = Callable[[int], None] | None  # called after each batch with the number of records it wrote


# --- writing ---------------------------------------------------------------------------------


def write_json(out: IO[str], sections: Iterable[tuple[Spec, Batches]], on_progress: Progress) -> int:
    total = 0
    out.write("{")
    for n, (spec, batches) in enumerate(sections):
        out.write(("," if n else "") + f"\n{json.dumps(spec.resource)}: [")
        written = 0
        for batch in batches:
            for record in batch:
                out.write(("," if written else "") + "\n" + json.dumps(spec.exported(record), ensure_ascii=False))
                written += 1
            if on_progress is not None:
                on_progress(len(batch))
        out.write("\n]" if written else "]")
        total += written
    out.write("\n}\n")
    return total


def write_ndjson(out: IO[str], sections: Iterable[tuple[Spec, Batches]], on_progress: Progress) -> int:
    total = 0
    for spec, batches in sections:
        for batch in batches:
            for record in batch:
                data = spec.exported(record)
                out.write(json.dumps({"type": spec.record_type, "data": data}, ensure_ascii=False) + "\n")
            total += len(batch)
            if on_progress is not None:
                on_progress(len(batch))
    return total


def write_csv(out: IO[str], spec: Spec, batches: Batches, on_progress: Progress) -> int:
    writer = csv.writer(out)
    writer.writerow(spec.columns)
    written = 0
    for batch in batches:
        for record in batch:
            data = spec.exported(record)
            writer.writerow([to_cell(data[name], CELL_FORMS.get(name)) for name in spec.columns])
        written += len(batch)
        if on_progress is not None:
            on_progress(len(batch))
    return written


# --- reading ---------------------------------------------------------------------------------


@dataclass
class Source:
    """One record of an import file, as read, with its place in the file."""

    line: int | None
    index: str | None
    spec: Spec
    data: dict[str, Any]

    def problem(self, pointer: str, message: str) -> ImportProblem:
        return ImportProblem(self.line, self.index, self.spec.resource, pointer, message)

    @property
    def place(self) -> str:
        return f"line {self.line}" if self.line is not None else str(self.index)


class _NotUtf8(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(line)
        self.line = line


class Reader:
    """The records of an import file, one at a time; what cannot be read goes to the report."""

    def __init__(self, path: Path, fmt: Format, resource: Spec | None, report: ImportReport) -> None:
        self.path, self.fmt, self.resource, self.report = path, fmt, resource, report

    def fail(self, line: int | None, index: str | None, resource: str | None, pointer: str, message: str) -> None:
        self.report.errors.append(ImportProblem(line, index, resource, pointer, message))

    def records(self) -> Iterator[Source]:
        try:
            readers = {"json": self._json, "ndjson": self._ndjson, "csv": self._csv}
            for source in readers[self.fmt]():
                if self.resource is None or source.spec is self.resource:
                    yield source
        except _NotUtf8 as exc:
            resource = self.resource.resource if self.resource else None
            self.fail(exc.line, None, resource, "", "The file is not UTF-8 text; save it as UTF-8 and import it again.")

    def _unwrap(self, line: int, envelope: Any) -> Source | None:
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

    def _record(self, data: Any, line: int | None, index: str | None, spec: Spec) -> Source | None:
        if not isinstance(data, dict):
            self.fail(line, index, spec.resource, "", "A record must be a JSON object.")
            return None
        return Source(line, index, spec, data)

    def _lines(self, binary: IO[bytes]) -> Iterator[tuple[int, str]]:
        for number, raw in enumerate(binary, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise _NotUtf8(number) from None
            yield number, text.removeprefix("\ufeff") if number == 1 else text

    def _ndjson(self) -> Iterator[Source]:
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

    def _json(self) -> Iterator[Source]:
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

    def _csv(self) -> Iterator[Source]:
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
                    data = {
                        name: from_cell(cell, CELL_FORMS.get(name)) for name, cell in zip(header, cells, strict=True)
                    }
                    if (source := self._record(data, line, None, spec)) is not None:
                        yield source
            except csv.Error as exc:
                self.fail(reader.line_num, None, spec.resource, "", f"Not valid CSV: {exc}.")
