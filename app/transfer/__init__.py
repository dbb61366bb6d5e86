"""Export and import of every record: the core of `workplan export` and `workplan import`.

specs (what each record type is to a transfer), formats (json, ndjson, csv: writing and reading),
export, importing (with report, rows, chunk, writes, stored) and statistics (PostgreSQL's planner).
"""

from app.transfer.export import count_records, export_records
from app.transfer.formats import Format
from app.transfer.importing import import_records
from app.transfer.report import ImportFailed, ImportProblem, ImportReport
from app.transfer.specs import RESOURCES

__all__ = [
    "RESOURCES",
    "Format",
    "ImportFailed",
    "ImportProblem",
    "ImportReport",
    "count_records",
    "export_records",
    "import_records",
]
