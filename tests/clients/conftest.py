"""The document the client tests generate from, and the Node tools they run.

The tools are pinned in package-lock.json beside this file; `make test` installs them
(`make clients`: npm ci). Without them these tests skip, saying why, except in CI, where they fail.
"""

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.main import app

HERE = Path(__file__).parent
NODE_MODULES = HERE / "node_modules"
# Redocly's CLI would otherwise send usage data and look for a newer version of itself.
NODE_ENV = {**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}


@pytest.fixture(scope="session")
def openapi_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """/openapi.json as the service serves it."""
    path = tmp_path_factory.mktemp("openapi") / "openapi.json"
    path.write_text(json.dumps(app.openapi()))
    return path


def node_tool(name: str) -> Path:
    """A tool of tests/clients/package.json, or a skip (a failure in CI) that says how to get it."""
    path = NODE_MODULES / ".bin" / name
    if shutil.which("node") and path.exists():
        return path
    reason = f"no {name}: `make clients` installs the pinned Node tools (npm ci in tests/clients, needs node and npm)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the generated-client and lint tests, but there is {reason}")
    pytest.skip(reason)


def run(command: Sequence[str | Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=NODE_ENV,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
