"""format=csv|ndjson: every matching row, in list order, spreadsheet-safe."""

import csv
import io
import json

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app import streams
from app.seed.service import load_seed, seed_id
from tests.factories import make_activity, make_objective, make_partner

OBJECTIVE_5 = "de576537-25ea-5ba0-9148-3733718f059c"


def test_ndjson_streams_every_item_of_the_list_in_its_order(client: TestClient, session: Session) -> None:
    load_seed(session)
    listed = client.get("/v1/activities", params={"sort": "-code", "limit": "200", "type": "partnership"}).json()
    response = client.get("/v1/activities", params={"sort": "-code", "type": "partnership", "format": "ndjson"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["content-disposition"] == 'attachment; filename="activities.ndjson"'
    assert [json.loads(line) for line in response.text.splitlines()] == listed["items"]


def test_csv_has_the_json_fields_as_columns_and_flattens_lists(client: TestClient, session: Session) -> None:
    load_seed(session)
    response = client.get("/v1/activities", params={"objective_id": OBJECTIVE_5, "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert not response.text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    items = client.get("/v1/activities", params={"objective_id": OBJECTIVE_5}).json()["items"]
    assert list(rows[0]) == list(items[0])
    assert [row["code"] for row in rows] == ["SEC-2003-5.1", "SEC-2003-5.2"]
    participants = ";".join(f"{p['partner_id']}:{p['role']}" for p in items[0]["participants"])
    assert rows[0]["participants"] == participants
    assert rows[0]["countries"] == ""
    assert rows[0]["actual_start"] == ""


def test_csv_with_bom_opens_in_excel(client: TestClient, session: Session) -> None:
    make_partner(session, name="Comité des droits de l'enfant", kind="treaty_body")
    response = client.get("/v1/partners", params={"format": "csv", "bom": "true"})
    assert response.content.startswith(b"\xef\xbb\xbfname,")
    assert "Comité des droits de l'enfant" in response.content.decode("utf-8-sig")


def test_csv_neutralises_formula_cells(client: TestClient, session: Session) -> None:
    make_partner(
        session, name='=HYPERLINK("http://evil.example","click")', kind="other", acronym="+1", description="-x"
    )
    rows = list(csv.DictReader(io.StringIO(client.get("/v1/partners", params={"format": "csv"}).text)))
    assert rows[0]["name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert rows[0]["acronym"] == "'+1"
    assert rows[0]["description"] == "'-x"


def test_streams_ignore_pages_but_honour_filters_and_search(client: TestClient, session: Session) -> None:
    load_seed(session)
    response = client.get("/v1/partners", params={"q": "violence", "format": "ndjson", "limit": "1"})
    names = {json.loads(line)["name"] for line in response.text.splitlines()}
    assert len(names) == 3
    assert client.get("/v1/partners", params={"format": "xlsx"}).status_code == 422


def test_a_list_answers_304_until_something_in_it_changes(client: TestClient, session: Session) -> None:
    load_seed(session)
    params = {"objective_id": OBJECTIVE_5}
    first = client.get("/v1/activities", params=params)
    etag = first.headers["etag"]
    unchanged = client.get("/v1/activities", params=params, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.headers["etag"] == etag
    other = client.get("/v1/activities", params={"objective_id": str(seed_id("objective", "2003/1"))}).json()
    client.patch(f"/v1/activities/{other['items'][0]['id']}", json={"status": "completed"})
    assert client.get("/v1/activities", params=params, headers={"If-None-Match": etag}).status_code == 304
    client.patch(f"/v1/activities/{first.json()['items'][0]['id']}", json={"status": "completed"})
    changed = client.get("/v1/activities", params=params, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag


def test_a_bad_sort_on_a_stream_is_a_problem_not_a_broken_stream(client: TestClient) -> None:
    response = client.get("/v1/activities", params={"format": "csv", "sort": "colour"})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_SORT"


def walk_pages(client: TestClient, params: dict[str, str]) -> list[str]:
    ids: list[str] = []
    query = params | {"limit": "2"}
    while True:
        body = client.get("/v1/activities", params=query).json()
        ids += [item["id"] for item in body["items"]]
        if "next_cursor" not in body:
            return ids
        query = query | {"cursor": body["next_cursor"]}


@pytest.mark.parametrize(
    "params",
    [{}, {"sort": "-updated_at"}, {"sort": "planned_start,-code"}, {"sort": "-planned_end"}, {"q": "chunk*"}],
    ids=["default", "descending", "nullable and mixed", "nullable descending", "search"],
)
def test_an_export_read_in_chunks_is_the_list_in_its_order(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch, params: dict[str, str]
) -> None:
    """Chunks are read after the last row's sort key values, as pages are: 3 rows a chunk here."""
    monkeypatch.setattr(streams, "CHUNK", 3)
    objective = make_objective(session)
    for n in range(11):
        start = None if n % 3 == 0 else f"2003-0{1 + n % 4}-01"  # NULLs and ties
        make_activity(session, objective_id=objective.id, code=f"C-{n:02}", title=f"Chunked {n}", planned_start=start)
    scope = params | {"objective_id": str(objective.id)}
    exported = client.get("/v1/activities", params=scope | {"format": "ndjson"})
    assert [json.loads(line)["id"] for line in exported.text.splitlines()] == walk_pages(client, scope)
    csv_rows = client.get("/v1/activities", params=scope | {"format": "csv"}).text.splitlines()
    assert len(csv_rows) == 1 + 11  # one header, with the first chunk
    assert csv_rows[0].startswith("objective_id,")
