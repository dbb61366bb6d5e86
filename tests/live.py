"""A real `workplan serve` process on a free port, for tests that go through a socket."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def workplan(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [str(BIN / "workplan"), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


class Live(str):
    """The base URL of a live server, with a key (an editor's, unless asked) for the writes of a test."""

    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@contextmanager
def live_server(
    database_url: str, *, workers: int = 1, seed: bool = True, role: str = "editor", serve: tuple[str, ...] = ()
) -> Iterator[Live]:
    """Migrate (and seed) the database, serve it (`serve`: more options of `workplan serve`), and
    yield the base URL with a key of `role`; stop the server after."""
    env = {**os.environ, "WORKPLAN_DATABASE_URL": database_url, "PATH": f"{BIN}:{os.environ['PATH']}"}
    workplan(env, "db", "upgrade")
    if seed:
        workplan(env, "seed")
    key = workplan(env, "keys", "create", "--name", "tests", "--role", role, "--quiet").strip()
    port = free_port()
    # Server output goes to a file, not a pipe: a full pipe would stall the server.
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            [str(BIN / "workplan"), "serve", "--port", str(port), "--workers", str(workers), *serve],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        base = Live(f"http://127.0.0.1:{port}")
        base.key = key
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    log.seek(0)
                    raise RuntimeError(f"the server did not start:\n{log.read()}")
                time.sleep(0.1)
            yield base
        finally:
            process.terminate()
            # A guard against a hang, beyond the server's own bound (30 s to finish its requests) and
            # what a busy machine adds to it.
            process.wait(timeout=120)
