"""The `workplan` command, run as a user would, against a fresh database of each kind."""

import ast
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession
from typer.testing import CliRunner

from app.access import audit
from app.access.keys import KEY_PATTERN
from app.cli import app
from app.config import get_settings
from app.db import get_engine
from tests.conftest import DATABASES, fresh_database_url
from tests.live import BIN

runner = CliRunner()
COMMANDS = [
    "serve", "db", "seed", "export", "import", "vocabularies", "keys", "audit", "purge-tombstones", "reports", "demo",
    "webhooks",
]  # fmt: skip


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = fresh_database_url(request.param, tmp_path, "_cli")
    monkeypatch.setenv("WORKPLAN_DATABASE_URL", url)
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield url
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


def test_every_command_explains_itself() -> None:
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    for name in COMMANDS:
        assert name in top.output
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, result.output
        assert "Usage" in result.output
    for name in ["upgrade", "downgrade", "current", "check"]:
        assert runner.invoke(app, ["db", name, "--help"]).exit_code == 0


def test_db_upgrade_current_check_downgrade(database: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    current = runner.invoke(app, ["db", "current"])
    assert current.exit_code == 0
    check = runner.invoke(app, ["db", "check"])
    assert check.exit_code == 0, check.output
    assert "agree" in check.output
    assert runner.invoke(app, ["db", "downgrade", "base"]).exit_code == 0
    assert runner.invoke(app, ["db", "upgrade", "head"]).exit_code == 0


def test_seed_loads_the_plan_once(database: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    first = runner.invoke(app, ["seed"])
    assert first.exit_code == 0, first.output
    assert "31 created, 0 updated, 0 unchanged" in first.output
    second = runner.invoke(app, ["seed"])
    assert "0 created, 0 updated, 31 unchanged" in second.output


def test_vocabularies_prints_every_vocabulary() -> None:
    result = runner.invoke(app, ["vocabularies"])
    assert result.exit_code == 0
    for name in ["activity_status", "participant_role", "instrument", "article", "focal_point", "OPSC"]:
        assert name in result.output


def _export(fmt: str, path: Path, *resources: str) -> str:
    result = runner.invoke(app, ["export", *resources, "--format", fmt, "--output", str(path)])
    assert result.exit_code == 0, result.output
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_an_export_imported_into_an_empty_database_reproduces_it(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["seed"]).exit_code == 0
    first = _export(fmt, tmp_path / f"first.{fmt}")

    kind = "sqlite" if database.startswith("sqlite") else "postgresql"
    monkeypatch.setenv("WORKPLAN_DATABASE_URL", fresh_database_url(kind, tmp_path, "_cli_restore"))
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    imported = runner.invoke(app, ["import", str(tmp_path / f"first.{fmt}")])
    assert imported.exit_code == 0, imported.output
    assert _export(fmt, tmp_path / f"second.{fmt}") == first


def test_a_bad_import_names_every_problem_and_writes_nothing(database: str, tmp_path: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["seed"]).exit_code == 0
    before = _export("ndjson", tmp_path / "before.ndjson")
    lines = before.splitlines()
    broken = [
        *lines,
        '{"type": "partner", "data": {"name": "ECPAT International", "kind": "charity"}}',
        "{not json",
    ]
    (tmp_path / "broken.ndjson").write_text("\n".join(broken) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(tmp_path / "broken.ndjson")])
    assert result.exit_code == 1
    assert f"line {len(lines) + 1} partners /kind" in result.output
    assert f"line {len(lines) + 2}" in result.output
    assert "nothing was imported" in result.output
    assert _export("ndjson", tmp_path / "after.ndjson") == before


def test_csv_export_of_several_resources_is_refused_clearly(database: str, tmp_path: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(app, ["export", "partners", "activities", "--format", "csv", "-o", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    unknown = runner.invoke(app, ["export", "colours"])
    assert unknown.exit_code == 2
    assert "Unknown resource colours" in unknown.output


def test_an_import_killed_midway_leaves_the_database_as_it_was(database: str, tmp_path: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["seed"]).exit_code == 0
    before = _export("ndjson", tmp_path / "before.ndjson")
    objective = "de576537-25ea-5ba0-9148-3733718f059c"
    big = tmp_path / "big.ndjson"
    with big.open("w", encoding="utf-8") as f:
        for n in range(40_000):
            record = {"objective_id": objective, "code": f"BULK-{n}", "title": f"Bulk {n}", "type": "meeting"}
            f.write(json.dumps({"type": "activity", "data": record}) + "\n")
    env = {**os.environ, "WORKPLAN_DATABASE_URL": database}
    process = subprocess.Popen([str(BIN / "workplan"), "import", str(big)], env=env)
    time.sleep(2.5)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL, "the import finished before it could be killed"
    assert _export("ndjson", tmp_path / "after.ndjson") == before


def test_keys_are_made_listed_and_revoked_and_the_audit_names_them(database: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["seed"]).exit_code == 0
    made = runner.invoke(app, ["keys", "create", "--name", "coordinator", "--role", "editor", "--quiet"])
    assert made.exit_code == 0, made.output
    key = made.output.strip()
    match = KEY_PATTERN.match(key)
    assert match is not None, key
    key_id = match.group(1)
    listed = runner.invoke(app, ["keys", "list"])
    assert key_id in listed.output
    assert "live" in listed.output
    assert match.group(2) not in listed.output

    refused = runner.invoke(app, ["keys", "create", "--name", "p", "--role", "partner"])
    assert refused.exit_code == 1
    assert "partner_id is required" in refused.output

    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["keys", "list"]).output
    assert runner.invoke(app, ["keys", "revoke", "000000000000"]).exit_code == 1

    audit = runner.invoke(app, ["audit", "--type", "work_plan", "--limit", "1"], env={"COLUMNS": "300"})
    assert audit.exit_code == 0, audit.output
    assert "seed" in audit.output
    assert "create" in audit.output


def test_demo_makes_labelled_records_once_and_reports_overdue_prints_them(database: str) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    made = runner.invoke(app, ["demo", "--countries", "4"])
    assert made.exit_code == 0, made.output
    assert "Synthetic demo data" in made.output
    again = runner.invoke(app, ["demo", "--countries", "4"])
    assert again.exit_code == 1
    assert "--replace" in again.output
    overdue = runner.invoke(app, ["reports", "overdue", "--as-of", "2003-01-01"], terminal_width=200)
    assert overdue.exit_code == 0, overdue.output
    assert "Overdue as of 2003-01-01" in overdue.output
    assert "overdue report(s)." in overdue.output
    assert runner.invoke(app, ["reports", "overdue", "--as-of", "2003-02-30"]).exit_code == 2
    last = runner.invoke(app, ["reports", "overdue", "--as-of", "9999-12-31"], terminal_width=200)
    assert last.exit_code == 0, last.output  # five years on from it would not be a date
    assert "Overdue as of 9999-12-31" in last.output
    replaced = runner.invoke(app, ["demo", "--countries", "4", "--replace"])
    assert replaced.exit_code == 0, replaced.output
    removed = runner.invoke(app, ["demo", "--remove"])
    assert removed.exit_code == 0
    overdue = runner.invoke(app, ["reports", "overdue"])
    assert "0 overdue report(s)." in overdue.output


def _fresh_interpreter(script: str, tmp_path: Path, *, migrate: bool = False) -> str:
    """What `script` prints, run by a new Python process on a SQLite database of its own."""
    env = {**os.environ, "WORKPLAN_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    if migrate:
        upgrade = subprocess.run([str(BIN / "workplan"), "db", "upgrade"], env=env, capture_output=True, text=True)
        assert upgrade.returncode == 0, upgrade.stderr
    result = subprocess.run([str(BIN / "python"), "-c", script], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_sqlite_server_loads_neither_psycopg_nor_asyncio_sqlalchemy_nor_icalendar(tmp_path: Path) -> None:
    """Every module a worker imports stays in its memory, under the 150 MB an export may peak at
    (bench/README.md): the PostgreSQL driver, SQLAlchemy's asyncio engine (for PostgreSQL's reads
    on the event loop) and the iCalendar library load only where needed."""
    script = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from app.main import app\n"
        "with TestClient(app) as client:\n"
        "    assert client.get('/v1/activities').status_code == 200\n"
        "print(sorted(name for name in ('psycopg', 'sqlalchemy.ext.asyncio', 'greenlet', 'icalendar')"
        " if name in sys.modules))\n"
    )
    assert _fresh_interpreter(script, tmp_path, migrate=True).strip() == "[]"


def test_a_server_freezes_what_it_imported_and_collects_garbage_less_often(tmp_path: Path) -> None:
    """Full collections walked the whole imported heap every few hundred requests (bench/README.md)."""
    script = (
        "import gc\n"
        "from fastapi.testclient import TestClient\n"
        "from app.main import app\n"
        "before = gc.get_freeze_count(), gc.get_threshold()[0]\n"
        "with TestClient(app) as client:\n"
        "    assert client.get('/healthz').status_code == 200\n"
        "    print((before, (gc.get_freeze_count(), gc.get_threshold()[0])))\n"
    )
    (frozen_before, threshold_before), (frozen, threshold) = ast.literal_eval(_fresh_interpreter(script, tmp_path))
    assert (frozen_before, threshold_before) == (0, 700)  # Python's defaults, until the app starts
    assert frozen > 100_000  # the modules, models and routes imported
    assert threshold > threshold_before


def test_the_command_line_registers_the_audit_log_itself(database: str) -> None:
    """As in a process that never made the app: the command's own sessions register the hooks."""
    for name, hook in audit.HOOKS:
        event.remove(OrmSession, name, hook)
    try:
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        assert runner.invoke(app, ["seed"]).exit_code == 0
        logged = runner.invoke(app, ["audit", "--type", "work_plan", "--limit", "1"], env={"COLUMNS": "300"})
        assert logged.exit_code == 0, logged.output
        assert "seed" in logged.output
        assert "create" in logged.output
    finally:
        audit.register()
