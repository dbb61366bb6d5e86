"""Timestamps in (`updated_after`, a key's `expires_at`): RFC 3339, or a 422 that points at the
value; never a number read as seconds since 1970."""

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.access.keys import new_key
from app.main import app
from app.models.access import Role
from app.records import TIMESTAMP_PATTERN, format_timestamp, utcnow
from tests.factories import make_activity
from tests.problems import invalid_request

NOT_A_TIMESTAMP = "must be a timestamp written YYYY-MM-DDTHH:MM:SSZ (RFC 3339)"
OUT_OF_RANGE = "is outside the range of dates this service stores"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", NOT_A_TIMESTAMP),  # pydantic alone reads it as 1970-01-01T00:00:00Z
        ("1700000000", NOT_A_TIMESTAMP),
        ("1700000000.5", NOT_A_TIMESTAMP),
        ("2026-01-01", NOT_A_TIMESTAMP),  # a day is not an instant
        ("2026-01-01T00:00:00", NOT_A_TIMESTAMP),  # nor a time without its offset
        ("2026-01-01T00:00Z", NOT_A_TIMESTAMP),  # nor one without its seconds
        ("2026-01-01 00:00:00Z", NOT_A_TIMESTAMP),
        ("2026-01-01T25:00:00Z", NOT_A_TIMESTAMP),
        ("2026-1-1T00:00:00Z", NOT_A_TIMESTAMP),
        ("now", NOT_A_TIMESTAMP),
        ("0000-01-01T00:00:00Z", NOT_A_TIMESTAMP),  # there is no year 0
        ("10000-01-01T00:00:00Z", NOT_A_TIMESTAMP),
        ("2026-02-30T00:00:00Z", None),  # the day the month lacks: pydantic's own message
    ],
)
def test_updated_after_is_an_rfc_3339_instant(client: TestClient, value: str, message: str | None) -> None:
    response = client.get("/v1/activities", params={"updated_after": value})
    assert response.status_code == 422, response.text
    if message is not None:
        assert response.json() == invalid_request("/updated_after", message, "query")
    else:
        assert response.json()["errors"][0]["pointer"] == "/updated_after"


def test_updated_after_reads_offsets(client: TestClient, session: Session) -> None:
    activity = make_activity(session)
    session.flush()
    changed = activity.updated_at
    before, after = changed - timedelta(hours=1), changed + timedelta(hours=1)
    for value, found in [
        (format_timestamp(before), True),
        (format_timestamp(after), False),
        ((before + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00"), True),  # the same instant
        ((after + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S+02:00"), False),
    ]:
        response = client.get("/v1/activities", params={"updated_after": value})
        assert response.status_code == 200, response.text
        assert [item["id"] for item in response.json()["items"]] == ([str(activity.id)] if found else []), value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (4_102_444_800, NOT_A_TIMESTAMP),  # 2100-01-01 as seconds since 1970
        ("4102444800", NOT_A_TIMESTAMP),
        (True, NOT_A_TIMESTAMP),
        ("2100-01-01", NOT_A_TIMESTAMP),
        ("9999-12-31T23:30:00-01:00", OUT_OF_RANGE),  # in UTC, year 10000
    ],
)
def test_a_keys_expiry_is_an_rfc_3339_instant(
    anonymous_client: TestClient, session: Session, value: Any, message: str
) -> None:
    _record, admin = new_key(session, name="admin", role=Role.ADMIN)
    session.flush()
    response = anonymous_client.post(
        "/v1/api-keys",
        json={"name": "nightly sync", "role": "reader", "expires_at": value},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert response.status_code == 422, response.text
    assert response.json() == invalid_request("/expires_at", message)
    listed = anonymous_client.get("/v1/api-keys", headers={"Authorization": f"Bearer {admin}"})
    assert [key["name"] for key in listed.json()["items"]] == ["admin"]


def test_a_key_may_expire_at_any_instant_ahead(anonymous_client: TestClient, session: Session) -> None:
    _record, admin = new_key(session, name="admin", role=Role.ADMIN)
    session.flush()
    expires = format_timestamp(utcnow() + timedelta(days=30))
    for value in (expires, "9999-12-31T23:59:59Z"):
        response = anonymous_client.post(
            "/v1/api-keys",
            json={"name": f"until {value}", "role": "reader", "expires_at": value},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert response.status_code == 201, response.text
        assert response.json()["expires_at"].startswith(value.removesuffix("Z")[:19])


def test_the_document_declares_timestamps_as_it_reads_them() -> None:
    document = app.openapi()
    (parameter,) = [p for p in document["paths"]["/v1/activities"]["get"]["parameters"] if p["name"] == "updated_after"]
    schema = parameter["schema"]
    declared = next(s for s in schema.get("anyOf", [schema]) if s.get("type") == "string")
    assert (declared["format"], declared["pattern"]) == ("date-time", TIMESTAMP_PATTERN)
