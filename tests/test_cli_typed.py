"""Every `workplan` command as a person types it: no extra flags, in a terminal 80 columns wide.

In-process runs (tests/test_cli.py) pass the flags scripts pass; these go through a pseudo-terminal
in a new process, so the output a person reads (tables, progress bars, tracebacks) is what is
checked: `keys create` without `--quiet` once crashed after making the key, and tables cut ids short.
"""

import fcntl
import os
import pty
import re
import signal
import struct
import termios
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.migrations import head_revision
from app.seed.service import seed_id
from tests.conftest import DATABASES, fresh_database_url
from tests.live import BIN, free_port

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parent.parent / "README.md"
COLUMNS = 80
ACTIVITY = "1536172d-febe-5d66-adf8-2df0226526a4"  # SEC-2003-5.1, as in the README's tour
PARTNER = seed_id("partner", "child-rights-caucus")
KEY = re.compile(r"^wp_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$", re.M)
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


# A partner's IATI file, for `workplan import iati`.
CAUCUS_ACTIVITIES = """<?xml version="1.0" encoding="UTF-8"?>
<iati-activities version="2.03">
 <iati-activity xml:lang="en">
  <iati-identifier>XM-CAUCUS-2027-1</iati-identifier>
  <reporting-org ref="XM-CAUCUS"><narrative>Child Rights Caucus</narrative></reporting-org>
  <title><narrative>Shadow report on Kenya</narrative></title>
  <participating-org role="2"><narrative>Child Rights Caucus</narrative></participating-org>
  <activity-status code="1"/>
  <recipient-country code="KE"/>
 </iati-activity>
</iati-activities>
"""


@dataclass
class Typed:
    command: str
    exit_code: int
    output: str


class Terminal:
    """A shell command run as typed at an 80-column terminal, in a directory of its own."""

    def __init__(self, directory: Path, database_url: str) -> None:
        self.directory = directory
        self.env = {
            **os.environ,
            "WORKPLAN_DATABASE_URL": database_url,
            "PATH": f"{BIN}:{os.environ['PATH']}",
            "TERM": "xterm-256color",
        }
        for name in ("COLUMNS", "LINES", "NO_COLOR", "CI"):  # a person's terminal sets none of them
            self.env.pop(name, None)

    def spawn(self, command: str) -> tuple[int, int]:
        pid, fd = pty.fork()
        if pid == 0:  # the child: becomes the shell
            os.chdir(self.directory)
            os.execvpe("bash", ["bash", "-c", command], self.env)  # noqa: S606 (a shell is the point)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
        return pid, fd

    def run(self, command: str) -> Typed:
        pid, fd = self.spawn(command)
        output = read_all(fd)
        _, status = os.waitpid(pid, 0)
        return Typed(command, os.waitstatus_to_exitcode(status), ESCAPES.sub("", output).replace("\r\n", "\n"))


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the terminal's other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def readable(typed: Typed) -> str:
    """The output, after checking the command succeeded and printed nothing broken or cut short."""
    assert typed.exit_code == 0, f"{typed.command}\n{typed.output}"
    assert "Traceback" not in typed.output, typed.output
    assert "Error" not in typed.output, typed.output
    assert "…" not in typed.output, f"{typed.command} cut a value short:\n{typed.output}"
    return typed.output


@pytest.fixture(params=DATABASES)
def terminal(request: pytest.FixtureRequest, tmp_path: Path) -> Terminal:
    return Terminal(tmp_path, fresh_database_url(request.param, tmp_path, "_typed"))


def readme_commands() -> set[str]:
    """`workplan keys create`, `workplan db upgrade`, ...: every command the README's table lists."""
    table = README.read_text().partition("## The `workplan` command")[2].partition("\n## ")[0]
    commands = set()
    for cell in re.findall(r"^\| `workplan ([^`]+)`", table, re.M):
        words = cell.replace("\\|", "|").split()
        name = words[0]
        if len(words) > 1 and re.fullmatch(r"[a-z]+(\|[a-z]+)*", words[1]):
            commands |= {f"{name} {sub}" for sub in words[1].split("|")}
        else:
            commands.add(name)
    for listed in re.findall(r"`workplan ([a-z]+ [a-z]+)`", table):
        commands.add(listed)
    return commands


