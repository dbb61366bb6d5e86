"""Dates in: `YYYY-MM-DD` within 1900-01-01..2199-12-31, in every body and query, or a 422 that
points at the value; and the OpenAPI document says so wherever a request takes a date."""

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col

from app.main import app
from app.models.activities import Activity
from app.records import DAY_PATTERN, FIRST_DAY, LAST_DAY
from tests.factories import make_activity, make_objective, make_partner, make_ratification, make_report
from tests.problems import invalid_request

NOT_WRITTEN_AS_A_DAY = "must be a date written YYYY-MM-DD"
OUT_OF_RANGE = "must be between 1900-01-01 and 2199-12-31"
DOCUMENT = app.openapi()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, NOT_WRITTEN_AS_A_DAY),  # pydantic alone reads a number as seconds since 1970
        (1_057_017_600, NOT_WRITTEN_AS_A_DAY),
        ("0", NOT_WRITTEN_AS_A_DAY),
        (True, NOT_WRITTEN_AS_A_DAY),
        ("2003-1-1", NOT_WRITTEN_AS_A_DAY),
        ("20030101", NOT_WRITTEN_AS_A_DAY),
        ("2003-01-01T00:00:00", NOT_WRITTEN_AS_A_DAY),  # a datetime at midnight is still not a day
        ("2003-01-01T00:00:00Z", NOT_WRITTEN_AS_A_DAY),
        ("2003-01-01 00:00", NOT_WRITTEN_AS_A_DAY),
        (" 2003-01-01", NOT_WRITTEN_AS_A_DAY),
        ("\u0662\u0660\u0660\u0663-\u0660\u0661-\u0660\u0661", NOT_WRITTEN_AS_A_DAY),  # Arabic-Indic digits
        ("2003-02-30", "'2003-02-30' is not a date in the calendar"),
        ("1899-12-31", OUT_OF_RANGE),
        ("2200-01-01", OUT_OF_RANGE),
        ("9999-12-31", OUT_OF_RANGE),
        ("0001-01-01", OUT_OF_RANGE),
    ],
)
def test_a_date_in_a_body_is_yyyy_mm_dd_within_the_range(
    client: TestClient, session: Session, value: Any, message: str
) -> None:
    body = {"objective_id": str(make_objective(session).id), "code": "A-1", "title": "A", "type": "meeting"}
    response = client.post("/v1/activities", json=body | {"planned_end": value})
    assert response.status_code == 422
    assert response.json() == invalid_request("/planned_end", message)
    assert client.get("/v1/activities").json()["items"] == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", NOT_WRITTEN_AS_A_DAY),  # was 1970-01-01
        ("86400", NOT_WRITTEN_AS_A_DAY),
        ("2003-1-1", NOT_WRITTEN_AS_A_DAY),
        ("2003-01-01T00:00:00", NOT_WRITTEN_AS_A_DAY),
        ("2003-02-29", "'2003-02-29' is not a date in the calendar"),
        ("9999-12-31", OUT_OF_RANGE),
    ],
)
def test_a_date_in_a_query_is_yyyy_mm_dd_within_the_range(client: TestClient, value: str, message: str) -> None:
    response = client.get("/v1/reporting-calendar", params={"due_to": value})
    assert response.status_code == 422
    assert response.json() == invalid_request("/due_to", message, "query")


def test_the_first_and_last_days_of_the_range_are_accepted(client: TestClient, session: Session) -> None:
    body = {"objective_id": str(make_objective(session).id), "code": "A-1", "title": "A", "type": "meeting"}
    response = client.post("/v1/activities", json=body | {"planned_start": "1900-01-01", "planned_end": "2199-12-31"})
    assert response.status_code == 201, response.text
    assert (response.json()["planned_start"], response.json()["planned_end"]) == ("1900-01-01", "2199-12-31")
    found = client.get("/v1/activities", params={"planned_end_from": "2199-12-31", "planned_start_to": "1900-01-01"})
    assert [item["id"] for item in found.json()["items"]] == [response.json()["id"]]


