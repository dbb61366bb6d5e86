"""Full-text search, and an index for every filter and sort the lists offer.

SQLite: an external-content FTS5 table per searchable record table (`<table>_fts`), keyed by
the record's rowid and kept in step by triggers, so every write path (API, import, seed, raw
SQL) updates it. Title-like columns weigh ten times more in bm25. A later migration that
rebuilds one of these tables in batch mode drops its triggers and renumbers its rowids: it must
recreate the triggers and run `INSERT INTO <table>_fts(<table>_fts) VALUES ('rebuild')`.

PostgreSQL: a stored generated `search_vector` column (title-like text weight A, the rest B)
with a GIN index. Both use whole words without stemming (FTS5 unicode61, PostgreSQL 'simple').

These objects are not in the SQLModel metadata; migrations/env.py leaves them out of
`alembic check`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 19:55:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> (heavy columns, light columns)
SEARCHABLE = {
    "activity": (["title"], ["description"]),
    "objective": (["title"], ["description"]),
    "partner": (["name", "acronym", "mandate_holder"], ["description"]),
    "government_report": (["symbol", "concluding_observations_symbol"], ["analysis"]),
}

INDEXES = {
    "activity": [
        ("code",),
        ("title",),
        ("type",),
        ("level",),
        ("work_plan_id", "updated_at"),
        ("planned_start",),
        ("planned_end",),
        ("actual_start",),
        ("actual_end",),
        ("created_at",),
    ],
    "activity_participant": [("partner_id", "role")],
    "objective": [("code",), ("title",), ("created_at",)],
    "partner": [("active_from",), ("active_to",), ("country",), ("created_at",)],
    "government_report": [
        ("status",),
        ("instrument",),
        ("committee_session",),
        ("submitted_date",),
        ("review_date",),
        ("concluding_observations_date",),
        ("created_at",),
    ],
    "work_plan": [("title",), ("status",), ("period_start",), ("period_end",), ("created_at",)],
}


def _index_name(table: str, columns: tuple[str, ...]) -> str:
    return f"ix_{table}_{'_'.join(columns)}"


def upgrade() -> None:
    for table, column_sets in INDEXES.items():
        for columns in column_sets:
            op.create_index(_index_name(table, columns), table, list(columns))
    if op.get_bind().dialect.name == "sqlite":
        for table, (heavy, light) in SEARCHABLE.items():
            columns = heavy + light
            names = ", ".join(columns)
            new = ", ".join(f"new.{c}" for c in columns)
            old = ", ".join(f"old.{c}" for c in columns)
            fts = f"{table}_fts"
            op.execute(
                f"CREATE VIRTUAL TABLE {fts} USING fts5({names}, content='{table}', content_rowid='rowid', "
                "tokenize='unicode61 remove_diacritics 0')"
            )
            op.execute(
                f"CREATE TRIGGER {fts}_insert AFTER INSERT ON {table} BEGIN "
                f"INSERT INTO {fts}(rowid, {names}) VALUES (new.rowid, {new}); END"
            )
            op.execute(
                f"CREATE TRIGGER {fts}_delete AFTER DELETE ON {table} BEGIN "
                f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.rowid, {old}); END"
            )
            op.execute(
                f"CREATE TRIGGER {fts}_update AFTER UPDATE OF {names} ON {table} BEGIN "
                f"INSERT INTO {fts}({fts}, rowid, {names}) VALUES ('delete', old.rowid, {old}); "
                f"INSERT INTO {fts}(rowid, {names}) VALUES (new.rowid, {new}); END"
            )
            op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")
            weights = ", ".join(["10.0"] * len(heavy) + ["1.0"] * len(light))
            op.execute(f"INSERT INTO {fts}({fts}, rank) VALUES ('rank', 'bm25({weights})')")
    else:
        for table, (heavy, light) in SEARCHABLE.items():
            parts = [f"setweight(to_tsvector('simple', coalesce({c}, '')), 'A')" for c in heavy]
            parts += [f"setweight(to_tsvector('simple', coalesce({c}, '')), 'B')" for c in light]
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN search_vector tsvector "
                f"GENERATED ALWAYS AS ({' || '.join(parts)}) STORED"
            )
            op.execute(f"CREATE INDEX ix_{table}_search_vector ON {table} USING gin (search_vector)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in SEARCHABLE:
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER {table}_fts_{event}")
            op.execute(f"DROP TABLE {table}_fts")
    else:
        for table in SEARCHABLE:
            op.execute(f"DROP INDEX ix_{table}_search_vector")
            op.execute(f"ALTER TABLE {table} DROP COLUMN search_vector")
    for table, column_sets in INDEXES.items():
        for columns in column_sets:
            op.drop_index(_index_name(table, columns), table)
