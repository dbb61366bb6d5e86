"""Abuse limits through the real HTTP stack: body size (413), request rate (429) and security headers."""

import hashlib
import json
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import limits.storage.memory
import limits.strategies
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func
from sqlmodel import Session, select
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import app.access.keys
import app.limits
from app.access.keys import KEY_PATTERN, new_key
from app.config import Settings, get_settings
from app.limits import MemoryRateLimiter, SecurityHeadersMiddleware
from app.models import Partner
from app.models.access import Role
from tests.conftest import fresh_database_url
from tests.factories import make_activity
from tests.live import live_server
from tests.problems import assert_problem, problem

LIMIT = 300
PARTNER = {"name": "ECPAT International", "kind": "network"}
# 30 s into a minute (1_800_000_000 is a multiple of 60), so no window boundary falls inside a test.
FROZEN_NOW = 1_800_000_030.0
SECURITY = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "frame-ancestors 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}
RATE_LIMIT_HEADERS = ("ratelimit", "ratelimit-policy", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


@pytest.fixture(autouse=True)
def limits_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small limits and a stopped clock for the rate limiter (each TestClient starts with empty buckets)."""
    settings = get_settings()
    monkeypatch.setattr(settings, "max_body_bytes", LIMIT)
    monkeypatch.setattr(settings, "rate_limit_per_minute", 600)
    monkeypatch.setattr(settings, "anonymous_rate_limit_per_minute", 600)
    clock = types.SimpleNamespace(time=lambda: FROZEN_NOW)
    for module in (limits.storage.memory, limits.strategies, app.limits):
        monkeypatch.setattr(module, "time", clock)


def make_key(session: Session, name: str = "limits") -> str:
    """A real editor's key: only a verified key counts apart from its address."""
    _record, key = new_key(session, name=name, role=Role.EDITOR)
    session.flush()
    return key


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def padded(body: dict[str, str], size: int) -> bytes:
    """Valid JSON of exactly `size` bytes: only the whitespace makes it too large."""
    text = json.dumps(body).encode()
    return text[:-1] + b" " * (size - len(text)) + b"}"


def chunks(data: bytes, size: int = 64) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def count_partners(session: Session) -> int:
    return session.exec(select(func.count()).select_from(Partner)).one()


def assert_security_headers(response: Any) -> None:
    for name, value in SECURITY.items():
        assert response.headers.get(name) == value, (name, response.headers)


# Request bodies


def test_a_body_at_the_limit_is_accepted(client: TestClient) -> None:
    response = client.post("/v1/partners", content=padded(PARTNER, LIMIT), headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text


def test_a_content_length_over_the_limit_is_413_and_writes_nothing(client: TestClient, session: Session) -> None:
    before = count_partners(session)
    response = client.post(
        "/v1/partners", content=padded(PARTNER, LIMIT + 1), headers={"Content-Type": "application/json"}
    )
    assert response.request.headers["content-length"] == str(LIMIT + 1)
    detail = f"The request body is larger than the limit of {LIMIT} bytes."
    assert assert_problem(response, 413, "CONTENT_TOO_LARGE") == problem(413, detail, "CONTENT_TOO_LARGE")
    assert_security_headers(response)
    assert "x-request-id" in response.headers
    assert count_partners(session) == before


def test_a_streamed_body_without_content_length_is_counted(client: TestClient, session: Session) -> None:
    before = count_partners(session)
    response = client.post(
        "/v1/partners", content=chunks(padded(PARTNER, 4 * LIMIT)), headers={"Content-Type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "CONTENT_TOO_LARGE")
    assert count_partners(session) == before
    # The same, under the limit, goes through.
    small = client.post(
        "/v1/partners", content=chunks(padded(PARTNER, LIMIT)), headers={"Content-Type": "application/json"}
    )
    assert small.status_code == 201, small.text
    assert count_partners(session) == before + 1


def test_a_route_that_ignores_its_body_does_not_run_on_an_oversized_one(client: TestClient, session: Session) -> None:
    partner = client.post("/v1/partners", json=PARTNER).json()
    response = client.request("DELETE", f"/v1/partners/{partner['id']}", content=chunks(b"x" * (2 * LIMIT)))
    assert_problem(response, 413, "CONTENT_TOO_LARGE")
    assert client.get(f"/v1/partners/{partner['id']}").status_code == 200


@pytest.mark.slow
def test_a_live_server_refuses_chunked_and_declared_bodies_over_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKPLAN_MAX_BODY_BYTES", str(LIMIT))
    json_type = {"Content-Type": "application/json"}
    with (
        live_server(fresh_database_url("sqlite", tmp_path), seed=False) as base,
        httpx.Client(base_url=base, headers=base.headers) as http,
    ):

        def partners() -> int:
            return len(http.get("/v1/partners", params={"limit": 200}).json()["items"])

        # Real chunked transfer coding, over the limit only in its later chunks.
        chunked = http.post("/v1/partners", content=chunks(padded(PARTNER, 4 * LIMIT)), headers=json_type)
        assert chunked.request.headers["transfer-encoding"] == "chunked"
        assert_problem(chunked, 413, "CONTENT_TOO_LARGE")
        assert_security_headers(chunked)
        declared = http.post("/v1/partners", content=padded(PARTNER, LIMIT + 1), headers=json_type)
        assert_problem(declared, 413, "CONTENT_TOO_LARGE")
        assert partners() == 0
        accepted = http.post("/v1/partners", content=chunks(padded(PARTNER, LIMIT)), headers=json_type)
        assert accepted.status_code == 201, accepted.text
        assert partners() == 1


# Request rate


def test_an_address_past_its_limit_gets_429_with_retry_after(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "anonymous_rate_limit_per_minute", 3)
    remaining = []
    for _ in range(3):
        response = client.get("/v1/objectives")
        assert response.status_code == 200
        assert response.headers["ratelimit-limit"] == "3"
        assert response.headers["ratelimit-policy"] == '"default";q=3;w=60'
        remaining.append(int(response.headers["ratelimit-remaining"]))
    assert remaining == [2, 1, 0]
    refused = client.get("/v1/objectives")
    body = assert_problem(refused, 429, "RATE_LIMITED")
    assert "address" in body["detail"]
    retry_after = int(refused.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert refused.headers["ratelimit-remaining"] == "0"
    assert int(refused.headers["ratelimit-reset"]) <= retry_after
    assert refused.headers["ratelimit"] == f'"default";r=0;t={refused.headers["ratelimit-reset"]}'
    assert_security_headers(refused)
    # Writes count too, and are refused before anything is read or written.
    assert_problem(client.post("/v1/partners", json=PARTNER), 429, "RATE_LIMITED")


def test_the_rate_limit_fields_of_the_current_draft_come_with_those_of_draft_06(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "anonymous_rate_limit_per_minute", 3)
    monkeypatch.setattr(get_settings(), "rate_limit_per_minute", 5)
    anonymous = client.get("/v1/objectives")
    keyed = client.get("/v1/objectives", headers=bearer(make_key(session)))
    # Half a minute into the window (the frozen clock), the first of each bucket's requests.
    assert {name: anonymous.headers[name] for name in RATE_LIMIT_HEADERS} == {
        "ratelimit": '"default";r=2;t=30',
        "ratelimit-policy": '"default";q=3;w=60',
        "ratelimit-limit": "3",
        "ratelimit-remaining": "2",
        "ratelimit-reset": "30",
    }
    assert (keyed.headers["ratelimit"], keyed.headers["ratelimit-policy"]) == (
        '"default";r=4;t=30',
        '"default";q=5;w=60',
    )


def test_keys_and_addresses_have_buckets_of_their_own(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "anonymous_rate_limit_per_minute", 1)
    monkeypatch.setattr(get_settings(), "rate_limit_per_minute", 2)
    first = bearer(make_key(session, "first"))
    second = {"Authorization": "bearer " + make_key(session, "second")}

    assert client.get("/v1/objectives").status_code == 200
    assert_problem(client.get("/v1/objectives"), 429, "RATE_LIMITED")
    # The address is spent; its keys are not.
    for _ in range(2):
        response = client.get("/v1/objectives", headers=first)
        assert response.status_code == 200
        assert response.headers["ratelimit-limit"] == "2"
    refused = client.get("/v1/objectives", headers=first)
    assert "API key" in assert_problem(refused, 429, "RATE_LIMITED")["detail"]
    assert "retry-after" in refused.headers
    assert client.get("/v1/objectives", headers=second).status_code == 200
    # A scheme other than Bearer is no key: it counts against the address.
    assert_problem(client.get("/v1/objectives", headers={"Authorization": "Basic Zm9vOmJhcg=="}), 429, "RATE_LIMITED")


def test_the_limiter_keeps_the_keys_id_not_its_secret(client: TestClient, session: Session) -> None:
    key = make_key(session)
    assert client.get("/v1/objectives", headers=bearer(key)).status_code == 200
    limiter = client.app_state["rate_limiter"]
    assert isinstance(limiter, MemoryRateLimiter)
    buckets = " ".join(limiter.storage.storage)
    key_id, secret = KEY_PATTERN.fullmatch(key).groups()  # type: ignore[union-attr]
    assert f"key:{key_id}" in buckets
    assert secret not in buckets
    assert hashlib.sha256(key.encode()).hexdigest() not in buckets


INVENTED = ["Bearer made-up-{n}", "Bearer wp_{n:012x}_" + "A" * 43]


@pytest.mark.parametrize("invented", INVENTED, ids=["not-a-key", "key-shaped"])
@pytest.mark.parametrize("path", ["/", "/reports", "/v1/nothing-here", "/nothing-here"])
def test_made_up_tokens_buy_no_requests_on_pages_and_404s(
    anonymous_client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch, path: str, invented: str
) -> None:
    """The pages and a 404 never check a token: a new one on each request once bought a new bucket
    (13 times the limit). Only a verified key counts apart from its address."""
    monkeypatch.setattr(get_settings(), "anonymous_rate_limit_per_minute", 3)
    monkeypatch.setattr(get_settings(), "rate_limit_per_minute", 100)
    statuses = []
    for n in range(3):
        response = anonymous_client.get(path, headers={"Authorization": invented.format(n=n)})
        statuses.append(response.status_code)
        assert response.headers["ratelimit-limit"] == "3"
    assert statuses == [404, 404, 404] if "nothing" in path else [200, 200, 200]
    refused = anonymous_client.get(path, headers={"Authorization": invented.format(n=99)})
    assert "address" in assert_problem(refused, 429, "RATE_LIMITED")["detail"]
    assert_problem(anonymous_client.get(path), 429, "RATE_LIMITED")
    # A verified key has a bucket of its own, at its own limit.
    keyed = anonymous_client.get(path, headers=bearer(make_key(session)))
    assert keyed.status_code == statuses[0]
    assert (keyed.headers["ratelimit-limit"], keyed.headers["ratelimit-remaining"]) == ("100", "99")


def test_a_request_looks_its_key_up_once(
    anonymous_client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limiter verifies the key and the access check takes its answer: one look-up, not two."""
    key = make_key(session)
    activity = make_activity(session)
    session.flush()
    lookups: list[str] = []
    look_up = app.access.keys._look_up

    def counting(sessions: Any, token: str) -> Any:
        lookups.append(token)
        return look_up(sessions, token)

    monkeypatch.setattr(app.access.keys, "_look_up", counting)
    invented = "wp_0123456789ab_" + "A" * 43
    requests: list[tuple[str, str, str, int]] = [
        ("GET", "/v1/objectives", key, 200),
        ("GET", "/", key, 200),
        ("GET", "/v1/nothing-here", key, 404),
        ("PATCH", f"/v1/activities/{activity.id}", key, 200),
        ("GET", "/v1/objectives", invented, 401),
        ("GET", "/", invented, 200),
    ]
    for limits_on in (True, False):
        monkeypatch.setattr(get_settings(), "rate_limit_per_minute", 100 if limits_on else 0)
        monkeypatch.setattr(get_settings(), "anonymous_rate_limit_per_minute", 100 if limits_on else 0)
        for method, url, token, status in requests:
            lookups.clear()
            response = anonymous_client.request(method, url, json={"title": "Once"}, headers=bearer(token))
            assert response.status_code == status, (method, url, response.text)
            # Limits off: the access check looks the key up, and nothing else does; a page, never.
            expected = 1 if limits_on or url.startswith("/v1/objectives") or method == "PATCH" else 0
            assert lookups == [token] * expected, (limits_on, method, url)


def test_service_and_docs_paths_are_not_limited(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "anonymous_rate_limit_per_minute", 1)
    for _ in range(3):
        for path in ("/healthz", "/readyz", "/openapi.json", "/docs", "/redoc"):
            response = client.get(path)
            assert response.status_code == 200, path
            assert not any(name in response.headers for name in RATE_LIMIT_HEADERS), path


def test_pages_count_like_the_api_and_their_static_files_do_not(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page is as costly as the lists it shows (/reports draws every State's calendar)."""
    monkeypatch.setattr(get_settings(), "anonymous_rate_limit_per_minute", 2)
    first = client.get("/")
    assert first.status_code == 200
    assert first.headers["ratelimit-remaining"] == "1"
    assert client.get("/v1/objectives").status_code == 200  # one bucket per address, pages and API
    refused = client.get("/reports")
    assert_problem(refused, 429, "RATE_LIMITED")
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    for _ in range(3):
        stylesheet = client.get("/static/pages.css")
        assert stylesheet.status_code == 200
        assert "ratelimit-limit" not in stylesheet.headers


def test_zero_turns_a_limit_off(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_settings(), "anonymous_rate_limit_per_minute", 0)
    for _ in range(5):
        response = client.get("/v1/objectives")
        assert response.status_code == 200
        assert "ratelimit-limit" not in response.headers


# Headers on every response


def test_success_error_and_not_found_responses_carry_every_header(client: TestClient) -> None:
    responses = [
        client.get("/v1/objectives"),
        client.post("/v1/partners", content=b"{", headers={"Content-Type": "application/json"}),
        client.get("/v1/partners/0b6f1f3e-5a4c-4a59-9d43-2f3c1d1e9a10"),
        client.get("/v1/nothing-here"),
    ]
    assert [r.status_code for r in responses] == [200, 400, 404, 404]
    for response in responses:
        assert_security_headers(response)
        assert all(name in response.headers for name in RATE_LIMIT_HEADERS), response.headers
        assert "cache-control" not in response.headers
    outside = client.get("/nothing-here")
    assert outside.status_code == 404
    assert_security_headers(outside)


def test_answers_to_credentialed_requests_are_not_stored(client: TestClient) -> None:
    response = client.get("/v1/objectives", headers={"Authorization": "Bearer some-key"})
    assert response.headers["cache-control"] == "no-store"
    assert client.get("/healthz", headers={"Authorization": "Bearer some-key"}).headers["cache-control"] == "no-store"
    assert "cache-control" not in client.get("/v1/objectives").headers


def test_a_route_keeps_its_own_cache_control() -> None:
    def cached(_request: object) -> PlainTextResponse:
        return PlainTextResponse("ok", headers={"Cache-Control": "private, max-age=60"})

    inner = Starlette(routes=[Route("/", cached)])
    with TestClient(SecurityHeadersMiddleware(inner)) as plain:
        response = plain.get("/", headers={"Authorization": "Bearer some-key"})
    assert response.headers["cache-control"] == "private, max-age=60"
    assert_security_headers(response)


def test_made_up_keys_count_against_the_address(anonymous_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each invented token would get a fresh bucket of its own; its 401 counts against the address."""
    monkeypatch.setattr(get_settings(), "anonymous_rate_limit_per_minute", 3)
    monkeypatch.setattr(get_settings(), "rate_limit_per_minute", 100)
    for n in range(3):
        invented = {"Authorization": f"Bearer wp_{n:012x}_" + "A" * 43}
        assert_problem(anonymous_client.get("/v1/objectives", headers=invented), 401, "UNAUTHORIZED")
    another = {"Authorization": "Bearer wp_ffffffffffff_" + "B" * 43}
    refused = anonymous_client.get("/v1/objectives", headers=another)
    assert "refused keys" in assert_problem(refused, 429, "RATE_LIMITED")["detail"]
    assert refused.headers["retry-after"] == "60"


def test_made_up_keys_sent_to_metrics_count_against_the_address(
    anonymous_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """/metrics is not rate limited, but it checks the key it is sent: guessing there costs too."""
    monkeypatch.setattr(get_settings(), "anonymous_rate_limit_per_minute", 2)
    for n in range(2):
        invented = {"Authorization": f"Bearer wp_{n:012x}_" + "A" * 43}
        assert_problem(anonymous_client.get("/metrics", headers=invented), 401, "UNAUTHORIZED")
    guess = anonymous_client.get("/metrics", headers={"Authorization": "Bearer wp_ffffffffffff_" + "B" * 43})
    assert "refused keys" in assert_problem(guess, 429, "RATE_LIMITED")["detail"]
    # Requests without a key are never refused for it.
    assert anonymous_client.get("/healthz").status_code == 200


def test_behind_a_proxy_with_a_root_path_v1_is_still_limited(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn --root-path /api puts the prefix in the path; the limiter matches the route's path."""
    monkeypatch.setattr(get_settings(), "anonymous_rate_limit_per_minute", 1)
    with TestClient(client.app, root_path="/api") as proxied:
        proxied.app_state["database"] = client.app_state["database"]  # the test's transaction, as `client`'s
        first = proxied.get("/api/v1/objectives")
        assert first.status_code == 200
        assert first.headers["ratelimit-limit"] == "1"
        assert_problem(proxied.get("/api/v1/objectives"), 429, "RATE_LIMITED")
        assert proxied.get("/api/healthz").status_code == 200


# Cross-origin requests

PARTNER_SITE = "https://dashboard.partner.example"
PREFLIGHT = {
    "Origin": PARTNER_SITE,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, idempotency-key, if-match",
}
EXPOSED = (
    "ETag, Link, Location, Content-Disposition, Retry-After, RateLimit, RateLimit-Policy, RateLimit-Limit, "
    "RateLimit-Remaining, RateLimit-Reset, X-Request-ID, Idempotent-Replayed"
)


def cors_headers(response: Any) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.startswith("access-control-")}


def test_without_cors_origins_no_answer_has_cors_headers(anonymous_client: TestClient) -> None:
    preflight = anonymous_client.options("/v1/partners", headers=PREFLIGHT)
    assert_problem(preflight, 405, "METHOD_NOT_ALLOWED")
    read = anonymous_client.get("/v1/partners", headers={"Origin": PARTNER_SITE})
    assert read.status_code == 200
    assert cors_headers(preflight) == cors_headers(read) == {}


def test_a_preflight_from_an_allowed_origin_needs_no_key_and_is_not_counted(
    anonymous_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "cors_origins", ["https://other.example", PARTNER_SITE])
    monkeypatch.setattr(get_settings(), "anonymous_rate_limit_per_minute", 1)
    for _ in range(3):
        preflight = anonymous_client.options("/v1/partners", headers=PREFLIGHT)
        assert preflight.status_code == 200
        assert cors_headers(preflight) == {
            "access-control-allow-origin": PARTNER_SITE,
            "access-control-allow-methods": "GET, HEAD, POST, PUT, PATCH, DELETE",
            "access-control-allow-headers": (
                "Accept, Accept-Language, Authorization, Content-Language, Content-Type, Idempotency-Key, "
                "If-Match, If-None-Match, X-Request-ID"
            ),
            "access-control-max-age": "600",
        }
        assert "ratelimit" not in preflight.headers
        assert "x-request-id" in preflight.headers
    # The page reads the public data, and what the service says about its limits.
    read = anonymous_client.get("/v1/partners", headers={"Origin": PARTNER_SITE})
    assert read.status_code == 200
    assert cors_headers(read) == {
        "access-control-allow-origin": PARTNER_SITE,
        "access-control-expose-headers": EXPOSED,
    }
    assert "Origin" in read.headers["vary"]
    refused = anonymous_client.get("/v1/partners", headers={"Origin": PARTNER_SITE})
    assert_problem(refused, 429, "RATE_LIMITED")
    assert refused.headers["access-control-allow-origin"] == PARTNER_SITE


def test_another_origin_is_refused_its_preflight_and_not_allowed_to_read(
    anonymous_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(get_settings(), "cors_origins", [PARTNER_SITE])
    preflight = anonymous_client.options("/v1/partners", headers={**PREFLIGHT, "Origin": "https://elsewhere.example"})
    assert assert_problem(preflight, 400, "CORS_REFUSED") == problem(
        400, "The CORS policy does not allow this request's origin.", "CORS_REFUSED"
    )
    assert "access-control-allow-origin" not in preflight.headers
    # A method the API does not take is refused too, even from the allowed origin.
    trace = anonymous_client.options("/v1/partners", headers={**PREFLIGHT, "Access-Control-Request-Method": "TRACE"})
    assert (
        assert_problem(trace, 400, "CORS_REFUSED")["detail"] == "The CORS policy does not allow this request's method."
    )
    read = anonymous_client.get("/v1/partners", headers={"Origin": "https://elsewhere.example"})
    assert read.status_code == 200  # the browser, not the service, keeps it from the page
    assert "access-control-allow-origin" not in read.headers


def test_cors_origins_are_read_comma_separated_and_must_be_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKPLAN_CORS_ORIGINS", " https://Dashboard.Partner.example, http://localhost:8080 ")
    assert Settings().cors_origins == ["https://dashboard.partner.example", "http://localhost:8080"]
    monkeypatch.setenv("WORKPLAN_CORS_ORIGINS", "")
    assert Settings().cors_origins == []
    for wrong in ("https://partner.example/", "partner.example", "https://partner.example/dashboard"):
        monkeypatch.setenv("WORKPLAN_CORS_ORIGINS", wrong)
        with pytest.raises(ValidationError, match="is not an origin"):
            Settings()
