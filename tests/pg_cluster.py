"""A throwaway PostgreSQL cluster of the test's own, which the test may stop and start at will.

initdb refuses to run as root: as root, the cluster's folder belongs to the `postgres` OS user and
initdb and pg_ctl run as that user (runuser); otherwise they run as the current user.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path


def find_initdb() -> Path | None:
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]) if found else None


def find_runuser() -> str | None:
    """runuser lives in /usr/sbin, which a non-login PATH (cron, CI runners, `env PATH=...`) may lack."""
    return shutil.which("runuser", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, bin_dir: Path, root: Path, port: int, as_postgres: bool) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = port
        self.as_postgres = as_postgres

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, tool: str, *args: str, timeout: float = 60) -> None:
        command = [str(self.bin_dir / tool), *args]
        if self.as_postgres:
            runuser = find_runuser()
            assert runuser is not None, "as root, initdb and pg_ctl need runuser to run as postgres"
            command = [runuser, "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        assert result.returncode == 0, f"{tool} failed:\n{result.stdout}{result.stderr}"

    def init(self) -> None:
        self.run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=200 "
            "-c fsync=off -c full_page_writes=off"
        )
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()


@contextmanager
def cluster() -> Iterator[Cluster]:
    """initdb, start on a free port, yield; always stop it and remove its folder after."""
    initdb = find_initdb()
    assert initdb is not None
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="workplan_faults_pg_"))
    if as_postgres:
        shutil.chown(root, user="postgres", group="postgres")
    pg = Cluster(initdb.parent, root, _free_port(), as_postgres)
    try:
        pg.init()
        pg.start()
        deadline = time.monotonic() + 30
        while not (pg.data / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        yield pg
    finally:
        if pg.running():
            with suppress(AssertionError, subprocess.SubprocessError):
                pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
