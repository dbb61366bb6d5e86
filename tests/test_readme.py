"""The README's tour, run as written against a real server on the seeded 2003 plan."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from app.config import Settings
from tests.live import BIN, live_server

README = Path(__file__).resolve().parent.parent / "README.md"


def tour() -> str:
    match = re.search(r"<!-- tour -->\n```sh\n(.*?)```\n<!-- /tour -->", README.read_text(), re.S)
    assert match, "the README has lost its tour"
    return match.group(1)


@pytest.mark.slow
def test_the_readme_tour_works_as_written(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'tour.db'}"
    with live_server(database_url) as base:
        script = tour().replace("http://127.0.0.1:8000", base).replace(".venv/bin/workplan", str(BIN / "workplan"))
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=tmp_path,
            env={**os.environ, "WORKPLAN_DATABASE_URL": database_url},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout
    assert "5  Committee on the Rights of the Child" in output
    assert "SEC-2003-5.1  in_progress  Monitoring of government reports to the Committee" in output
    assert '"name": "ECPAT International"' in output
    assert '"status": "completed"' in output
    assert '"code": "PRECONDITION_FAILED"' in output
    assert '"action": "update"' in output
    assert re.search(r'"status": \[\s*"in_progress",\s*"completed"\s*\]', output), output
    header = (tmp_path / "activities.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.startswith("objective_id,code,title,")


def test_every_setting_is_in_the_readmes_configuration_table() -> None:
    table = README.read_text().partition("## Configuration")[2].partition("\n## ")[0]
    documented = set(re.findall(r"^\| `(WORKPLAN_[A-Z_]+)` \|", table, re.M))
    settings = {f"WORKPLAN_{name.upper()}" for name in Settings.model_fields}
    assert settings - documented == set()