def day_schemas(schema: Any) -> Iterator[dict[str, Any]]:
    """Every `format: date` schema within `schema`, however deeply it nests."""
    if isinstance(schema, dict):
        if schema.get("format") == "date":
            yield schema
        for value in schema.values():
            yield from day_schemas(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from day_schemas(item)


def request_dates() -> Iterator[tuple[str, str, str, str, dict[str, Any]]]:
    """(method, path, where, name, schema) of every date a request takes, as OpenAPI lists them."""
    schemas = DOCUMENT["components"]["schemas"]
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                for schema in day_schemas(parameter["schema"]):
                    yield method, path, parameter["in"], parameter["name"], schema
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body is not None:
                model = schemas[body["$ref"].rsplit("/", 1)[1]]
                for name, field in model["properties"].items():
                    for schema in day_schemas(field):
                        yield method, path, "body", name, schema


REQUEST_DATES = list(request_dates())


@pytest.mark.parametrize(
    ("method", "path", "where", "name", "schema"),
    REQUEST_DATES,
    ids=[f"{m} {p} {n}" for m, p, _, n, _ in REQUEST_DATES],
)
def test_every_date_a_request_takes_declares_the_range_in_openapi(
    method: str, path: str, where: str, name: str, schema: dict[str, Any]
) -> None:
    assert (schema["type"], schema["pattern"]) == ("string", DAY_PATTERN)


def test_the_pattern_is_the_range() -> None:
    pattern = re.compile(DAY_PATTERN)
    assert pattern.fullmatch(FIRST_DAY.isoformat())
    assert pattern.fullmatch(LAST_DAY.isoformat())
    for outside in ("1899-12-31", "2200-01-01", "0001-01-01", "9999-12-31", "2003-13-01", "2003-01-32", "2003-1-1"):
        assert pattern.fullmatch(outside) is None, outside


@pytest.fixture
def ids(session: Session) -> dict[str, str]:
    """A record behind each `{..._id}` of a path that takes a date."""
    activity = make_activity(session)
    return {
        "activity_id": str(activity.id),
        "work_plan_id": str(activity.work_plan_id),
        "partner_id": str(make_partner(session).id),
        "government_report_id": str(make_report(session).id),
        "ratification_id": str(make_ratification(session).id),
        "code": "MEX",
        "external_ref": "ref-1",
    }


@pytest.mark.parametrize(("value", "message"), [(0, NOT_WRITTEN_AS_A_DAY), ("2200-01-01", OUT_OF_RANGE)])
@pytest.mark.parametrize(
    ("method", "path", "where", "name", "schema"),
    REQUEST_DATES,
    ids=[f"{m} {p} {n}" for m, p, _, n, _ in REQUEST_DATES],
)
def test_every_date_of_every_body_and_query_is_checked(
    client: TestClient,
    ids: dict[str, str],
    method: str,
    path: str,
    where: str,
    name: str,
    schema: dict[str, Any],
    value: Any,
    message: str,
) -> None:
    url = path.format(**ids)
    if where == "query":
        response = client.request(method, url, params={name: str(value)})
    else:
        response = client.request(method, url, json={name: value})
    assert response.status_code == 422, response.text
    assert {"in": where, "pointer": f"/{name}", "message": message} in response.json()["errors"]


def test_a_stored_date_outside_the_range_is_read_and_kept_by_a_patch_that_leaves_it(
    client: TestClient, session: Session
) -> None:
    activity = make_activity(session, planned_start=date(2003, 1, 1))
    session.execute(update(Activity).where(col(Activity.id) == activity.id).values(planned_end=date.max))
    session.flush()
    path = f"/v1/activities/{activity.id}"
    assert client.get(path).json()["planned_end"] == "9999-12-31"
    response = client.patch(path, json={"title": "Renamed"})
    assert response.status_code == 200, response.text
    assert (response.json()["title"], response.json()["planned_end"]) == ("Renamed", "9999-12-31")
    response = client.patch(path, json={"planned_end": "9999-12-31"})
    assert response.status_code == 422
    assert response.json() == invalid_request("/planned_end", OUT_OF_RANGE)
