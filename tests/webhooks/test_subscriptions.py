"""`/v1/webhooks` with real keys: who manages which subscription, the secret shown once and never
again (reads, lists, audit log, exports, the stored column), rotation with a grace, validation as
problems, conditional requests, pages, reactivation and deletion."""

import io
import json
import logging
import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, event, text
from sqlmodel import Session, col, select

from app.access.keys import new_key
from app.kinds import KINDS
from app.main import app
from app.models.access import AuditEntry, Role
from app.models.webhooks import Webhook
from app.models.writes import SyncState
from app.records import as_utc, utcnow
from app.transfer.export import export_records
from app.transfer.specs import RESOURCES
from app.webhooks.secrets import PREFIX, open_secret
from tests.factories import make_activity, make_partner
from tests.problems import assert_problem, body_error, problem

URL = "https://receiver.example.org/hooks"


@pytest.fixture
def keys(session: Session) -> dict[str, Any]:
    partner_a = make_partner(session, name="ECPAT International")
    partner_b = make_partner(session, name="Save the Children")
    made: dict[str, Any] = {"partner_a_id": str(partner_a.id), "partner_b_id": str(partner_b.id)}
    for name, role, partner in [
        ("admin", Role.ADMIN, None),
        ("editor", Role.EDITOR, None),
        ("reader", Role.READER, None),
        ("partner_a", Role.PARTNER, partner_a.id),
        ("partner_b", Role.PARTNER, partner_b.id),
    ]:
        record, key = new_key(session, name=name, role=role, partner_id=partner)
        made[name] = {"Authorization": f"Bearer {key}"}
        made[f"{name}_key_id"] = record.key_id
    session.flush()
    return made


@pytest.fixture
def api(anonymous_client: TestClient) -> TestClient:
    """Keys are checked for real: each request names its own."""
    return anonymous_client


