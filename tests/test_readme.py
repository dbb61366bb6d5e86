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


def readme_commands() -> list[str]:
    """Each command of the README's shell blocks as a person would type it: one per logical line."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S):
        for command in re.sub(r"\\\n\s*", " ", block).splitlines():
            command = command.split("  #")[0].strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def program(command: str) -> str:
    """The program a command line starts: past `VAR=value` prefixes and into `$(...)`."""
    words = re.sub(r"^[A-Za-z_]+=\$\(", "", command.removeprefix("export ")).split()
    while words and re.fullmatch(r"[A-Za-z_]+=\S*", words[0]):
        words = words[1:]
    return words[0] if words else "export"  # an assignment alone


# What a machine with the README's prerequisites has; the rest must come from `make run`'s .venv.
# `workplan` alone is the installed command of the Production and Docker sections.
SYSTEM_PROGRAMS = {"make", "curl", "createdb", "export", "docker", "workplan"}


def test_every_readme_command_starts_a_program_the_setup_provides() -> None:
    """The system python3 lacks the project's packages and uv may not be on PATH: the README runs
    Python through `.venv/bin/`, which `make run` and `make test` create."""
    for command in readme_commands():
        name = program(command)
        if name.startswith(".venv/bin/"):
            assert (BIN / name.removeprefix(".venv/bin/")).exists(), command
        else:
            assert name in SYSTEM_PROGRAMS, f"{command!r} needs {name!r}, which a fresh machine may lack"


def test_the_readmes_python_commands_run_in_the_projects_environment() -> None:
    root = README.parent
    python_commands = [c for c in readme_commands() if program(c) == ".venv/bin/python"]
    assert python_commands, "the README runs no example"
    for command in python_commands:
        words = command.split()
        while re.fullmatch(r"[A-Za-z_]+=\S*", words[0]):  # `WEBHOOK_SECRET=... .venv/bin/python ...`
            words = words[1:]
        target = [*words[1:3]] if words[1] == "-m" else [words[1]]
        result = subprocess.run(
            [str(BIN / "python"), *target, "--help"], cwd=root, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        assert "usage" in result.stdout.lower(), command
