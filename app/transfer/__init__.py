"""Export and import of every record: the core of `workplan export` and `workplan import`.

What the rest of the app uses is re-exported here. The modules, one job each:
- specs: what a transfer knows of each record type (table, models, unique key, owned lists)
- formats: json, ndjson and csv, written and read
- export: the live records out, a batch at a time
- importing: a file in, all or nothing, chunk by chunk; with report (what it tells the user),
  rows (a record once validated), chunk (its look-ups and checks), writes (inserts and updates)
  and stored (records as the database holds them, read with Core)
- statistics: PostgreSQL's planner statistics kept abreast during a long import
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
