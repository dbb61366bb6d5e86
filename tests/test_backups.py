"""Backups across databases with the real CLI: `workplan export` from PostgreSQL, `workplan import`
into SQLite, export again: the same data; and from SQLite into a fresh PostgreSQL, row for row.

The data set (tests/transfer) has every resource, every embedded list (participants, countries,
reports of an activity, articles and monitors of a report), private fields, text that looks like
spreadsheet formulas, a changed record (version 2) and deleted records. Exports carry live records
only (app/transfer/export.py), so the deleted ones are checked to be left out on every side.
"""

import os
from pathlib import Path

import pytest
from sqlmodel import Session

from app.db import create_db_engine, write_engine
from tests.conftest import POSTGRES_URL, fresh_database_url, migrate
from tests.live import BIN, workplan
from tests.transfer.test_transfer import build_data_set, live_rows

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(POSTGRES_URL is None, reason="needs PostgreSQL: set WORKPLAN_TEST_POSTGRES_URL"),
]


def cli(url: str, *args: str) -> str:
    env = {**os.environ, "WORKPLAN_DATABASE_URL": url, "PATH": f"{BIN}:{os.environ['PATH']}"}
    return workplan(env, *args)


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_postgresql_to_sqlite_and_back_keeps_every_record(tmp_path: Path, fmt: str) -> None:
    source_url = fresh_database_url("postgresql", tmp_path, "_backup_source")
    source = create_db_engine(source_url, pool_size=1)
    migrate(source)
    with Session(write_engine(source)) as session, session.begin():
        build_data_set(session)

    from_postgres = tmp_path / f"from_postgres.{fmt}"
    cli(source_url, "export", "--format", fmt, "--output", str(from_postgres))
    sqlite_url = fresh_database_url("sqlite", tmp_path, "_backup")
    cli(sqlite_url, "db", "upgrade")
    cli(sqlite_url, "import", str(from_postgres))
    from_sqlite = tmp_path / f"from_sqlite.{fmt}"
    cli(sqlite_url, "export", "--format", fmt, "--output", str(from_sqlite))
    assert from_sqlite.read_text(encoding="utf-8") == from_postgres.read_text(encoding="utf-8")

    target_url = fresh_database_url("postgresql", tmp_path, "_backup_target")
    cli(target_url, "db", "upgrade")
    cli(target_url, "import", str(from_sqlite))
    back = tmp_path / f"back.{fmt}"
    cli(target_url, "export", "--format", fmt, "--output", str(back))
    assert back.read_text(encoding="utf-8") == from_postgres.read_text(encoding="utf-8")

    target = create_db_engine(target_url, pool_size=1)
    try:
        with source.connect() as a, target.connect() as b:
            original, restored = live_rows(a), live_rows(b)
        assert restored == original
        # The data set really has what the backup must carry.
        for table in ("activity_participant", "activity_country", "activity_government_report", "report_article"):
            assert restored[table], table
        assert any(row["notes"] for row in restored["partner"])
        assert any(row["version"] > 1 for row in restored["work_plan"])
        exported = from_postgres.read_text(encoding="utf-8")
        assert "Commission on Human Rights" not in exported  # deleted: not in the backup
    finally:
        source.dispose()
        target.dispose()