def subscribe(api: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = api.post("/v1/webhooks", json={"url": URL, **body}, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def stored(session: Session, webhook_id: str) -> Webhook:
    session.expire_all()
    webhook = session.get(Webhook, uuid.UUID(webhook_id))
    assert webhook is not None
    return webhook


def audit_of(session: Session, webhook_id: str) -> list[AuditEntry]:
    statement = (
        select(AuditEntry).where(col(AuditEntry.record_id) == uuid.UUID(webhook_id)).order_by(col(AuditEntry.seq))
    )
    return list(session.exec(statement))


# Access


def test_a_partner_key_subscribes_for_its_own_partner(api: TestClient, keys: dict[str, Any], session: Session) -> None:
    response = api.post(
        "/v1/webhooks",
        json={"url": URL, "types": ["activity"], "filter": {"status": "planned"}, "description": "mirror"},
        headers=keys["partner_a"],
    )
    assert response.status_code == 201, response.text
    body = response.json()
    head = session.exec(select(SyncState)).one().change_seq
    assert response.headers["location"] == f"/v1/webhooks/{body['id']}"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["etag"]
    secret = body.pop("secret")
    assert secret.startswith(PREFIX)
    assert {k: v for k, v in body.items() if k not in ("id", "created_at", "updated_at")} == {
        "url": URL,
        "types": ["activity"],
        "filter": {"status": ["planned"]},  # as the list parses it
        "description": "mirror",
        "active": True,
        "partner_id": keys["partner_a_id"],
        "created_by": keys["partner_a_key_id"],
        "disabled_at": None,
        "disabled_reason": None,
        "failing_since": None,
        "delivered_through": head,
        "previous_secret_expires_at": None,
    }
    # It hears of the changes after it: the feed's position just past the head (app/sync/feed.py `_after`).
    webhook = stored(session, body["id"])
    assert (webhook.position_seq, webhook.position_type, webhook.position_id) == (head + 1, "", None)


@pytest.mark.parametrize("method", ["get", "post"])
def test_without_a_key_it_is_401(api: TestClient, keys: dict[str, Any], method: str) -> None:
    response = api.request(method, "/v1/webhooks", json={"url": URL})
    detail = "This needs a key with the partner role or above." if method == "get" else "Writing needs a key."
    assert assert_problem(response, 401, "UNAUTHORIZED") == problem(401, detail, "UNAUTHORIZED")
    assert response.headers["www-authenticate"] == 'Bearer realm="workplan"'


def test_a_reader_key_is_403_on_reads_and_writes_with_a_message_that_fits(
    api: TestClient, keys: dict[str, Any]
) -> None:
    read = api.get("/v1/webhooks", headers=keys["reader"])
    assert assert_problem(read, 403, "FORBIDDEN") == problem(
        403, "This needs the partner role or above; the key has reader.", "FORBIDDEN"
    )
    write = api.post("/v1/webhooks", json={"url": URL}, headers=keys["reader"])
    assert assert_problem(write, 403, "FORBIDDEN") == problem(403, "A reader key may only read.", "FORBIDDEN")


def test_an_editor_key_manages_no_subscription(api: TestClient, keys: dict[str, Any]) -> None:
    mine = subscribe(api, keys["admin"])
    detail = "Webhooks are managed with an admin's key, or a partner's key for its own."
    url = f"/v1/webhooks/{mine['id']}"
    for method, path in [
        ("get", "/v1/webhooks"),
        ("post", "/v1/webhooks"),
        ("get", url),
        ("patch", url),
        ("delete", url),
        ("post", f"{url}/rotate-secret"),
    ]:
        response = api.request(method, path, json={"url": URL}, headers=keys["editor"])
        assert assert_problem(response, 403, "FORBIDDEN") == problem(403, detail, "FORBIDDEN"), (method, path)


def test_another_partners_subscription_is_404_and_an_admin_manages_all(
    api: TestClient, keys: dict[str, Any], session: Session
) -> None:
    theirs = subscribe(api, keys["partner_b"])
    url = f"/v1/webhooks/{theirs['id']}"
    for method, path in [("get", url), ("patch", url), ("delete", url), ("post", f"{url}/rotate-secret")]:
        response = api.request(method, path, json={"active": False}, headers=keys["partner_a"])
        assert assert_problem(response, 404, "NOT_FOUND")["detail"] == f"No webhook with id {theirs['id']}."
    assert api.get("/v1/webhooks", headers=keys["partner_a"]).json() == {"items": []}
    assert stored(session, theirs["id"]).active is True

    assert api.get(url, headers=keys["admin"]).json()["partner_id"] == keys["partner_b_id"]
    assert [w["id"] for w in api.get("/v1/webhooks", headers=keys["admin"]).json()["items"]] == [theirs["id"]]
    assert api.patch(url, json={"active": False}, headers=keys["admin"]).json()["active"] is False
    assert api.delete(url, headers=keys["admin"]).status_code == 204


def test_a_partner_key_cannot_subscribe_for_another_partner(api: TestClient, keys: dict[str, Any]) -> None:
    response = api.post(
        "/v1/webhooks", json={"url": URL, "partner_id": keys["partner_b_id"]}, headers=keys["partner_a"]
    )
    assert assert_problem(response, 403, "FORBIDDEN")["detail"] == (
        "A partner key creates records owned by its own partner only."
    )
    own = subscribe(api, keys["partner_a"], partner_id=keys["partner_a_id"])
    assert own["partner_id"] == keys["partner_a_id"]


def test_an_admin_subscribes_for_nobody_or_for_a_partner_that_exists(api: TestClient, keys: dict[str, Any]) -> None:
    assert subscribe(api, keys["admin"])["partner_id"] is None
    assert subscribe(api, keys["admin"], partner_id=keys["partner_b_id"])["partner_id"] == keys["partner_b_id"]
    missing = str(uuid.uuid4())
    response = api.post("/v1/webhooks", json={"url": URL, "partner_id": missing}, headers=keys["admin"])
    assert assert_problem(response, 422, "UNKNOWN_REFERENCE") == problem(
        422,
        "The body refers to records that do not exist.",
        "UNKNOWN_REFERENCE",
        [body_error("/partner_id", f"No partner with id {missing}")],
    )


# The secret


def test_the_secret_is_shown_once_and_stored_sealed(api: TestClient, keys: dict[str, Any], session: Session) -> None:
    created = subscribe(api, keys["partner_a"], types=["activity"])
    secret = created["secret"]
    url = f"/v1/webhooks/{created['id']}"
    answers = [
        api.get(url, headers=keys["partner_a"]),
        api.get("/v1/webhooks", headers=keys["partner_a"]),
        api.get(url, headers=keys["admin"]),
        api.patch(url, json={"description": "changed"}, headers=keys["partner_a"]),
    ]
    webhook = stored(session, created["id"])
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert secret not in answer.text
        assert webhook.secret not in answer.text
        assert "secret" not in json.dumps(answer.json()).replace("previous_secret_expires_at", "")
    # The column holds a Fernet token of it, which only the service's key opens.
    assert webhook.secret != secret
    assert secret not in webhook.secret
    assert open_secret(webhook.secret) == secret
    # Nowhere else in the database either.
    tables = ["audit_entry", "idempotency_key", "webhook_delivery"]
    for table in tables:
        dump = json.dumps([list(map(str, row)) for row in session.execute(text(f"SELECT * FROM {table}"))])
        assert secret not in dump, table
        assert webhook.secret not in dump, table


def test_the_audit_log_says_who_made_changed_rotated_and_deleted_it_never_the_secret(
    api: TestClient, keys: dict[str, Any], session: Session
) -> None:
    created = subscribe(api, keys["partner_a"], types=["activity"])
    url = f"/v1/webhooks/{created['id']}"
    rotated = api.post(f"{url}/rotate-secret", json={"grace_seconds": 60}, headers=keys["partner_a"]).json()
    api.patch(url, json={"active": False}, headers=keys["partner_a"])
    api.delete(url, headers=keys["admin"])
    session.expire_all()
    entries = audit_of(session, created["id"])
    assert [(e.action, e.record_type, e.actor) for e in entries] == [
        ("create", "webhook", keys["partner_a_key_id"]),
        ("rotate", "webhook", keys["partner_a_key_id"]),
        ("update", "webhook", keys["partner_a_key_id"]),
        ("delete", "webhook", keys["admin_key_id"]),
    ]
    assert entries[0].changes == {
        "url": [None, URL],
        "types": [None, ["activity"]],
        "active": [None, True],
        "partner_id": [None, keys["partner_a_id"]],
        "secret": [None, "(new secret)"],
    }
    assert entries[1].changes == {
        "secret": ["(previous secret)", "(new secret)"],
        "previous_secret_expires_at": [None, rotated["previous_secret_expires_at"]],
    }
    assert entries[2].changes == {"active": [True, False]}
    assert entries[3].changes["url"] == [URL, None]
    dump = json.dumps([e.changes for e in entries])
    assert created["secret"] not in dump
    assert rotated["secret"] not in dump
    assert "whsec_" not in dump
    # And through the API, as an admin reads it.
    audit = api.get("/v1/audit", params={"record_id": created["id"]}, headers=keys["admin"])
    assert audit.status_code == 200
    assert "whsec_" not in audit.text


def test_an_export_holds_no_subscription_and_no_secret(api: TestClient, keys: dict[str, Any], session: Session) -> None:
    make_activity(session)
    created = subscribe(api, keys["admin"])
    webhook = stored(session, created["id"])
    for fmt in ("json", "ndjson"):
        out = io.StringIO()
        assert export_records(session, list(RESOURCES), fmt, out) > 0
        written = out.getvalue()
        assert created["secret"] not in written
        assert webhook.secret not in written
        assert created["id"] not in written
        assert URL not in written


def test_idempotency_keys_are_refused_where_the_answer_holds_a_secret(api: TestClient, keys: dict[str, Any]) -> None:
    headers = {**keys["admin"], "Idempotency-Key": "k-1"}
    response = api.post("/v1/webhooks", json={"url": URL}, headers=headers)
    assert assert_problem(response, 400, "IDEMPOTENCY_KEY_NOT_SUPPORTED")
    assert api.get("/v1/webhooks", headers=keys["admin"]).json() == {"items": []}
    created = subscribe(api, keys["admin"])
    rotate = api.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=headers)
    assert_problem(rotate, 400, "IDEMPOTENCY_KEY_NOT_SUPPORTED")


# Rotation


def test_rotation_returns_a_new_secret_and_keeps_the_previous_one_for_the_grace(
    api: TestClient, keys: dict[str, Any], session: Session
) -> None:
    created = subscribe(api, keys["partner_a"])
    url = f"/v1/webhooks/{created['id']}"
    before = utcnow()
    response = api.post(f"{url}/rotate-secret", json={"grace_seconds": 3600}, headers=keys["partner_a"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    rotated = response.json()
    assert set(rotated) == {"secret", "previous_secret_expires_at"}
    assert rotated["secret"].startswith(PREFIX)
    assert rotated["secret"] != created["secret"]
    webhook = stored(session, created["id"])
    assert open_secret(webhook.secret) == rotated["secret"]
    assert webhook.previous_secret is not None
    assert open_secret(webhook.previous_secret) == created["secret"]
    assert webhook.previous_secret_expires_at is not None
    grace_until = as_utc(webhook.previous_secret_expires_at)
    assert before + timedelta(seconds=3599) <= grace_until <= utcnow() + timedelta(seconds=3600)
    shown = api.get(url, headers=keys["partner_a"]).json()
    assert shown["previous_secret_expires_at"] == rotated["previous_secret_expires_at"]
    assert rotated["secret"] not in json.dumps(shown)

    # A second rotation within the grace: the first secret stops signing, the second signs on.
    again = api.post(f"{url}/rotate-secret", headers=keys["partner_a"]).json()
    webhook = stored(session, created["id"])
    assert open_secret(webhook.secret) == again["secret"]
    assert webhook.previous_secret is not None
    assert open_secret(webhook.previous_secret) == rotated["secret"]
    assert webhook.previous_secret_expires_at is not None
    default_grace = as_utc(webhook.previous_secret_expires_at) - utcnow()
    assert timedelta(hours=23, minutes=59) < default_grace <= timedelta(days=1)


def test_a_rotation_with_no_grace_drops_the_previous_secret(
    api: TestClient, keys: dict[str, Any], session: Session
) -> None:
    created = subscribe(api, keys["admin"])
    url = f"/v1/webhooks/{created['id']}"
    api.post(f"{url}/rotate-secret", json={"grace_seconds": 600}, headers=keys["admin"])
    rotated = api.post(f"{url}/rotate-secret", json={"grace_seconds": 0}, headers=keys["admin"]).json()
    assert rotated["previous_secret_expires_at"] is None
    webhook = stored(session, created["id"])
    assert (webhook.previous_secret, webhook.previous_secret_expires_at) == (None, None)
    assert open_secret(webhook.secret) == rotated["secret"]
    assert api.get(url, headers=keys["admin"]).json()["previous_secret_expires_at"] is None


def test_a_grace_that_has_passed_is_not_shown(api: TestClient, keys: dict[str, Any], session: Session) -> None:
    created = subscribe(api, keys["admin"])
    api.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=keys["admin"])
    webhook = stored(session, created["id"])
    webhook.previous_secret_expires_at = utcnow() - timedelta(seconds=1)
    session.add(webhook)
    session.flush()
    assert api.get(f"/v1/webhooks/{created['id']}", headers=keys["admin"]).json()["previous_secret_expires_at"] is None


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ({"grace_seconds": -1}, "application/json", 422, "VALIDATION_FAILED"),
        ({"grace_seconds": 604_801}, "application/json", 422, "VALIDATION_FAILED"),
        ({"grace": 10}, "application/json", 422, "VALIDATION_FAILED"),
        ({"grace_seconds": 10}, "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
    ],
)
def test_a_rotation_body_is_checked(
    api: TestClient, keys: dict[str, Any], session: Session, body: Any, content_type: str, status: int, code: str
) -> None:
    created = subscribe(api, keys["admin"])
    response = api.post(
        f"/v1/webhooks/{created['id']}/rotate-secret",
        content=json.dumps(body),
        headers={**keys["admin"], "Content-Type": content_type},
    )
    assert_problem(response, status, code)
    assert open_secret(stored(session, created["id"]).secret) == created["secret"]


# Validation


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"url": "ftp://receiver.example.org/"},
            problem(
                422,
                "The request body is not valid.",
                "TARGET_REFUSED",
                [body_error("/url", "The URL must be absolute, http:// or https:// with a host.")],
            ),
        ),
        (
            {"url": URL, "types": ["activity", "colour"]},
            problem(
                422,
                "The request is not valid; see `errors`.",
                "VALIDATION_FAILED",
                [
                    body_error(
                        "/types/1",
                        "Input should be 'activity', 'government_report', 'objective', 'partner', "
                        "'ratification' or 'work_plan'",
                    )
                ],
            ),
        ),
        (
            {"url": URL, "types": ["activity", "activity"]},
            problem(
                422,
                "The request is not valid; see `errors`.",
                "VALIDATION_FAILED",
                [body_error("/types", "names 'activity' twice")],
            ),
        ),
        (
            {"url": URL, "types": ["activity"], "filter": {"colour": "red"}},
            problem(
                422,
                "The request body is not valid.",
                "INVALID_FILTER",
                [body_error("/filter/colour", "is not a filter of the activities list")],
            ),
        ),
        (
            {"url": URL, "secret": "whsec_mine"},
            problem(
                422,
                "The request is not valid; see `errors`.",
                "VALIDATION_FAILED",
                [body_error("/secret", "Extra inputs are not permitted")],
            ),
        ),
    ],
    ids=["url-scheme", "unknown-type", "type-twice", "unknown-filter", "own-secret"],
)
def test_invalid_subscriptions_are_refused_as_problems(
    api: TestClient, keys: dict[str, Any], body: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = api.post("/v1/webhooks", json=body, headers=keys["admin"])
    assert assert_problem(response, 422, expected["code"]) == expected
    assert api.get("/v1/webhooks", headers=keys["admin"]).json() == {"items": []}


def test_a_filter_value_is_checked_as_its_list_checks_it(api: TestClient, keys: dict[str, Any]) -> None:
    body = {"url": URL, "types": ["activity"], "filter": {"status": "nonsense"}}
    response = api.post("/v1/webhooks", json=body, headers=keys["admin"])
    errors = assert_problem(response, 422, "INVALID_FILTER")["errors"]
    assert [e["pointer"] for e in errors] == ["/filter/status/0"]
    assert errors[0]["message"].endswith("(in the activities list)")


def test_a_body_must_be_json(api: TestClient, keys: dict[str, Any]) -> None:
    headers = {**keys["admin"], "Content-Type": "text/plain"}
    assert_problem(
        api.post("/v1/webhooks", content=json.dumps({"url": URL}), headers=headers), 415, "UNSUPPORTED_MEDIA_TYPE"
    )
    created = subscribe(api, keys["admin"])
    patch = api.patch(f"/v1/webhooks/{created['id']}", content='{"active": false}', headers=headers)
    assert_problem(patch, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_a_patch_checks_the_filter_again_with_new_types(
    api: TestClient, keys: dict[str, Any], session: Session
) -> None:
    # `status` filters activities and government reports, not partners.
    created = subscribe(api, keys["admin"], types=["activity"], filter={"status": ["planned"]})
    url = f"/v1/webhooks/{created['id']}"
    response = api.patch(url, json={"types": ["activity", "partner"]}, headers=keys["admin"])
    assert assert_problem(response, 422, "INVALID_FILTER")["errors"] == [
        body_error("/filter/status", "is not a filter of the partners list")
    ]
    assert stored(session, created["id"]).types == ["activity"]
    changed = api.patch(url, json={"types": ["partner"], "filter": None}, headers=keys["admin"])
    assert changed.status_code == 200, changed.text
    assert (changed.json()["types"], changed.json()["filter"]) == (["partner"], {})


def test_a_patch_cannot_clear_the_url_and_null_puts_the_rest_back_to_their_defaults(
    api: TestClient, keys: dict[str, Any]
) -> None:
    created = subscribe(api, keys["admin"], types=["activity"], filter={"status": "planned"}, description="x")
    url = f"/v1/webhooks/{created['id']}"
    response = api.patch(url, json={"url": None}, headers=keys["admin"])
    assert assert_problem(response, 422, "VALIDATION_FAILED") == problem(
        422,
        "Required fields cannot be cleared.",
        "VALIDATION_FAILED",
        [body_error("/url", "is required and cannot be null")],
    )
    assert api.patch(url, json={"active": False}, headers=keys["admin"]).json()["active"] is False
    cleared = api.patch(
        url, json={"types": None, "filter": None, "description": None, "active": None}, headers=keys["admin"]
    ).json()
    assert (cleared["types"], cleared["filter"], cleared["description"], cleared["active"]) == ([], {}, None, True)


@pytest.mark.parametrize("field", [{"partner_id": None}, {"created_by": "me"}, {"secret": "whsec_x"}, {"id": "x"}])
def test_a_patch_cannot_set_what_the_service_owns(api: TestClient, keys: dict[str, Any], field: dict[str, Any]) -> None:
    created = subscribe(api, keys["partner_a"])
    response = api.patch(f"/v1/webhooks/{created['id']}", json=field, headers=keys["partner_a"])
    assert_problem(response, 422, "VALIDATION_FAILED")


# Conditional requests


def test_etags_make_reads_conditional_and_writes_safe(api: TestClient, keys: dict[str, Any], session: Session) -> None:
    created = subscribe(api, keys["admin"])
    url = f"/v1/webhooks/{created['id']}"
    read = api.get(url, headers=keys["admin"])
    etag = read.headers["etag"]
    unchanged = api.get(url, headers={**keys["admin"], "If-None-Match": etag})
    assert (unchanged.status_code, unchanged.content, unchanged.headers["etag"]) == (304, b"", etag)

    changed = api.patch(url, json={"description": "v2"}, headers={**keys["admin"], "If-Match": etag})
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] != etag
    assert changed.headers["etag"] == api.get(url, headers=keys["admin"]).headers["etag"]

    stale = {**keys["admin"], "If-Match": etag}
    assert_problem(api.patch(url, json={"description": "v3"}, headers=stale), 412, "PRECONDITION_FAILED")
    assert_problem(api.delete(url, headers=stale), 412, "PRECONDITION_FAILED")
    assert_problem(api.post(f"{url}/rotate-secret", headers=stale), 412, "PRECONDITION_FAILED")
    assert_problem(
        api.patch(url, json={}, headers={**keys["admin"], "If-Match": f"W/{changed.headers['etag']}"}),
        412,
        "PRECONDITION_FAILED",
    )
    webhook = stored(session, created["id"])
    assert webhook.description == "v2"
    assert open_secret(webhook.secret) == created["secret"]
    assert api.delete(url, headers={**keys["admin"], "If-Match": changed.headers["etag"]}).status_code == 204


def test_a_patch_that_changes_nothing_changes_nothing(api: TestClient, keys: dict[str, Any], session: Session) -> None:
    created = subscribe(api, keys["admin"], description="same")
    response = api.patch(
        f"/v1/webhooks/{created['id']}", json={"description": "same", "url": URL}, headers=keys["admin"]
    )
    assert response.json()["updated_at"] == created["updated_at"]
    assert [e.action for e in audit_of(session, created["id"])] == ["create"]


# Lists


def test_lists_page_with_a_cursor_and_filter(api: TestClient, keys: dict[str, Any]) -> None:
    made = [
        subscribe(api, keys["admin"], types=["activity"]),
        subscribe(api, keys["admin"], types=["partner"], active=False),
        subscribe(api, keys["admin"]),
        subscribe(api, keys["partner_a"], types=["activity", "government_report"]),
    ]
    ids = [w["id"] for w in made]

    def listed(response: Any) -> list[str]:
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    first = api.get("/v1/webhooks", params={"limit": 3}, headers=keys["admin"])
    assert listed(first) == ids[:3]
    cursor = first.json()["next_cursor"]
    assert first.headers["link"].endswith('; rel="next"')
    assert "cursor=" in first.headers["link"]
    last = api.get("/v1/webhooks", params={"limit": 3, "cursor": cursor}, headers=keys["admin"])
    assert listed(last) == ids[3:]
    assert "next_cursor" not in last.json()
    assert "link" not in last.headers

    assert listed(api.get("/v1/webhooks", params={"active": False}, headers=keys["admin"])) == [ids[1]]
    by_type = api.get("/v1/webhooks", params={"type": "activity"}, headers=keys["admin"])
    assert listed(by_type) == [ids[0], ids[2], ids[3]]  # every type's included
    either = api.get("/v1/webhooks", params={"type": ["government_report", "partner"]}, headers=keys["admin"])
    assert listed(either) == ids[1:]
    assert listed(api.get("/v1/webhooks", headers=keys["partner_a"])) == [ids[3]]

    mismatch = api.get("/v1/webhooks", params={"limit": 3, "cursor": cursor, "active": True}, headers=keys["admin"])
    assert_problem(mismatch, 400, "CURSOR_MISMATCH")
    assert_problem(api.get("/v1/webhooks", params={"cursor": "x.y"}, headers=keys["admin"]), 400, "INVALID_CURSOR")
    assert_problem(api.get("/v1/webhooks", params={"limit": 201}, headers=keys["admin"]), 422, "VALIDATION_FAILED")
    assert_problem(api.get("/v1/webhooks", params={"colour": "red"}, headers=keys["admin"]), 422, "VALIDATION_FAILED")
    etag = first.headers["etag"]
    again = api.get("/v1/webhooks", params={"limit": 3}, headers={**keys["admin"], "If-None-Match": etag})
    assert again.status_code == 304


# Lifecycle


def test_reactivating_a_disabled_subscription_clears_its_failure(
    api: TestClient, keys: dict[str, Any], session: Session
) -> None:
    created = subscribe(api, keys["partner_a"])
    webhook = stored(session, created["id"])
    since = utcnow() - timedelta(days=3)
    webhook.active = False
    webhook.disabled_at = utcnow() - timedelta(hours=1)
    webhook.disabled_reason = "The receiver failed every attempt for 72 hours."
    webhook.failures = 40
    webhook.failing_since = since
    webhook.next_attempt_at = utcnow() + timedelta(days=30)
    session.add(webhook)
    session.flush()
    shown = api.get(f"/v1/webhooks/{created['id']}", headers=keys["partner_a"]).json()
    assert (shown["active"], shown["disabled_reason"]) == (False, "The receiver failed every attempt for 72 hours.")
    assert shown["disabled_at"] is not None
    assert shown["failing_since"] is not None

    before = utcnow()
    response = api.patch(f"/v1/webhooks/{created['id']}", json={"active": True}, headers=keys["partner_a"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["active"], body["disabled_at"], body["disabled_reason"], body["failing_since"]) == (
        True,
        None,
        None,
        None,
    )
    webhook = stored(session, created["id"])
    assert (webhook.failures, webhook.failing_since, webhook.disabled_at) == (0, None, None)
    assert before <= as_utc(webhook.next_attempt_at) <= utcnow()
    assert audit_of(session, created["id"])[-1].changes["disabled_reason"] == [
        "The receiver failed every attempt for 72 hours.",
        None,
    ]


def test_a_deleted_subscription_is_gone(api: TestClient, keys: dict[str, Any], session: Session) -> None:
    created = subscribe(api, keys["partner_a"])
    url = f"/v1/webhooks/{created['id']}"
    response = api.delete(url, headers=keys["partner_a"])
    assert (response.status_code, response.content) == (204, b"")
    assert_problem(api.get(url, headers=keys["partner_a"]), 404, "NOT_FOUND")
    assert_problem(api.delete(url, headers=keys["partner_a"]), 404, "NOT_FOUND")
    session.expire_all()
    assert session.get(Webhook, uuid.UUID(created["id"])) is None


def test_a_new_subscription_starts_after_the_changes_made_before_it(
    api: TestClient, keys: dict[str, Any], session: Session
) -> None:
    make_activity(session)
    head = session.exec(select(SyncState)).one().change_seq
    assert head > 0
    created = subscribe(api, keys["admin"])
    assert created["delivered_through"] == head
    assert stored(session, created["id"]).position_seq == head + 1


def test_no_webhook_validation_error_echoes_the_body(api: TestClient, keys: dict[str, Any]) -> None:
    body = {"url": URL, "types": "whsec_echo", "description": 7}
    response = api.post("/v1/webhooks", json=body, headers=keys["admin"])
    assert_problem(response, 422, "VALIDATION_FAILED")
    assert "whsec_echo" not in response.text


def test_no_log_line_holds_a_secret(api: TestClient, keys: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    created = subscribe(api, keys["partner_a"])
    rotated = api.post(f"/v1/webhooks/{created['id']}/rotate-secret", headers=keys["partner_a"]).json()
    api.get(f"/v1/webhooks/{created['id']}", headers=keys["partner_a"])
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert created["secret"] not in caplog.text
    assert rotated["secret"] not in caplog.text


def test_a_patched_url_is_checked_as_a_new_one_is(api: TestClient, keys: dict[str, Any], session: Session) -> None:
    created = subscribe(api, keys["partner_a"])
    url = f"/v1/webhooks/{created['id']}"
    refused = api.patch(url, json={"url": "file:///etc/passwd"}, headers=keys["partner_a"])
    assert assert_problem(refused, 422, "TARGET_REFUSED")["errors"] == [
        body_error("/url", "The URL must be absolute, http:// or https:// with a host.")
    ]
    assert stored(session, created["id"]).url == URL
    moved = api.patch(url, json={"url": "https://other.example.org/in"}, headers=keys["partner_a"])
    assert moved.json()["url"] == "https://other.example.org/in"
    assert audit_of(session, created["id"])[-1].changes == {"url": [URL, "https://other.example.org/in"]}


def test_a_target_is_checked_before_the_subscription_is_read_or_locked(
    api: TestClient, keys: dict[str, Any], connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real check resolves the name: it must not wait with a row lock (or SQLite's write lock) held."""
    created = subscribe(api, keys["admin"])
    statements: list[str] = []
    seen_at_check: list[list[str]] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    def check(url: str) -> str:
        seen_at_check.append(list(statements))
        return url

    monkeypatch.setattr("app.webhooks.service.check_target", check)
    event.listen(connection, "before_cursor_execute", note)
    try:
        api.patch(f"/v1/webhooks/{created['id']}", json={"url": URL + "/2"}, headers=keys["admin"])
        assert any("FROM webhook" in s for s in statements)  # the patch did read it, after the check
        statements.clear()
        api.post("/v1/webhooks", json={"url": URL, "partner_id": keys["partner_a_id"]}, headers=keys["admin"])
    finally:
        event.remove(connection, "before_cursor_execute", note)
    assert len(seen_at_check) == 2
    for before in seen_at_check:
        assert [s for s in before if re.search(r"\b(webhook|partner|sync_state)\b", s)] == []


def test_the_openapi_document_lists_the_types_a_subscription_takes() -> None:
    schema = app.openapi()
    types = schema["components"]["schemas"]["WebhookCreate"]["properties"]["types"]
    assert types["uniqueItems"] is True
    assert schema["components"]["schemas"]["SyncType"]["enum"] == sorted(kind.name for kind in KINDS)
    assert "secret" not in schema["components"]["schemas"]["WebhookPublic"]["properties"]
    create = schema["paths"]["/v1/webhooks"]["post"]
    assert "Idempotency-Key" in create["description"]
    assert not any(p["name"].lower() == "idempotency-key" for p in create.get("parameters", []))
