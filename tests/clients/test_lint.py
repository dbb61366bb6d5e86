"""Two OpenAPI linters find no error in /openapi.json (warnings are allowed; see the rulesets)."""

import json
from pathlib import Path

from tests.clients.conftest import HERE, node_tool, run


def test_spectral_oas_rules_find_no_error(openapi_file: Path, tmp_path: Path) -> None:
    report = tmp_path / "spectral.json"
    spectral = node_tool("spectral")
    result = run([spectral, "lint", openapi_file, "--ruleset", HERE / ".spectral.yaml", "-f", "json", "-o", report])
    findings = json.loads(report.read_text())
    assert [
        f"{f['code']} at {'/'.join(map(str, f['path']))}: {f['message']}" for f in findings if f["severity"] == 0
    ] == []
    assert result.returncode == 0, result.stdout + result.stderr


def test_redocly_recommended_rules_find_no_error(openapi_file: Path) -> None:
    redocly = node_tool("redocly")
    result = run([redocly, "lint", openapi_file, "--config", HERE / "redocly.yaml", "--format", "json"])
    report = json.loads(result.stdout)
    errors = [p for p in report["problems"] if p["severity"] == "error"]
    assert [f"{p['ruleId']} at {p['location'][0]['pointer']}: {p['message']}" for p in errors] == []
    assert report["totals"]["errors"] == 0
    assert result.returncode == 0, result.stderr
