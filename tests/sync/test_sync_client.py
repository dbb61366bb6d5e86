"""examples/sync_client.py mirrors a live server exactly, across restarts, changes and a 410."""

import threading
import uuid
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from app.db import create_db_engine, write_engine
from app.models.writes import SyncState
from tests.conftest import DATABASES, fresh_database_url
from tests.live import Live, live_server
from tests.sync.conftest import load_example, served

OBJECTIVE_5 = "de576537-25ea-5ba0-9148-3733718f059c"


def churn(base: Live, stop: threading.Event) -> None:
    with httpx.Client(base_url=base, headers=base.headers, timeout=60) as client:
        n = 0
        while not stop.is_set():
            n += 1
            body = {"objective_id": OBJECTIVE_5, "code": f"MIRROR-{n}", "title": f"Mirror {n}", "type": "meeting"}
            created = client.post("/v1/activities", json=body).json()
            client.patch(f"/v1/activities/{created['id']}", json={"status": "completed"})
            if n % 3 == 0:
                client.delete(f"/v1/activities/{created['id']}")


@pytest.mark.slow
@pytest.mark.parametrize("kind", DATABASES)
def test_the_example_client_mirrors_the_seed_and_a_live_stream_of_changes(kind: str, tmp_path: Path) -> None:
    sync_client = load_example()
    url = fresh_database_url(kind, tmp_path, "_mirror")
    mirror_path = str(tmp_path / "mirror.db")
    with live_server(url) as base, httpx.Client(base_url=base, headers=base.headers, timeout=60) as client:
        mirror = sync_client.Mirror(mirror_path)
        sync_client.sync(client, mirror, limit=7)
        assert mirror.records() == served(client)  # the seed

        stop = threading.Event()
        writer = threading.Thread(target=churn, args=(base, stop))
        writer.start()
        try:
            for _ in range(20):
                sync_client.sync(client, mirror, limit=5)
        finally:
            stop.set()
            writer.join()
        # A restart: a new process with the same file resumes from its stored cursor.
        restarted = sync_client.Mirror(mirror_path)
        assert sync_client.sync(client, restarted) >= 0
        assert restarted.records() == served(client)

        # Another database behind the same URL (a restore): 410, then a full resync.
        engine = create_db_engine(url, pool_size=1)
        with Session(write_engine(engine)) as session, session.begin():
            session.exec(select(SyncState)).one().epoch = uuid.uuid4()
        engine.dispose()
        assert client.get("/v1/changes", params={"cursor": restarted.cursor}).status_code == 410
        sync_client.sync(client, restarted)
        assert restarted.records() == served(client)
