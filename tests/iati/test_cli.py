"""`workplan export iati --work-plan CODE`: the endpoint's file, from the command line."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

from app.cli import app
from app.config import get_settings
from app.db import get_engine
from tests.conftest import DATABASES, fresh_database_url
from tests.iati.conftest import ORG_ID, valid

runner = CliRunner()


@pytest.fixture(params=DATABASES)
def seeded(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WORKPLAN_DATABASE_URL", fresh_database_url(request.param, tmp_path, "_iati_cli"))
    get_settings.cache_clear()
    get_engine.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["seed"]).exit_code == 0
    yield
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


def test_the_command_writes_the_seed_plan_as_a_valid_file(
    seeded: None, tmp_path: Path, schema: etree.XMLSchema, publishing: Callable[..., None]
) -> None:
    output = tmp_path / "plan.xml"
    result = runner.invoke(app, ["export", "iati", "--work-plan", "2003", "--output", str(output)])
    assert result.exit_code == 0, result.output
    root = valid(schema, output.read_bytes())
    assert len(root) == 14
    assert root[0].findtext("iati-identifier") == f"{ORG_ID}-SEC-2003-1.1"


def test_the_command_refuses_without_an_organisation_id_or_a_known_plan(
    seeded: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "plan.xml"
    refused = runner.invoke(app, ["export", "iati", "--work-plan", "2003", "--output", str(output)])
    assert refused.exit_code == 1
    assert "WORKPLAN_IATI_ORG_ID" in refused.output
    assert not output.exists()
    monkeypatch.setenv("WORKPLAN_IATI_ORG_ID", ORG_ID)
    get_settings.cache_clear()
    unknown = runner.invoke(app, ["export", "iati", "--work-plan", "1999"])
    assert (unknown.exit_code, unknown.output.strip()) == (1, "No work plan with code 1999.")
    assert runner.invoke(app, ["export", "iati"]).exit_code == 2
    assert runner.invoke(app, ["export", "activities", "--work-plan", "2003"]).exit_code == 2
