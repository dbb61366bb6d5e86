"""A Python client generated from /openapi.json by openapi-python-client: it generates without a
warning, passes mypy --strict, and carries a partner's round trip against a live server, and its
push subscription and IATI file.

The client is generated as the package `workplan_client` (imported inside the tests, once it
exists; mypy sees it as untyped here, and strictly in its own test)."""

import json
import subprocess
import sys
import threading
import time
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
from tests.webhooks.receiving import serve_receiver

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


PLAN_2003 = uuid.UUID("c49feba7-c386-510d-ab94-6b54f43d719d")


def arrived(receiver: Any, path: str, count: int) -> list[Any]:
    """The deliveries on `path` once there are `count` of them (the server's dispatcher pushes them)."""
    deadline = time.monotonic() + 30
    while len(receiver.on(path)) < count:
        assert time.monotonic() < deadline, f"{len(receiver.on(path))} of {count} deliveries arrived"
        time.sleep(0.1)
    got: list[Any] = receiver.on(path)
    return got


@pytest.mark.parametrize("kind", DATABASES)
def test_push_and_iati_through_the_generated_client(
    kind: str, python_client: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every webhook and delivery operation, and the IATI file, as a partner's system calls them
    through the generated client, against `workplan serve --webhooks` (what `make run` serves)."""
    from workplan_client import AuthenticatedClient

    monkeypatch.setenv("WORKPLAN_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("WORKPLAN_IATI_ORG_ID", "XM-DAC-00000")
    receiver, server = serve_receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = fresh_database_url(kind, tmp_path, "_python_push")
    try:
        with (
            live_server(url, serve=("--webhooks",)) as base,
            AuthenticatedClient(base_url=base, token=partner_key(url, FOCAL_POINT)) as client,
        ):
            webhook_id, etag = check_subscribing(client, receiver)
            activity_id = check_deliveries(client, receiver, webhook_id)
            check_rotation_replay_and_deletion(client, receiver, webhook_id, etag)
            check_the_iati_file(client, activity_id)
    finally:
        server.shutdown()
        server.server_close()


def check_subscribing(client: Any, receiver: Any) -> tuple[uuid.UUID, str]:
    from workplan_client.api.webhooks import create_webhook, get_webhook, list_webhooks, update_webhook
    from workplan_client.models import (
        PageWebhookPublic,
        Problem,
        SyncType,
        WebhookCreate,
        WebhookCreated,
        WebhookPublic,
        WebhookUpdate,
    )

    made = create_webhook.sync_detailed(
        client=client, body=WebhookCreate(url=f"{receiver.base}/gc", types=[SyncType.ACTIVITY])
    )
    assert made.status_code == 201, made.content
    assert isinstance(made.parsed, WebhookCreated)
    assert made.parsed.secret.startswith("whsec_")
    assert made.parsed.partner_id == FOCAL_POINT
    receiver.at("/gc", made.parsed.secret)
    webhook_id = made.parsed.id

    listed = list_webhooks.sync_detailed(client=client, type_=[SyncType.ACTIVITY])
    assert isinstance(listed.parsed, PageWebhookPublic), listed.content
    assert [webhook.id for webhook in listed.parsed.items] == [webhook_id]
    read = get_webhook.sync_detailed(webhook_id, client=client)
    assert isinstance(read.parsed, WebhookPublic), read.content
    assert "secret" not in read.parsed.to_dict()
    etag = read.headers["etag"]
    assert get_webhook.sync_detailed(webhook_id, client=client, if_none_match=etag).status_code == 304

    changed = update_webhook.sync_detailed(
        webhook_id, client=client, body=WebhookUpdate(description="ECPAT's mirror"), if_match=etag
    )
    assert isinstance(changed.parsed, WebhookPublic), changed.content
    assert changed.parsed.description == "ECPAT's mirror"
    stale = update_webhook.sync_detailed(webhook_id, client=client, body=WebhookUpdate(active=False), if_match=etag)
    assert stale.status_code == 412
    assert isinstance(stale.parsed, Problem)
    return webhook_id, changed.headers["etag"]


def check_deliveries(client: Any, receiver: Any, webhook_id: uuid.UUID) -> uuid.UUID:
    from workplan_client.api.activities import create_activity
    from workplan_client.api.webhooks import get_delivery, list_deliveries, redeliver_delivery
    from workplan_client.models import (
        ActivityCreate,
        ActivityType,
        DeliveryOutcome,
        DeliveryTrigger,
        PageWebhookDeliveryPublic,
        Redelivery,
        WebhookDeliveryPublic,
    )

    body = ActivityCreate(objective_id=OBJECTIVE_5, code="PUSHED-1", title="Pushed", type_=ActivityType.MEETING)
    created = create_activity.sync_detailed(client=client, body=body)
    assert created.status_code == 201, created.content
    [pushed] = arrived(receiver, "/gc", 1)
    assert pushed.verified
    assert (pushed.item["type"], pushed.item["id"]) == ("activity", str(created.parsed.id))

    page = list_deliveries.sync_detailed(webhook_id, client=client, outcome=DeliveryOutcome.DELIVERED)
    assert isinstance(page.parsed, PageWebhookDeliveryPublic), page.content
    [attempt] = page.parsed.items
    assert (attempt.message_id, attempt.trigger, attempt.response_status) == (
        pushed.message_id,
        DeliveryTrigger.DISPATCH,
        200,
    )
    one = get_delivery.sync_detailed(webhook_id, attempt.id, client=client)
    assert isinstance(one.parsed, WebhookDeliveryPublic), one.content
    assert one.parsed.to_dict() == attempt.to_dict()

    again = redeliver_delivery.sync_detailed(webhook_id, attempt.id, client=client, idempotency_key="again-1")
    assert again.status_code == 201, again.content
    assert isinstance(again.parsed, Redelivery)
    assert (again.parsed.message_id, again.parsed.outcome, again.parsed.changed_since) == (
        pushed.message_id,
        DeliveryOutcome.DELIVERED,
        False,
    )
    redelivered = arrived(receiver, "/gc", 2)[1]
    assert (redelivered.verified, redelivered.message_id) == (True, pushed.message_id)
    activity_id: uuid.UUID = created.parsed.id
    return activity_id


def check_rotation_replay_and_deletion(client: Any, receiver: Any, webhook_id: uuid.UUID, etag: str) -> None:
    from workplan_client.api.webhooks import delete_webhook, get_webhook, replay_webhook, rotate_webhook_secret
    from workplan_client.models import Problem, ReplayAccepted, ReplayRequest, SecretRotation, WebhookSecret

    # The ETag covers `delivered_through`, which the deliveries since the PATCH moved: read it again.
    moved = rotate_webhook_secret.sync_detailed(webhook_id, client=client, if_match=etag)
    assert (moved.status_code, isinstance(moved.parsed, Problem)) == (412, True)
    etag = get_webhook.sync_detailed(webhook_id, client=client).headers["etag"]
    rotated = rotate_webhook_secret.sync_detailed(
        webhook_id, client=client, body=SecretRotation(grace_seconds=3600), if_match=etag
    )
    assert isinstance(rotated.parsed, WebhookSecret), rotated.content
    assert rotated.parsed.previous_secret_expires_at is not None
    receiver.at("/gc", rotated.parsed.secret)  # each delivery must now verify with both secrets

    first = receiver.on("/gc")[0]
    replayed = replay_webhook.sync_detailed(
        webhook_id, client=client, body=ReplayRequest(from_change_seq=first.item["change_seq"])
    )
    assert replayed.status_code == 202, replayed.content
    assert isinstance(replayed.parsed, ReplayAccepted)
    assert replayed.parsed.position_seq == first.item["change_seq"] - 1
    again = arrived(receiver, "/gc", 3)[2]
    assert (again.verified, again.message_id) == (True, first.message_id)
    assert len(again.headers["webhook-signature"].split()) == 2

    current = get_webhook.sync_detailed(webhook_id, client=client).headers["etag"]
    assert delete_webhook.sync_detailed(webhook_id, client=client, if_match=current).status_code == 204
    assert get_webhook.sync_detailed(webhook_id, client=client).status_code == 404


def check_the_iati_file(client: Any, activity_id: uuid.UUID) -> None:
    """Refused while the partner's activity lacks what IATI requires, naming it; then the file."""
    import datetime

    from workplan_client.api.activities import update_activity
    from workplan_client.api.iati import export_iati_activities
    from workplan_client.models import ActivityPublic, ActivityUpdate, Problem

    refused = export_iati_activities.sync_detailed(PLAN_2003, client=client)
    assert isinstance(refused.parsed, Problem), refused.content
    assert (refused.status_code, refused.parsed.code) == (422, "IATI_NOT_PUBLISHABLE")
    assert [error.pointer for error in refused.parsed.errors] == [
        f"/activities/{activity_id}/planned_start",
        f"/activities/{activity_id}/description",
    ]
    fixed = update_activity.sync_detailed(
        activity_id,
        client=client,
        body=ActivityUpdate(description="A meeting of the caucus.", planned_start=datetime.date(2003, 6, 1)),
    )
    assert isinstance(fixed.parsed, ActivityPublic), fixed.content

    exported = export_iati_activities.sync_detailed(PLAN_2003, client=client)
    assert exported.status_code == 200, exported.content
    assert exported.headers["content-type"] == "application/xml"
    assert exported.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<iati-activities version="2.03">')
    assert exported.content.count(b"<iati-activity ") == 15  # the seed's 14, and the partner's pushed one
    assert b"<iati-identifier>XM-DAC-00000-PUSHED-1</iati-identifier>" in exported.content
    tag = exported.headers["etag"]
    assert export_iati_activities.sync_detailed(PLAN_2003, client=client, if_none_match=tag).status_code == 304
