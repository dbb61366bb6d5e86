"""What an import reports: the records it created, updated or left, and every problem with its place."""

from dataclasses import dataclass, field

from app.transfer.specs import RESOURCES


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

    def sort_errors(self) -> None:
        """In file order: by line, or for JSON by section (in dependency order) and index."""
        self.errors.sort(key=_place_order)


class ImportFailed(Exception):
    """The file has problems (all listed in `report.errors`); nothing of it was written."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"{len(report.errors)} problem(s) in the import file; nothing was imported.")
        self.report = report


def _place_order(problem: ImportProblem) -> tuple[int, int, int]:
    if problem.line is not None or not problem.index:
        return (problem.line or 0, 0, 0)
    _, section, *rest = problem.index.split("/")
    position = RESOURCES.index(section) if section in RESOURCES else -1
    return (0, position, int(rest[0]) if rest and rest[0].isdigit() else -1)
