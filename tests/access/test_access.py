"""Who may do what, with real keys: default-deny, roles, partner ownership, broken keys, audit
(who reads private fields: test_private_fields.py)."""

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

from app.access.keys import KEY_PATTERN, new_key
from app.config import get_settings
from app.main import app
from app.models.access import ApiKey, Role
from app.records import utcnow
from tests.factories import make_activity, make_partner
from tests.problems import assert_problem, problem


@pytest.fixture
def anonymous(anonymous_client: TestClient) -> TestClient:
    return anonymous_client


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
        made[name] = key
        made[f"{name}_key_id"] = record.key_id
    revoked, made["revoked"] = new_key(session, name="revoked", role=Role.EDITOR)
    revoked.revoked_at = utcnow()
    _expired, made["expired"] = new_key(
        session, name="expired", role=Role.EDITOR, expires_at=utcnow() - timedelta(minutes=1)
    )
    activity = make_activity(session)
    made["objective_id"] = str(activity.objective_id)
    made["activity_id"] = str(activity.id)
    session.flush()
    return made


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def activity_body(keys: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"objective_id": keys["objective_id"], "code": "ACC-1", "title": "Access", "type": "meeting"} | changes


WRITES = [
    (path, method)
    for path, operations in app.openapi()["paths"].items()
    for method in operations
    if method in ("post", "put", "patch", "delete")
]


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "ref-1" if m.group(0) == "{external_ref}" else str(uuid.uuid4()), path)


