"""HEAD answers on every path that answers GET, with the GET's status and headers and no body."""

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.seed.service import load_seed, seed_id

ACTIVITY = seed_id("activity", "SEC-2003-5.1")
HEADERS = ("etag", "content-type", "content-length", "link", "cache-control")


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/activities/{ACTIVITY}",
        "/v1/activities?status=planned&limit=2",
        "/v1/activities?format=csv",
        "/v1/vocabularies",
        "/",
        f"/activities/{ACTIVITY}",
        "/static/pages.css",
        "/healthz",
    ],
)
def test_head_is_the_get_without_its_body(client: TestClient, session: Session, path: str) -> None:
    load_seed(session)
    got = client.get(path)
    head = client.head(path)
    assert got.status_code == 200, got.text
    assert got.content
    assert head.status_code == 200
    assert head.content == b""
    for name in HEADERS:
        assert head.headers.get(name) == got.headers.get(name), name


def test_head_is_conditional_like_get(client: TestClient, session: Session) -> None:
    load_seed(session)
    etag = client.get(f"/v1/activities/{ACTIVITY}").headers["etag"]
    head = client.head(f"/v1/activities/{ACTIVITY}", headers={"If-None-Match": etag})
    assert head.status_code == 304
    assert head.headers["etag"] == etag


def test_head_of_what_get_refuses_is_refused_the_same_way(client: TestClient) -> None:
    missing = client.head("/v1/activities/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.content == b""
    assert client.head("/v1/activities?limit=0").status_code == 422
