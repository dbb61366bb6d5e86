"""A Python client generated from /openapi.json by openapi-python-client: it generates without a
warning, passes mypy --strict, and carries a partner's round trip against a live server.

The client is generated as the package `workplan_client` (imported inside the tests, once it
exists; mypy sees it as untyped here, and strictly in its own test)."""

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import Session

from app.access.keys import new_key
from app.db import create_db_engine, write_engine
from app.models.access import Role
from tests.conftest import DATABASES, fresh_database_url
from tests.live import BIN, live_server

pytestmark = pytest.mark.slow

OBJECTIVE_5 = uuid.UUID("de576537-25ea-5ba0-9148-3733718f059c")
FOCAL_POINT = uuid.UUID("ccff0b3f-1f71-5810-ac3d-462dd1e95f06")


@pytest.fixture(scope="module")
def python_client(openapi_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The directory holding the generated `workplan_client`, importable while the module runs."""
    directory = tmp_path_factory.mktemp("python_client")
    config = directory / "config.json"
    # No formatting: only its types and behaviour matter. The IATI file is application/xml, which
    # the generator reads as text only when told (the README says so).
    config.write_text(json.dumps({"post_hooks": [], "content_type_overrides": {"application/xml": "text/xml"}}))
    command = [BIN / "openapi-python-client", "generate", "--path", openapi_file, "--meta", "none"]
    command += ["--output-path", directory / "workplan_client", "--config", config, "--fail-on-warning"]
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(directory))
    yield directory
    sys.path.remove(str(directory))
    for name in [name for name in sys.modules if name.split(".")[0] == "workplan_client"]:
        del sys.modules[name]


def test_the_generated_client_passes_mypy_strict(python_client: Path) -> None:
    # Run where no project configuration applies: the client alone, strict.
    command = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", ".mypy_cache", "-p", "workplan_client"]
    result = subprocess.run(command, cwd=python_client, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_generated_client_keeps_an_enum_value_it_does_not_know(python_client: Path) -> None:
    from workplan_client.models import ActivityPublic, ParticipantRole

    activity = {
        "id": str(uuid.uuid4()),
        "objective_id": str(OBJECTIVE_5),
        "work_plan_id": str(uuid.uuid4()),
        "code": "X-1",
        "title": "Something new",
        "type": "a_type_added_later",
        "status": "postponed",
        "participants": [
            {"partner_id": str(FOCAL_POINT), "role": "observer"},
            {"partner_id": str(FOCAL_POINT), "role": "lead"},
        ],
        "version": 1,
        "created_at": "2026-11-28T17:46:14.123Z",
        "updated_at": "2026-11-28T17:46:14.123Z",
    }
    parsed = ActivityPublic.from_dict(activity)
    assert (parsed.type_, parsed.status) == ("a_type_added_later", "postponed")
    assert [participant.role for participant in parsed.participants] == ["observer", ParticipantRole.LEAD]
    assert isinstance(parsed.participants[1].role, ParticipantRole)
    assert parsed.to_dict()["status"] == "postponed"


def partner_key(database_url: str, partner_id: uuid.UUID) -> str:
    engine = create_db_engine(database_url, pool_size=1)
    with Session(write_engine(engine)) as session, session.begin():
        _, key = new_key(session, name="partner system", role=Role.PARTNER, partner_id=partner_id)
    engine.dispose()
    return key


@pytest.mark.parametrize("kind", DATABASES)
def test_a_partner_round_trip_through_the_generated_client(kind: str, python_client: Path, tmp_path: Path) -> None:
    from workplan_client import AuthenticatedClient

    url = fresh_database_url(kind, tmp_path, "_python_client")
    with live_server(url) as base, AuthenticatedClient(base_url=base, token=partner_key(url, FOCAL_POINT)) as client:
        check_a_filtered_list_over_two_pages(client, base)
        activity_id, etag = check_create_and_replay(client)
        current = check_patch_with_current_and_stale_if_match(client, activity_id, etag)
        check_conditional_get(client, activity_id, current, stale=etag)
        check_the_change_feed(client, activity_id)


def check_a_filtered_list_over_two_pages(client: Any, base: str) -> None:
    from workplan_client.api.activities import list_activities
    from workplan_client.models import ActivityType, PageActivityItem
    from workplan_client.types import Unset

    types = [ActivityType.PARTNERSHIP, ActivityType.PUBLICATION]
    first = list_activities.sync_detailed(client=client, type_=types, limit=4)
    assert isinstance(first.parsed, PageActivityItem), first.content
    second = list_activities.sync_detailed(client=client, type_=types, limit=4, cursor=first.parsed.next_cursor)
    assert isinstance(second.parsed, PageActivityItem), second.content
    assert first.headers["link"].endswith('>; rel="next"')
    assert "link" not in second.headers
    assert isinstance(second.parsed.next_cursor, Unset)
    whole = httpx.get(f"{base}/v1/activities", params={"type": ["partnership", "publication"], "limit": 200}).json()
    assert [item.code for item in first.parsed.items + second.parsed.items] == [i["code"] for i in whole["items"]]
    assert len(whole["items"]) == 7


def check_create_and_replay(client: Any) -> tuple[uuid.UUID, str]:
    """A create with an Idempotency-Key, then the same again: the first answer, replayed."""
    from workplan_client.api.activities import create_activity
    from workplan_client.models import ActivityCreate, ActivityPublic, ActivityType

    body = ActivityCreate(
        objective_id=OBJECTIVE_5, code="PARTNER-1", title="A partner's activity", type_=ActivityType.CONSULTATION
    )
    created = create_activity.sync_detailed(client=client, body=body, idempotency_key="partner-1-create")
    assert created.status_code == 201, created.content
    assert isinstance(created.parsed, ActivityPublic)
    assert (created.parsed.owner_partner_id, created.parsed.version) == (FOCAL_POINT, 1)
    assert created.headers["location"] == f"/v1/activities/{created.parsed.id}"
    assert "idempotent-replayed" not in created.headers

    replayed = create_activity.sync_detailed(client=client, body=body, idempotency_key="partner-1-create")
    assert (replayed.status_code, replayed.content) == (201, created.content)
    assert [replayed.headers[h] for h in ("location", "etag")] == [created.headers[h] for h in ("location", "etag")]
    assert replayed.headers["idempotent-replayed"] == "true"
    return created.parsed.id, created.headers["etag"]


def check_patch_with_current_and_stale_if_match(client: Any, activity_id: uuid.UUID, etag: str) -> str:
    from workplan_client.api.activities import get_activity, update_activity
    from workplan_client.models import ActivityPublic, ActivityStatus, ActivityUpdate, Problem

    done = update_activity.sync_detailed(
        activity_id, client=client, body=ActivityUpdate(status=ActivityStatus.COMPLETED), if_match=etag
    )
    assert isinstance(done.parsed, ActivityPublic), done.content
    assert (done.parsed.status, done.parsed.version) == (ActivityStatus.COMPLETED, 2)

    stale = update_activity.sync_detailed(
        activity_id, client=client, body=ActivityUpdate(status=ActivityStatus.CANCELLED), if_match=etag
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, Problem)
    assert stale.parsed.to_dict() == {
        "type": "about:blank",
        "title": "Precondition Failed",
        "status": 412,
        "detail": "If-Match does not match the current version of the record; fetch it again.",
        "code": "PRECONDITION_FAILED",
    }
    unchanged = get_activity.sync_detailed(activity_id, client=client)
    assert isinstance(unchanged.parsed, ActivityPublic)
    assert (unchanged.parsed.status, unchanged.parsed.version) == (ActivityStatus.COMPLETED, 2)
    return str(done.headers["etag"])


def check_conditional_get(client: Any, activity_id: uuid.UUID, current: str, stale: str) -> None:
    from workplan_client.api.activities import get_activity
    from workplan_client.models import ActivityPublic

    not_modified = get_activity.sync_detailed(activity_id, client=client, if_none_match=current)
    assert (not_modified.status_code, not_modified.content, not_modified.headers["etag"]) == (304, b"", current)
    modified = get_activity.sync_detailed(activity_id, client=client, if_none_match=stale)
    assert modified.status_code == 200
    assert isinstance(modified.parsed, ActivityPublic)
    assert modified.headers["etag"] == current


def check_the_change_feed(client: Any, activity_id: uuid.UUID) -> None:
    """Each item comes back as the model its `type` names, its record typed accordingly."""
    from workplan_client.api.sync import list_changes
    from workplan_client.models import (
        ActivityChange,
        ActivityPublic,
        ActivityStatus,
        PartnerChange,
        PartnerPublic,
        PartnerWithContacts,
        SyncType,
    )
    from workplan_client.types import UNSET

    items: list[Any] = []
    cursor = UNSET
    while True:
        page = list_changes.sync_detailed(
            client=client, types=[SyncType.ACTIVITY, SyncType.PARTNER], cursor=cursor, limit=10
        )
        assert page.status_code == 200, page.content
        items.extend(page.parsed.items)
        cursor = page.parsed.next_cursor
        if not page.parsed.has_more:
            break
    activities = [item for item in items if item.type_ == "activity"]
    partners = [item for item in items if item.type_ == "partner"]
    assert (len(activities), len(partners), len(items)) == (15, 10, 25)  # the seed's 14 and 10, and ours
    assert all(isinstance(item, ActivityChange) and isinstance(item.data, ActivityPublic) for item in activities)
    assert all(isinstance(item, PartnerChange) for item in partners)
    assert all(isinstance(item.data, PartnerWithContacts | PartnerPublic) for item in partners)
    [ours] = [item for item in activities if item.id == activity_id]
    assert (ours.deleted, ours.data.status, ours.data.version) == (False, ActivityStatus.COMPLETED, 2)
