"""GET /v1/changes: the initial sync, polling, tombstones, types, cursors and their expiry."""

import json
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from app.config import get_settings
from app.db import write_engine
from app.errors import Gone
from app.models.activities import Activity
from app.models.writes import SyncState
from app.sync.feed import Position, decode_cursor, encode_cursor, purge_tombstones
from app.transfer import ImportFailed, import_records
from tests.problems import assert_problem
from tests.sync.conftest import drain, served

OBJECTIVE_5 = "de576537-25ea-5ba0-9148-3733718f059c"


def new_activity(client: TestClient, code: str) -> dict[str, Any]:
    body = {"objective_id": OBJECTIVE_5, "code": code, "title": f"Sync test {code}", "type": "meeting"}
    response = client.post("/v1/activities", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_initial_sync_is_every_live_record_in_feed_order(sync_client: TestClient) -> None:
    items, cursor = drain(sync_client, limit=7)
    keys = [(item["change_seq"], item["type"], item["id"]) for item in items]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert all(not item["deleted"] for item in items)
    assert {(item["type"], item["id"]): item["data"] for item in items} == served(sync_client)
    assert cursor


def test_a_caught_up_client_gets_an_empty_page_and_a_cursor_to_keep(sync_client: TestClient) -> None:
    _, cursor = drain(sync_client)
    page = sync_client.get("/v1/changes", params={"cursor": cursor}).json()
    assert page["items"] == []
    assert page["has_more"] is False
    assert page["next_cursor"]
    assert sync_client.get("/v1/changes", params={"cursor": page["next_cursor"]}).json()["items"] == []


def test_polling_returns_each_change_once_at_its_latest_state(sync_client: TestClient) -> None:
    _, cursor = drain(sync_client)
    created = new_activity(sync_client, "SYNC-1")
    patched = sync_client.patch(f"/v1/activities/{created['id']}", json={"status": "completed"}).json()
    doomed = new_activity(sync_client, "SYNC-2")
    assert sync_client.delete(f"/v1/activities/{doomed['id']}").status_code == 204

    items, cursor = drain(sync_client, cursor)
    assert [(item["type"], item["id"], item["deleted"]) for item in items] == [
        ("activity", created["id"], False),
        ("activity", doomed["id"], True),
    ]
    assert items[0]["data"] == patched
    assert items[1]["data"] is None
    assert items[0]["change_seq"] < items[1]["change_seq"]
    assert drain(sync_client, cursor)[0] == []


def test_a_change_to_an_embedded_list_is_a_change_of_its_record(sync_client: TestClient) -> None:
    created = new_activity(sync_client, "SYNC-3")
    _, cursor = drain(sync_client)
    sync_client.patch(f"/v1/activities/{created['id']}", json={"countries": ["KEN"]})
    items, _ = drain(sync_client, cursor)
    assert [(item["id"], item["data"]["countries"]) for item in items] == [(created["id"], ["KEN"])]


def test_a_patch_that_changes_nothing_is_not_a_change(sync_client: TestClient) -> None:
    created = new_activity(sync_client, "SYNC-4")
    _, cursor = drain(sync_client)
    sync_client.patch(f"/v1/activities/{created['id']}", json={"title": created["title"]})
    assert drain(sync_client, cursor)[0] == []


def test_the_initial_sync_leaves_out_earlier_tombstones_but_a_follower_gets_later_ones(
    sync_client: TestClient,
) -> None:
    doomed = new_activity(sync_client, "SYNC-5")
    sync_client.delete(f"/v1/activities/{doomed['id']}")
    first = sync_client.get("/v1/changes", params={"limit": 1}).json()
    later = new_activity(sync_client, "SYNC-6")
    sync_client.delete(f"/v1/activities/{later['id']}")
    items, _ = drain(sync_client, first["next_cursor"])
    tombstones = [item["id"] for item in first["items"] + items if item["deleted"]]
    assert doomed["id"] not in tombstones
    assert later["id"] in tombstones


def test_types_narrow_the_feed_and_are_bound_into_the_cursor(sync_client: TestClient) -> None:
    items, cursor = drain(sync_client, types=["partner", "work_plan"])
    assert {item["type"] for item in items} == {"partner", "work_plan"}
    response = sync_client.get("/v1/changes", params={"cursor": cursor, "types": "activity"})
    assert_problem(response, 400, "CURSOR_MISMATCH")
    response = sync_client.get("/v1/changes", params={"cursor": cursor})
    assert_problem(response, 400, "CURSOR_MISMATCH")
    # The same types in another order are the same feed.
    assert sync_client.get("/v1/changes", params={"cursor": cursor, "types": ["work_plan", "partner"]}).is_success


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"limit": 0}, 422, "VALIDATION_FAILED"),
        ({"limit": 5000}, 422, "VALIDATION_FAILED"),
        ({"types": "nonsense"}, 422, "VALIDATION_FAILED"),
        ({"since": "1"}, 422, "VALIDATION_FAILED"),
        ({"cursor": "not-a-cursor"}, 400, "INVALID_CURSOR"),
        ({"cursor": "e30.AAAAAAAAAAAAAAAAAAAAAA"}, 400, "INVALID_CURSOR"),
    ],
)
def test_bad_requests_are_problems(sync_client: TestClient, params: dict[str, Any], status: int, code: str) -> None:
    assert_problem(sync_client.get("/v1/changes", params=params), status, code)


