"""The OpenAPI document, the self-hosted docs, and the service endpoints."""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.db import create_db_engine
from app.main import app
from tests.conftest import use_sessions

OPERATIONS = [
    (path, method, operation)
    for path, operations in app.openapi()["paths"].items()
    for method, operation in operations.items()
]


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS])
def test_every_operation_is_tagged_described_and_declares_problems(path: str, method: str, operation: Any) -> None:
    assert operation["tags"]
    # A first line that is a sentence; details may follow after a blank line.
    assert re.fullmatch(r"[A-Z][^\n]+\.(\n\n.+)?", operation["description"], re.DOTALL), operation["description"]
    errors = {status: r for status, r in operation["responses"].items() if int(status) >= 400}
    assert "500" in errors
    for response in errors.values():
        assert response["content"] == {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


@pytest.mark.parametrize(
    ("path", "method", "operation"),
    [o for o in OPERATIONS if "requestBody" in o[2]],
    ids=[f"{m} {p}" for p, m, o in OPERATIONS if "requestBody" in o],
)
def test_every_request_body_has_an_example(path: str, method: str, operation: Any) -> None:
    schemas = app.openapi()["components"]["schemas"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schemas[ref.rsplit("/", 1)[1]]["examples"]
    if method == "patch":
        assert "application/merge-patch+json" in operation["requestBody"]["content"]


def test_problem_schema_has_the_rfc_9457_members_and_code() -> None:
    problem = app.openapi()["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code", "errors"} <= set(problem["properties"])


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_load_every_asset_from_the_service_itself(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert assets
    for asset in assets:
        assert asset.startswith("/"), asset
        assert client.get(asset).status_code == 200, asset
    assert "https://" not in response.text.replace("https://fonts", "")


def test_healthz_and_readyz_answer_on_a_migrated_database(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "revision": None}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


@pytest.fixture
def unmigrated_client(tmp_path: Path) -> Iterator[TestClient]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'empty.db'}", pool_size=1)

    def empty_session() -> Iterator[Session]:
        with Session(engine) as session, session.begin():
            yield session

    use_sessions(empty_session)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    app.dependency_overrides.clear()
    engine.dispose()


def test_readyz_is_503_while_the_schema_is_behind(unmigrated_client: TestClient) -> None:
    response = unmigrated_client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "SCHEMA_OUT_OF_DATE"


def test_request_id_is_echoed_when_well_formed_and_made_otherwise(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    made = client.get("/healthz", headers={"X-Request-ID": "bad id;" + "x" * 200}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/nowhere").headers["x-request-id"])


def test_unknown_path_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/v1/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Nothing lives at /v1/nowhere.",
        "code": "NOT_FOUND",
    }
