"""The CSV export opened in a real spreadsheet: LibreOffice Calc, headless, with the import settings
the README gives (UTF-8, comma, `"`), then saved back as CSV to read what Calc holds in each cell.

`make test` installs Calc where it can (`make spreadsheet`); without it these tests skip, except in
CI, where they must run.
"""

import csv
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import make_activity, make_objective

pytestmark = pytest.mark.slow

# Calc's CSV filter options: separator 44 (,), text delimiter 34 ("), character set 76 (UTF-8),
# first line 1: the README's Text Import settings. Formulas in cells are evaluated, as Calc does.
UTF8_CSV = "CSV:44,34,76,1"
LETTERS = "C\u00f4te d\u2019Ivoire \u2014 Ni\u00f1o, S\u00e3o Tom\u00e9, \u0395\u03bb\u03bb\u03ac\u03b4\u03b1"
HOSTILE = ["=1+1", "+41 22 917 9000", "-5", "@SUM(A1)", '=HYPERLINK("http://example.org","x")']


def soffice() -> str:
    path = shutil.which("soffice")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("LibreOffice (soffice) is missing: CI must open the CSV in a real spreadsheet")
        pytest.skip("LibreOffice (soffice) not found: `make spreadsheet` installs it (as root, with apt-get)")
    return path


def open_in_calc(csv_file: Path, tmp_path: Path) -> list[list[str]]:
    """The cells Calc shows after opening `csv_file` with the README's settings."""
    out = tmp_path / "calc"
    result = subprocess.run(
        [
            soffice(),
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            f"--infilter={UTF8_CSV}",
            "--convert-to",
            f"csv:Text - txt - csv (StarCalc):{UTF8_CSV.removeprefix('CSV:')}",
            "--outdir",
            str(out),
            str(csv_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with (out / csv_file.name).open(encoding="utf-8", newline="") as saved:
        return list(csv.reader(saved))


def test_calc_reads_every_letter_and_runs_no_formula_of_the_csv(
    client: TestClient, session: Session, tmp_path: Path
) -> None:
    objective = make_objective(session)
    for n, text in enumerate(HOSTILE):
        make_activity(session, objective_id=objective.id, code=f"CSV-{n}", title=text)
    make_activity(session, objective_id=objective.id, code="CSV-9", title=LETTERS)
    response = client.get("/v1/activities", params={"format": "csv", "objective_id": str(objective.id)})
    assert response.status_code == 200
    exported = tmp_path / "activities.csv"
    exported.write_bytes(response.content)

    sent = list(csv.reader(response.text.splitlines()))
    cells = open_in_calc(exported, tmp_path)
    title = sent[0].index("title")
    assert [row[title] for row in cells] == [row[title] for row in sent]
    assert sorted(row[title] for row in cells[1:]) == sorted([LETTERS, *(f"'{text}" for text in HOSTILE)])


def test_calc_would_run_a_formula_the_service_did_not_guard(tmp_path: Path) -> None:
    """The check above can fail: the same cell without the service's `'` is a formula to Calc."""
    unguarded = tmp_path / "unguarded.csv"
    unguarded.write_text("title\r\n=1+1\r\n", encoding="utf-8")
    assert open_in_calc(unguarded, tmp_path) == [["title"], ["2"]]