def test_a_tampered_cursor_is_refused(sync_client: TestClient) -> None:
    _, cursor = drain(sync_client)
    body, signature = cursor.split(".")
    forged = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + signature
    assert_problem(sync_client.get("/v1/changes", params={"cursor": forged}), 400, "INVALID_CURSOR")


def test_a_cursor_from_another_database_has_expired(sync_client: TestClient, sync_engine: Engine) -> None:
    _, cursor = drain(sync_client)
    with Session(write_engine(sync_engine)) as session, session.begin():
        state = session.exec(select(SyncState)).one()
        epoch, state.epoch = state.epoch, uuid.uuid4()
    try:
        assert_problem(sync_client.get("/v1/changes", params={"cursor": cursor}), 410, "CURSOR_EXPIRED")
    finally:
        with Session(write_engine(sync_engine)) as session, session.begin():
            session.exec(select(SyncState)).one().epoch = epoch


def test_a_cursor_older_than_the_horizon_has_expired(sync_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    _, cursor = drain(sync_client)
    days = get_settings().tombstone_days
    later = time.time() + days * 86400 + 60
    monkeypatch.setattr("app.sync.feed.time.time", lambda: later)
    assert_problem(sync_client.get("/v1/changes", params={"cursor": cursor}), 410, "CURSOR_EXPIRED")


def test_purging_tombstones_expires_cursors_that_could_have_missed_them(
    sync_client: TestClient, sync_engine: Engine
) -> None:
    _, before = drain(sync_client)
    doomed = new_activity(sync_client, "SYNC-7")
    sync_client.delete(f"/v1/activities/{doomed['id']}")
    _, after = drain(sync_client)
    with Session(write_engine(sync_engine)) as session, session.begin():
        counts = purge_tombstones(session, timedelta(0))  # everything deleted until now
        assert session.get(Activity, uuid.UUID(doomed["id"])) is None
    assert counts["activity"] >= 1
    assert_problem(sync_client.get("/v1/changes", params={"cursor": before}), 410, "CURSOR_EXPIRED")
    assert sync_client.get("/v1/changes", params={"cursor": after}).status_code == 200


def test_the_feed_is_declared_in_openapi(sync_client: TestClient) -> None:
    operation = sync_client.get("/openapi.json").json()["paths"]["/v1/changes"]["get"]
    assert {"200", "400", "410", "422"} <= set(operation["responses"])
    assert {p["name"] for p in operation["parameters"]} == {"types", "cursor", "limit"}


def test_an_import_is_stamped_and_its_owner_checked(
    sync_client: TestClient, sync_engine: Engine, tmp_path: Any
) -> None:
    _, cursor = drain(sync_client)
    partner_id = str(uuid.uuid4())
    activity = {
        "objective_id": OBJECTIVE_5,
        "code": "IMPORTED-1",
        "title": "Imported",
        "type": "meeting",
        "owner_partner_id": partner_id,
        "external_ref": "imp-1",
    }
    lines = [
        {"type": "partner", "data": {"id": partner_id, "name": "Imported partner", "kind": "ngo"}},
        {"type": "activity", "data": activity},
    ]
    path = tmp_path / "in.ndjson"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with Session(write_engine(sync_engine)) as session, session.begin():
        import_records(session, path)
    items, _ = drain(sync_client, cursor)
    assert {
        (item["type"], item["data"]["owner_partner_id"] if item["type"] == "activity" else None) for item in items
    } == {
        ("partner", None),
        ("activity", partner_id),
    }

    orphan = {"type": "activity", "data": {**activity, "code": "IMPORTED-2", "owner_partner_id": str(uuid.uuid4())}}
    path.write_text(json.dumps(orphan) + "\n")
    with Session(write_engine(sync_engine)) as session, session.begin(), pytest.raises(ImportFailed) as failed:
        import_records(session, path)
    assert [p.pointer for p in failed.value.report.errors] == ["/owner_partner_id"]


def test_a_cursor_that_stopped_inside_a_purged_stamp_has_expired() -> None:
    """On PostgreSQL one transaction's rows share a stamp, and a page can end among them: if that
    stamp's tombstones are purged, the rest of them are gone for this cursor."""
    epoch = uuid.uuid4()
    inside = Position(seq=40, type="activity", id=uuid.uuid4(), floor=10)
    cursor = encode_cursor(epoch, [], inside)
    state = SyncState(epoch=epoch, change_seq=50, purged_seq=40)
    with pytest.raises(Gone):
        decode_cursor(cursor, state, [])
    assert decode_cursor(cursor, SyncState(epoch=epoch, change_seq=50, purged_seq=39), []) == inside
    # Tombstones purged at or below the initial sync's floor were never this client's to see.
    assert decode_cursor(cursor, SyncState(epoch=epoch, change_seq=50, purged_seq=10), []) == inside


def test_a_cursor_of_one_kind_is_refused_by_the_others(sync_client: TestClient) -> None:
    """Every cursor is signed with the same key: each endpoint must refuse the others' with a 400."""
    _, feed_cursor = drain(sync_client)
    list_cursor = sync_client.get("/v1/activities", params={"limit": 1}).json()["next_cursor"]
    assert_problem(sync_client.get("/v1/activities", params={"cursor": feed_cursor}), 400, "CURSOR_MISMATCH")
    assert_problem(sync_client.get("/v1/changes", params={"cursor": list_cursor}), 400, "INVALID_CURSOR")
