"""HEAD answers on every path that answers GET, with the GET's status and headers and no body."""

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
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


def test_head_of_an_export_reads_no_rows_but_checks_what_the_get_checks(
    client: TestClient, session: Session, engine: Engine
) -> None:
    load_seed(session)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        head = client.head("/v1/activities", params={"format": "csv"})
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert head.status_code == 200
    assert head.headers["content-type"] == "text/csv; charset=utf-8"
    assert not [sql for sql in statements if "FROM activity" in sql]
    assert client.head("/v1/activities", params={"format": "csv", "sort": "nope"}).status_code == 400


def test_a_head_is_logged_under_its_route_template(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="workplan.access")
    client.head("/v1/activities/00000000-0000-4000-8000-000000000000")
    [record] = [r for r in caplog.records if r.name == "workplan.access"]
    assert (record.method, record.path, record.status) == ("HEAD", "/v1/activities/{activity_id}", 404)  # type: ignore[attr-defined]
