"""The OpenAPI document, the self-hosted docs, and the service endpoints."""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pycountry
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.access.keys import Principal, current_principal
from app.db import create_db_engine
from app.main import app
from app.models.access import Role
from app.sync.feed import SyncType
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
def test_every_request_body_has_one_media_type_and_an_example(path: str, method: str, operation: Any) -> None:
    # One media type: given two, openapi-python-client writes modules that fail at import. The
    # service still takes both JSON media types for a PATCH (tests/records/test_contract.py).
    [(media_type, content)] = operation["requestBody"]["content"].items()
    assert media_type == ("application/merge-patch+json" if method == "patch" else "application/json")
    schemas = app.openapi()["components"]["schemas"]
    assert schemas[content["schema"]["$ref"].rsplit("/", 1)[1]]["examples"]


def test_operation_ids_are_the_route_function_names() -> None:
    ids = [operation["operationId"] for _, _, operation in OPERATIONS]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)+|healthz|readyz", i) for i in ids), ids
    assert {"list_activities", "update_activity", "put_activity_by_ref", "list_changes"} <= set(ids)


@pytest.mark.parametrize(("path", "method", "operation"), OPERATIONS, ids=[f"{m} {p}" for p, m, _ in OPERATIONS])
def test_conditional_headers_are_declared_where_they_apply(path: str, method: str, operation: Any) -> None:
    headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
    assert ("If-Match" in headers) == ("412" in operation["responses"])
    assert ("If-None-Match" in headers) == ("304" in operation["responses"] or method == "put")
    for status in ("304", "201"):
        if status in operation["responses"]:
            assert operation["responses"][status]["headers"]["ETag"]["required"] is True


def admin(request: Request) -> Principal:
    principal = Principal(key_id="test-admin", role=Role.ADMIN)
    request.state.principal = principal
    return principal


def required_query(operation: Any) -> dict[str, str]:
    """Values for an operation's required query parameters: dates, the only kind there is."""
    required = [p for p in operation.get("parameters", []) if p["in"] == "query" and p.get("required")]
    assert all(p["schema"]["format"] == "date" for p in required)
    return {p["name"]: "2003-06-30" for p in required}


@pytest.mark.parametrize(
    ("path", "operation"),
    [(p, o) for p, m, o in OPERATIONS if m == "get" and "304" in o["responses"] and "{" not in p],
    ids=[p for p, m, o in OPERATIONS if m == "get" and "304" in o["responses"] and "{" not in p],
)
def test_a_get_that_declares_304_answers_it_to_its_own_etag(client: TestClient, path: str, operation: Any) -> None:
    app.dependency_overrides[current_principal] = admin  # reads every path, the admin's too
    first = client.get(path, params=required_query(operation))
    assert first.status_code == 200, first.text
    again = client.get(path, params=required_query(operation), headers={"If-None-Match": first.headers["etag"]})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", first.headers["etag"])


def test_enums_are_open_in_responses_and_closed_in_requests() -> None:
    schemas = app.openapi()["components"]["schemas"]
    unknown = {"type": "string", "description": "A value added after this document: keep it as it came."}
    status = {"$ref": "#/components/schemas/ActivityStatus"}
    assert schemas["ActivityPublic"]["properties"]["status"] == {"anyOf": [status, unknown], "default": "planned"}
    assert schemas["ActivityUpdate"]["properties"]["status"]["anyOf"] == [status, {"type": "null"}]
    # A schema both ways is copied for responses, where unknown fields may come too.
    assert schemas["ActivityPublic"]["properties"]["participants"]["items"] == {
        "$ref": "#/components/schemas/ParticipantPublic"
    }
    assert "additionalProperties" not in schemas["ParticipantPublic"]
    assert schemas["Participant"]["properties"]["role"] == {"$ref": "#/components/schemas/ParticipantRole"}
    assert schemas["ActivityStatus"]["x-extensible-enum"] == schemas["ActivityStatus"]["enum"]


def parameter(path: str, method: str, name: str) -> Any:
    [found] = [p for p in app.openapi()["paths"][path][method]["parameters"] if p["name"].lower() == name]
    return found["schema"]


def body(path: str, method: str) -> Any:
    [content] = app.openapi()["paths"][path][method]["requestBody"]["content"].values()
    return app.openapi()["components"]["schemas"][content["schema"]["$ref"].rsplit("/", 1)[1]]


def test_the_document_declares_the_rules_the_service_enforces() -> None:
    """What schemathesis's positive_data_acceptance relies on (tests/api/test_fuzz.py): a request
    that fits the document is not refused for a rule it does not state."""
    schemas = app.openapi()["components"]["schemas"]
    assert schemas["CountryCode"]["enum"] == sorted(c.alpha_3 for c in pycountry.countries)
    assert parameter("/v1/countries/{code}/reporting", "get", "code")["$ref"] == "#/components/schemas/CountryCode"
    key = parameter("/v1/activities", "post", "idempotency-key")
    assert (key["pattern"], key["maxLength"]) == (r"^[\x21-\x7e]{1,255}$", 255)
    sort = parameter("/v1/work-plans", "get", "sort")["pattern"]
    assert re.fullmatch(sort, "-period_start,code")
    assert not re.fullmatch(sort, "colour")
    for collection in ("activities", "government-reports"):
        by_ref = body(f"/v1/{collection}/by-ref/{{external_ref}}", "put")
        assert "owner_partner_id" in by_ref["required"]
        assert "external_ref" not in by_ref["properties"]  # it is the path's
        assert all(example["owner_partner_id"] for example in by_ref["examples"])
    assert schemas["ActivityCreate"]["then"]["required"] == ["owner_partner_id"]  # with an external_ref
    # A merge patch's null clears a field: never one the record requires.
    assert schemas["PartnerUpdate"]["properties"]["kind"] == {"$ref": "#/components/schemas/PartnerKind"}
    assert {"type": "null"} in schemas["PartnerUpdate"]["properties"]["acronym"]["anyOf"]
    assert schemas["ActivityCreate"]["properties"]["countries"]["uniqueItems"] is True
    assert schemas["PartnerCreate"]["properties"]["website"]["pattern"] == "^[Hh][Tt][Tt][Pp][Ss]?://"
    assert schemas["ApiKeyCreate"]["then"]["required"] == ["partner_id"]
    special_use = schemas["PartnerCreate"]["properties"]["contact_email"]["not"]["pattern"]
    assert re.search(special_use, "focal.point@ecpat.test")
    assert not re.search(special_use, "focal.point@ecpat.org")
    for status in ("408", "431"):
        assert status in app.openapi()["paths"]["/v1/activities"]["get"]["responses"]


def test_a_created_record_links_to_the_operations_on_it() -> None:
    paths = app.openapi()["paths"]
    for path, method in [("/v1/activities", "post"), ("/v1/activities/by-ref/{external_ref}", "put")]:
        links = paths[path][method]["responses"]["201"]["links"]
        assert sorted(links) == ["delete_activity", "get_activity", "update_activity"]
        assert links["get_activity"]["parameters"] == {"activity_id": "$response.body#/id"}
    assert sorted(paths["/v1/api-keys"]["post"]["responses"]["201"]["links"]) == ["get_api_key", "revoke_api_key"]


def test_change_feed_items_are_told_apart_by_type() -> None:
    items = app.openapi()["components"]["schemas"]["ChangesPage"]["properties"]["items"]["items"]
    assert items["discriminator"]["propertyName"] == "type"
    assert set(items["discriminator"]["mapping"]) == {t.value for t in SyncType}
    assert [option["$ref"] for option in items["oneOf"]] == list(items["discriminator"]["mapping"].values())


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
