"""PostgreSQL's planner statistics kept abreast of the tables an import fills."""

from collections.abc import Iterable

from sqlalchemy import Table, text
from sqlmodel import Session

from app.transfer.specs import RESOURCES, SPECS, table_of

STATISTICS_GROWTH = 2  # ANALYZE a table once the import saw this many times the rows its statistics know


class Statistics:
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

    def __init__(self, session: Session, chunk_size: int) -> None:
        self.session, self.chunk_size = session, chunk_size
        self.enabled = session.get_bind().dialect.name == "postgresql"
        self.known: dict[str, float] = {}  # resource -> rows its table's statistics count
        self.seen: dict[str, int] = dict.fromkeys(RESOURCES, 0)  # resource -> valid rows of the file so far

    def _reltuples(self, table: Table) -> float:
        statement = text("SELECT reltuples FROM pg_class WHERE oid = CAST(:name AS regclass)")
        return max(float(self.session.execute(statement, {"name": table.name}).scalar_one()), 0.0)

    def after_chunk(self, resources: Iterable[str]) -> None:
        """Count a written chunk's rows (the resource of each); ANALYZE the tables that outgrew their statistics."""
        if not self.enabled:
            return
        for resource in resources:
            self.seen[resource] += 1
        for spec in SPECS:
            seen = self.seen[spec.resource]
            if seen < self.chunk_size:
                continue
            table = table_of(spec.table)
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
            columns += [(table_of(link.model), (link.parent,)) for link in spec.links]
            for each, names in columns:
                self.session.execute(text(f"ANALYZE (SKIP_LOCKED) {each.name} ({', '.join(names)})"))
            # Skipped or not, wait for the table to grow as much again before the next try.
            self.known[spec.resource] = max(self._reltuples(table), float(seen))
