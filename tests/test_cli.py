"""The `workplan` command, run as a user would, against a fresh database of each kind."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.config import get_settings
from app.db import get_engine
from tests.conftest import DATABASES, fresh_database_url

runner = CliRunner()
COMMANDS = ["serve", "db", "seed", "vocabularies"]


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