@pytest.mark.parametrize(("path", "method"), WRITES, ids=[f"{m} {p}" for p, m in WRITES])
def test_every_write_is_refused_anonymously_and_with_a_reader_key(
    anonymous: TestClient, keys: dict[str, Any], path: str, method: str
) -> None:
    url = _url(path)
    response = anonymous.request(method, url, json={})
    assert_problem(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"].startswith("Bearer")
    response = anonymous.request(method, url, json={}, headers=bearer(keys["reader"]))
    assert_problem(response, 403, "FORBIDDEN")


ADMIN_ONLY = [
    ("get", "/v1/api-keys"),
    ("get", "/v1/audit"),
    ("post", "/v1/api-keys"),
    ("get", f"/v1/api-keys/{uuid.uuid4()}"),
]


@pytest.mark.parametrize(("method", "url"), ADMIN_ONLY)
def test_admin_operations_need_an_admin(anonymous: TestClient, keys: dict[str, Any], method: str, url: str) -> None:
    assert_problem(anonymous.request(method, url, json={}), 401, "UNAUTHORIZED")
    for role in ("reader", "partner_a", "editor"):
        assert_problem(anonymous.request(method, url, json={}, headers=bearer(keys[role])), 403, "FORBIDDEN")


def test_every_operation_declares_its_role_and_the_bearer_scheme() -> None:
    schema = app.openapi()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, operations in schema["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            assert operation["x-required-role"] in {"anonymous", "partner", "editor", "admin"}, (method, path)
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
            assert {"HTTPBearer": []} in operation["security"], (method, path)
            if method != "get":
                assert operation["x-required-role"] != "anonymous", (method, path)


CHALLENGE = 'Bearer realm="workplan"'


@pytest.mark.parametrize(
    ("method", "url", "detail"),
    [
        ("post", "/v1/partners", "Writing needs a key."),
        ("get", "/v1/api-keys", "This needs a key with the admin role."),
        ("get", "/metrics", "The metrics need an admin key."),
    ],
)
def test_a_request_without_a_key_is_challenged_without_an_error_code(
    anonymous: TestClient, method: str, url: str, detail: str
) -> None:
    """RFC 6750 3.1: a request that carried no credentials at all gets no error code."""
    response = anonymous.request(method, url, json={})
    assert assert_problem(response, 401, "UNAUTHORIZED") == problem(401, detail, "UNAUTHORIZED")
    assert response.headers["www-authenticate"] == CHALLENGE


@pytest.mark.parametrize(
    ("header", "challenge"),
    [
        ("Basic dXNlcjpwYXNz", CHALLENGE),  # another scheme: no Bearer credentials, so no error code
        ("Bearer", f'{CHALLENGE}, error="invalid_request"'),
        ("bearer  ", f'{CHALLENGE}, error="invalid_request"'),
        ("Bearer not-a-key", f'{CHALLENGE}, error="invalid_token"'),
        ("Bearer wp_0123456789ab_" + "A" * 43, f'{CHALLENGE}, error="invalid_token"'),
    ],
)
def test_broken_keys_are_401(anonymous: TestClient, keys: dict[str, Any], header: str, challenge: str) -> None:
    response = anonymous.post("/v1/activities", json=activity_body(keys), headers={"Authorization": header})
    assert_problem(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"] == challenge
    # Also on reads: a bad key is not quietly treated as no key.
    assert_problem(anonymous.get("/v1/activities", headers={"Authorization": header}), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("which", ["revoked", "expired"])
def test_revoked_and_expired_keys_are_401(anonymous: TestClient, keys: dict[str, Any], which: str) -> None:
    response = anonymous.post("/v1/activities", json=activity_body(keys), headers=bearer(keys[which]))
    assert_problem(response, 401, "UNAUTHORIZED")


def test_a_key_in_the_url_is_refused(anonymous: TestClient, keys: dict[str, Any]) -> None:
    response = anonymous.get(f"/v1/activities/{keys['activity_id']}", params={"api_key": keys["editor"]})
    assert_problem(response, 400, "KEY_IN_URL")


def test_partner_keys_own_what_they_create_and_touch_nothing_else(anonymous: TestClient, keys: dict[str, Any]) -> None:
    a, b = bearer(keys["partner_a"]), bearer(keys["partner_b"])
    created = anonymous.post("/v1/activities", json=activity_body(keys), headers=a)
    assert created.status_code == 201, created.text
    mine = created.json()
    assert mine["owner_partner_id"] == keys["partner_a_id"]
    url = f"/v1/activities/{mine['id']}"

    assert_problem(anonymous.patch(url, json={"title": "Taken"}, headers=b), 403, "FORBIDDEN")
    assert_problem(anonymous.delete(url, headers=b), 403, "FORBIDDEN")
    # Records nobody owns (the seed's, the coordinator's) are not a partner's to change either.
    seeded = f"/v1/activities/{keys['activity_id']}"
    assert_problem(anonymous.patch(seeded, json={"title": "Taken"}, headers=a), 403, "FORBIDDEN")
    assert anonymous.get(url).json()["title"] == "Access"

    assert anonymous.patch(url, json={"title": "Mine"}, headers=a).status_code == 200
    assert anonymous.patch(url, json={"title": "Edited"}, headers=bearer(keys["editor"])).status_code == 200
    assert anonymous.delete(url, headers=a).status_code == 204


def test_a_partner_key_cannot_create_for_another_owner(anonymous: TestClient, keys: dict[str, Any]) -> None:
    body = activity_body(keys, owner_partner_id=keys["partner_b_id"])
    assert_problem(anonymous.post("/v1/activities", json=body, headers=bearer(keys["partner_a"])), 403, "FORBIDDEN")
    put = anonymous.put("/v1/activities/by-ref/x1", json=body, headers=bearer(keys["partner_a"]))
    assert_problem(put, 403, "FORBIDDEN")


def test_a_partner_keys_by_ref_put_takes_the_owner_from_the_key(anonymous: TestClient, keys: dict[str, Any]) -> None:
    response = anonymous.put(
        "/v1/activities/by-ref/ecpat-17", json=activity_body(keys), headers=bearer(keys["partner_a"])
    )
    assert response.status_code == 201, response.text
    assert response.json()["owner_partner_id"] == keys["partner_a_id"]
    # Partner B's reference "ecpat-17" is another record of B's.
    other = anonymous.put(
        "/v1/activities/by-ref/ecpat-17", json=activity_body(keys, code="ACC-2"), headers=bearer(keys["partner_b"])
    )
    assert other.status_code == 201
    assert other.json()["id"] != response.json()["id"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/partners", {"name": "X", "kind": "ngo"}),
        (
            "post",
            "/v1/work-plans",
            {"code": "W", "title": "W", "period_start": "2004-01-01", "period_end": "2004-12-31"},
        ),
        ("post", "/v1/api-keys", {"name": "x", "role": "admin"}),
    ],
)
def test_partner_keys_write_only_their_collections(
    anonymous: TestClient, keys: dict[str, Any], method: str, path: str, body: dict[str, Any]
) -> None:
    assert_problem(anonymous.request(method, path, json=body, headers=bearer(keys["partner_a"])), 403, "FORBIDDEN")


@pytest.mark.parametrize("field", [{"version": 7}, {"id": str(uuid.uuid4())}, {"created_at": "2003-01-01T00:00:00Z"}])
def test_server_owned_fields_cannot_be_assigned(
    anonymous: TestClient, keys: dict[str, Any], field: dict[str, Any]
) -> None:
    response = anonymous.post("/v1/activities", json=activity_body(keys) | field, headers=bearer(keys["editor"]))
    assert_problem(response, 422, "VALIDATION_FAILED")
    url = f"/v1/activities/{keys['activity_id']}"
    assert_problem(anonymous.patch(url, json=field, headers=bearer(keys["editor"])), 422, "VALIDATION_FAILED")
    owner = {"owner_partner_id": keys["partner_a_id"]}
    assert_problem(anonymous.patch(url, json=owner, headers=bearer(keys["editor"])), 422, "VALIDATION_FAILED")


def test_a_key_cannot_be_made_with_its_own_secret_or_a_role_it_invents(
    anonymous: TestClient, keys: dict[str, Any]
) -> None:
    admin = bearer(keys["admin"])
    for body in (
        {"name": "x", "role": "superuser"},
        {"name": "x", "role": "reader", "secret_hash": "0" * 64},
        {"name": "x", "role": "reader", "key_id": "0123456789ab"},
        {"name": "x", "role": "partner"},
    ):
        assert_problem(anonymous.post("/v1/api-keys", json=body, headers=admin), 422, "VALIDATION_FAILED")


def test_anonymous_reads_can_be_switched_off(
    anonymous: TestClient, keys: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "anonymous_read", False)
    refused = anonymous.get("/v1/activities")
    assert assert_problem(refused, 401, "UNAUTHORIZED") == problem(
        401, "Reading needs a key on this service.", "UNAUTHORIZED"
    )
    assert refused.headers["www-authenticate"] == CHALLENGE
    assert anonymous.get("/v1/activities", headers=bearer(keys["reader"])).status_code == 200


def test_the_audit_log_says_who_changed_a_status_and_from_what(anonymous: TestClient, keys: dict[str, Any]) -> None:
    url = f"/v1/activities/{keys['activity_id']}"
    before = anonymous.get(url).json()["status"]
    assert anonymous.patch(url, json={"status": "completed"}, headers=bearer(keys["editor"])).status_code == 200
    page = anonymous.get(
        "/v1/audit", params={"record_id": keys["activity_id"], "limit": 1}, headers=bearer(keys["admin"])
    ).json()
    (entry,) = page["items"]
    assert entry["actor"] == keys["editor_key_id"]
    assert entry["action"] == "update"
    assert entry["record_type"] == "activity"
    assert entry["changes"] == {"status": [before, "completed"]}
    by_actor = anonymous.get("/v1/audit", params={"actor": keys["editor_key_id"]}, headers=bearer(keys["admin"]))
    assert [e["record_id"] for e in by_actor.json()["items"]] == [keys["activity_id"]]


def test_keys_made_and_revoked_through_the_api(anonymous: TestClient, keys: dict[str, Any]) -> None:
    admin = bearer(keys["admin"])
    made = anonymous.post("/v1/api-keys", json={"name": "sync", "role": "editor"}, headers=admin)
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    assert made.headers["cache-control"] == "no-store"
    listed = anonymous.get("/v1/api-keys", headers=admin).json()["items"]
    assert all("key" not in item and "secret_hash" not in item for item in listed)
    assert anonymous.post("/v1/activities", json=activity_body(keys), headers=bearer(key)).status_code == 201
    assert anonymous.delete(f"/v1/api-keys/{made.json()['id']}", headers=admin).status_code == 204
    assert_problem(
        anonymous.post("/v1/activities", json=activity_body(keys, code="ACC-3"), headers=bearer(key)),
        401,
        "UNAUTHORIZED",
    )


def test_no_table_holds_a_key_in_plain_text(session: Session, keys: dict[str, Any]) -> None:
    secrets = [keys[name] for name in ("admin", "editor", "reader", "partner_a", "partner_b", "revoked", "expired")]
    connection = session.connection()
    dump: list[str] = []
    for table in SQLModel.metadata.sorted_tables:
        for row in connection.execute(text(f"SELECT * FROM {table.name}")):
            dump.extend(str(value) for value in row)
    text_dump = "\n".join(dump)
    for key in secrets:
        assert key not in text_dump
        match = KEY_PATTERN.match(key)
        assert match is not None
        assert match.group(2) not in text_dump
    assert len(session.exec(select(ApiKey)).all()) >= len(secrets)


def test_the_audit_log_pages_newest_first_with_a_cursor(anonymous: TestClient, keys: dict[str, Any]) -> None:
    url = f"/v1/activities/{keys['activity_id']}"
    for title in ("One", "Two", "Three"):
        assert anonymous.patch(url, json={"title": title}, headers=bearer(keys["editor"])).status_code == 200
    admin = bearer(keys["admin"])
    params: dict[str, Any] = {"record_id": keys["activity_id"], "limit": 2}
    first = anonymous.get("/v1/audit", params=params, headers=admin)
    assert 'rel="next"' in first.headers["link"]
    second = anonymous.get("/v1/audit", params=params | {"cursor": first.json()["next_cursor"]}, headers=admin)
    titles = [
        e["changes"]["title"][1] for e in first.json()["items"] + second.json()["items"] if "title" in e["changes"]
    ]
    assert titles[:3] == ["Three", "Two", "One"]
    other = anonymous.get("/v1/audit", params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=admin)
    assert_problem(other, 400, "CURSOR_MISMATCH")
    assert_problem(anonymous.get("/v1/audit", params={"cursor": "x.y"}, headers=admin), 400, "INVALID_CURSOR")


def test_making_and_revoking_keys_is_in_the_audit_log(anonymous: TestClient, keys: dict[str, Any]) -> None:
    admin = bearer(keys["admin"])
    made = anonymous.post("/v1/api-keys", json={"name": "audited", "role": "reader"}, headers=admin).json()
    anonymous.delete(f"/v1/api-keys/{made['id']}", headers=admin)
    entries = anonymous.get("/v1/audit", params={"record_id": made["id"]}, headers=admin).json()["items"]
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("revoke", keys["admin_key_id"]),
        ("create", keys["admin_key_id"]),
    ]
    assert entries[1]["changes"]["role"] == [None, "reader"]
    assert made["key"] not in str(entries)


def test_a_nul_in_a_key_name_or_an_audit_filter_is_422_not_500(anonymous: TestClient, keys: dict[str, Any]) -> None:
    # PostgreSQL cannot hold NUL in text: it reached the database and came back as 500.
    admin = bearer(keys["admin"])
    made = anonymous.post("/v1/api-keys", json={"name": "a\x00b", "role": "reader"}, headers=admin)
    assert made.status_code == 422
    assert made.json()["errors"] == [
        {"in": "body", "pointer": "/name", "message": "Text must not contain NUL characters"}
    ]
    for name in ("actor", "record_type"):
        listed = anonymous.get("/v1/audit", params={name: "a\x00b"}, headers=admin)
        assert listed.status_code == 422, name
        assert [e["pointer"] for e in listed.json()["errors"]] == [f"/{name}"]


def test_a_unique_key_taken_by_a_concurrent_request_is_409_not_500(
    anonymous: TestClient, keys: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two first PUTs of one reference can both pass the service's check; the index stops one."""
    editor = bearer(keys["editor"])
    body = activity_body(keys, owner_partner_id=keys["partner_a_id"])
    assert anonymous.put("/v1/activities/by-ref/race", json=body, headers=editor).status_code == 201
    # The second request's look-ups ran before the first committed: they found nothing.
    monkeypatch.setattr("app.activities.service.ensure_ownership", lambda *_args, **_kwargs: None)
    clash = anonymous.post(
        "/v1/activities",
        json=activity_body(keys, code="ACC-9", owner_partner_id=keys["partner_a_id"], external_ref="race"),
        headers=editor,
    )
    assert_problem(clash, 409, "CONFLICT")
    assert len(anonymous.get("/v1/activities", params={"code": "ACC-9"}).json()["items"]) == 0


def test_a_partner_may_monitor_another_partners_report_and_its_owner_sees_what_blocks_a_delete(
    anonymous: TestClient, keys: dict[str, Any], root_path: str
) -> None:
    report = anonymous.post(
        "/v1/government-reports",
        json={"country": "MEX", "instrument": "OPSC", "kind": "initial"},
        headers=bearer(keys["partner_a"]),
    ).json()
    monitoring = anonymous.post(
        "/v1/activities",
        json=activity_body(keys, government_report_ids=[report["id"]]),
        headers=bearer(keys["partner_b"]),
    )
    assert monitoring.status_code == 201, monitoring.text
    blocked = anonymous.delete(f"/v1/government-reports/{report['id']}", headers=bearer(keys["partner_a"]))
    blocking = f"/v1/activities/{monitoring.json()['id']}"
    # Paths as the caller requests them: behind a proxy's prefix, with it (as Location is).
    assert assert_problem(blocked, 409, "IN_USE")["blocked_by"] == [root_path + blocking]
    # A reads what blocks it, and cannot change it: B unlinks, or an editor does.
    assert anonymous.get(blocking, headers=bearer(keys["partner_a"])).json()["code"] == "ACC-1"
    unlink: dict[str, list[str]] = {"government_report_ids": []}
    assert anonymous.patch(blocking, json=unlink, headers=bearer(keys["partner_a"])).status_code == 403
    assert anonymous.patch(blocking, json=unlink, headers=bearer(keys["partner_b"])).status_code == 200
    assert (
        anonymous.delete(f"/v1/government-reports/{report['id']}", headers=bearer(keys["partner_a"])).status_code == 204
    )


def test_a_partner_writes_its_own_records_behind_a_proxy_prefix(
    anonymous: TestClient, keys: dict[str, Any], root_path: str
) -> None:
    """`serve --root-path /wp` puts the prefix in each request's path: roles are decided by the route
    that matched, which the prefix does not change (the raw path once made this 403 under /wp)."""
    partner = bearer(keys["partner_a"])
    created = anonymous.post("/v1/activities", json=activity_body(keys), headers=partner)
    assert created.request.url.path == f"{root_path}/v1/activities"
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{root_path}/v1/activities/{created.json()['id']}"
    report = {"country": "MEX", "instrument": "OPSC", "kind": "initial"}
    assert anonymous.post("/v1/government-reports", json=report, headers=partner).status_code == 201
    # And the prefix opens nothing else: partners still write only their collections.
    refused = anonymous.post("/v1/partners", json={"name": "X", "kind": "ngo"}, headers=partner)
    assert assert_problem(refused, 403, "FORBIDDEN")["detail"] == (
        "A partner key may only write activities and government reports."
    )
