"""schemathesis with every check and every phase (examples, coverage, fuzzing, stateful) against a
live server on each database, with an admin key: no failure of any kind.

`positive_data_acceptance` is narrowed only by tests/api/fuzz_hooks.py, which says why. The run is
derandomized, so it finds the same cases every time; `make fuzz` runs it longer (README, "Tests").
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATABASES, fresh_database_url
from tests.live import live_server

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent
# Cases per operation and phase: enough for a bounded run in `make test`; `make fuzz` asks for more.
EXAMPLES = int(os.environ.get("WORKPLAN_FUZZ_EXAMPLES", "10"))
# Set for a randomized run (a new seed each time, printed); otherwise the run is derandomized.
SEED = os.environ.get("WORKPLAN_FUZZ_SEED")


def schemathesis(
    base: str, key: str, *, examples: int, seed: str | None, cwd: Path
) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        f"--config-file={HERE / 'schemathesis.toml'}",
        "run",
        f"{base}/openapi.json",
        "--checks=all",
        "--phases=examples,coverage,fuzzing,stateful",
        f"--max-examples={examples}",
        "--workers=1",
        "--request-timeout=60",
        "--no-color",
    ]
    # A seed's run is new cases each time it is changed; no seed, the same cases every time.
    command += [f"--seed={seed}", "--generation-database=none"] if seed else ["--generation-deterministic"]
    # The key goes through the environment, not the command line (which `ps` shows).
    env = {**os.environ, "WORKPLAN_FUZZ_HOOKS": str(HERE / "fuzz_hooks.py"), "WORKPLAN_FUZZ_KEY": key}
    # `cwd`: where schemathesis keeps its cache (.schemathesis/), out of the repository.
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=3600, check=False)


@pytest.mark.parametrize("kind", DATABASES)
def test_schemathesis_finds_nothing_with_every_check_and_phase(kind: str, tmp_path: Path) -> None:
    with live_server(fresh_database_url(kind, tmp_path, "_fuzz"), role="admin") as base:
        result = schemathesis(base, base.key, examples=EXAMPLES, seed=SEED, cwd=tmp_path)
    summary = result.stdout[result.stdout.rfind("SUMMARY") :]
    print(summary)  # the cases run, for the record (`pytest -s`)
    assert result.returncode == 0, result.stdout[-30_000:] + result.stderr[-5_000:]
    assert "failures" not in summary.lower() or " 0 failures" in summary, summary
