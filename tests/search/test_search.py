"""Full-text `q=`: the same answers on SQLite (FTS5) and PostgreSQL (tsvector) for the 2003 plan."""

import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.seed.service import load_seed
from tests.factories import make_activity, make_report

SEED_ANSWERS = [
    ("activities", "Special Rapporteur", {"SEC-2003-6.1"}),
    ("activities", '"Special Rapporteur"', {"SEC-2003-6.1"}),
    ("activities", "partner*", {"SEC-2003-2.1", "SEC-2003-4.1", "SEC-2003-4.2", "SEC-2003-4.3", "SEC-2003-4.4"}),
    ("activities", "government reports", {"SEC-2003-5.1"}),
    ("activities", '"reports to the Committee"', {"SEC-2003-5.1"}),
    ("activities", "PETIT", {"SEC-2003-6.1"}),
    ("activities", "violence caucus", set()),
    ("objectives", "violence", {"3", "4"}),
    ("objectives", "partner*", {"2", "4"}),
    (
        "partners",
        "violence",
        {
            "Subgroup on Children and Violence",
            "Special Expert for the UN Study on Violence Against Children",
            "Secretariat of the Special Expert for the UN Study on Violence Against Children",
        },
    ),
    ("partners", "Petit", {"Special Rapporteur on the sale of children, child prostitution and child pornography"}),
]


def found(client: TestClient, collection: str, q: str, **params: str) -> list[str]:
    response = client.get(f"/v1/{collection}", params={"q": q, "limit": "200", **params})
    assert response.status_code == 200, response.text
    return [item.get("code") or item["name"] for item in response.json()["items"]]


@pytest.mark.parametrize(("collection", "q", "expected"), SEED_ANSWERS)
def test_the_seed_answers_the_same_on_every_database(
    client: TestClient, session: Session, collection: str, q: str, expected: set[str]
) -> None:
    load_seed(session)
    assert set(found(client, collection, q)) == expected


def test_title_matches_rank_above_description_matches(client: TestClient, session: Session) -> None:
    load_seed(session)
    # "Committee" is in 5.1's title; 5.2 names it only through its description's "CRC articles"... and
    # 2.3's title names the Commission, not the Committee.
    ranked = found(client, "activities", "Committee")
    assert ranked[0] == "SEC-2003-5.1"


def test_search_pages_walk_every_match_once(client: TestClient, session: Session) -> None:
    load_seed(session)
    everything = found(client, "activities", "partner*")
    seen: list[str] = []
    params = {"q": "partner*", "limit": "2"}
    while True:
        body = client.get("/v1/activities", params=params).json()
        seen += [item["code"] for item in body["items"]]
        if "next_cursor" not in body:
            break
        params["cursor"] = body["next_cursor"]
    assert seen == everything


def test_the_index_follows_every_write(client: TestClient, session: Session) -> None:
    load_seed(session)
    objective = "de576537-25ea-5ba0-9148-3733718f059c"
    body = {"objective_id": objective, "code": "Z-1", "title": "Zanzibar consultation", "type": "meeting"}
    created = client.post("/v1/activities", json=body).json()
    assert found(client, "activities", "zanzibar") == ["Z-1"]
    client.patch(f"/v1/activities/{created['id']}", json={"title": "Nairobi consultation"})
    assert found(client, "activities", "zanzibar") == []
    assert found(client, "activities", "nairobi") == ["Z-1"]
    client.delete(f"/v1/activities/{created['id']}")
    assert found(client, "activities", "nairobi") == []


@pytest.mark.parametrize("q", ['"unclosed phrase', "***", "a*b", "   ", "!!!"])
def test_malformed_search_is_400(client: TestClient, q: str) -> None:
    response = client.get("/v1/activities", params={"q": q})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_SEARCH"


def test_a_10000_character_search_is_422(client: TestClient) -> None:
    response = client.get("/v1/partners", params={"q": "x" * 10_000})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "/q"


def test_fts_syntax_in_the_query_is_taken_as_words(client: TestClient, session: Session) -> None:
    load_seed(session)
    for q in ["NEAR(a b)", "title:violence", "violence OR caucus", "^violence", "violence -caucus", "'; DROP TABLE x"]:
        assert client.get("/v1/activities", params={"q": q}).status_code == 200, q


# Texts PostgreSQL's parser reads as one token (a signed number, a path, an email address, a
# decimal, a URL), which FTS5 splits into words; each word must find its record on both databases.
PUNCTUATED = [
    "idem-11875257",
    "CRC/C/OPSC/MEX/1",
    "focal.point@ngogroup.org",
    "3.5 per cent",
    "https://www.ohchr.org/en/treaty-bodies/crc",
    "children's rights, v1.2; art. 34(b)",
    "C\u00f4te d\u2019Ivoire\u2014Ni\u00f1o",  # non-ASCII punctuation, which both parsers split at
]


@pytest.mark.parametrize("text", PUNCTUATED)
def test_every_word_of_punctuated_text_finds_it_on_every_database(
    client: TestClient, session: Session, text: str
) -> None:
    activity = make_activity(session, code="PUNCT-1", title=text)
    words = re.findall(r"\w+", text.replace("_", " "))
    for word in words:
        assert found(client, "activities", word) == [activity.code], word
    assert found(client, "activities", f'"{" ".join(words)}"') == [activity.code]
    assert found(client, "activities", text) == [activity.code]


def test_a_report_symbol_is_found_by_any_of_its_parts(client: TestClient, session: Session) -> None:
    make_report(session, symbol="CRC/C/OPSC/MEX/1")
    for part in ["CRC", "OPSC", "MEX", "1", '"OPSC MEX"']:
        response = client.get("/v1/government-reports", params={"q": part})
        assert [item["symbol"] for item in response.json()["items"]] == ["CRC/C/OPSC/MEX/1"], part