def test_every_command_the_readme_lists_works_as_typed(terminal: Terminal) -> None:
    typed: list[str] = []

    def run(command: str) -> str:
        typed.append(command)
        return readable(terminal.run(command))

    run("workplan db upgrade")
    assert f"{head_revision()} (head)" in run("workplan db current")
    assert "agree" in run("workplan db check")
    assert "31 created" in run("workplan seed")
    assert "31 unchanged" in run("workplan seed")
    assert "activity_status" in run("workplan vocabularies")

    made = run("workplan keys create --name coordinator --role editor")
    assert "Keep it now" in made
    editor = KEY.search(made)
    assert editor is not None, made
    admin = KEY.search(run('workplan keys create --name "tour admin" --role admin'))
    assert admin is not None
    partner = run(f'workplan keys create --name "ECPAT sync" --role partner --partner {PARTNER} --expires 2027-12-31')
    assert KEY.search(partner) is not None, partner
    listed = run("workplan keys list")
    key_id = editor.group(0)[3:15]
    assert key_id in listed
    assert listed.count("live") == 3
    assert f"Key {key_id} revoked" in run(f"workplan keys revoke {key_id}")
    assert "revoked" in run("workplan keys list")

    history = run(f"workplan audit --record {ACTIVITY}")
    assert f"activity {ACTIVITY}\n  create by seed at " in history
    assert "code: None -> 'SEC-2003-5.1'" in history

    assert "records written to backup.ndjson" in run("workplan export --format ndjson --output backup.ndjson")
    assert "written to activities.csv" in run("workplan export activities --format csv --output activities.csv")
    refused = terminal.run("workplan export iati --work-plan 2003 --output iati.xml")
    assert (refused.exit_code, "WORKPLAN_IATI_ORG_ID" in refused.output) == (1, True), refused.output
    terminal.env["WORKPLAN_IATI_ORG_ID"] = "XM-DAC-00000"
    assert "written to iati.xml as IATI 2.03" in run("workplan export iati --work-plan 2003 --output iati.xml")
    assert "dry run" in run("workplan import backup.ndjson --dry-run")
    assert "imported" in run("workplan import backup.ndjson")
    (terminal.directory / "caucus.xml").write_text(CAUCUS_ACTIVITIES, encoding="utf-8")
    iati = 'workplan import iati caucus.xml --objective 2003/5 --partner "Child Rights Caucus"'
    assert "dry run" in run(f"{iati} --dry-run")
    assert "│ 1       │ 0       │ 0" in run(iati)
    assert "idempotency_key" in run("workplan purge-tombstones")
    # Without --once it delivers until stopped, as `serve` serves: --once delivers what is due (nothing).
    assert "0 subscription turns delivered" in run("workplan webhooks run --once")

    assert "Synthetic demo data" in run("workplan demo")
    assert "overdue report(s)." in run("workplan reports overdue --as-of 2003-01-01")
    assert "overdue report(s)." in run("workplan reports overdue")
    assert "Deleted" in run("workplan demo --remove")
    run("workplan db downgrade base")
    assert "agree" not in terminal.run("workplan db check").output

    tried = {" ".join(command.split()[1:3]) for command in typed} | {command.split()[1] for command in typed}
    assert readme_commands() - tried == {"serve"}  # served in its own test below


def test_a_refused_key_says_why_and_names_the_value(terminal: Terminal) -> None:
    readable(terminal.run("workplan db upgrade"))
    missing = "00000000-0000-4000-8000-000000000000"
    refused = terminal.run(f"workplan keys create --name x --role partner --partner {missing}")
    assert refused.exit_code == 1
    assert f"/partner_id: No partner with id {missing}." in " ".join(refused.output.split())
    assert "Traceback" not in refused.output
    assert "live" not in readable(terminal.run("workplan keys list"))


def test_serve_as_typed_answers_and_stops_on_ctrl_c(terminal: Terminal) -> None:
    readable(terminal.run("workplan db upgrade && workplan seed"))
    port = free_port()
    pid, fd = terminal.spawn(f"exec workplan serve --port {port}")
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/v1/activities/{ACTIVITY}").json()["code"] == "SEC-2003-5.1"
    finally:
        os.killpg(pid, signal.SIGINT)  # what Ctrl-C sends: to the terminal's foreground process group
        output = read_all(fd)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert "Traceback" not in output
    assert f"Uvicorn running on http://127.0.0.1:{port}" in output
