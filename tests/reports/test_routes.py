"""Government reports: unique symbols, monitors, cycles, articles, overdue, and the private notes."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.access.keys import current_principal
from app.main import app
from app.models.reports import GovernmentReport
from app.records import utcnow
from tests.factories import make_activity, make_partner, make_report
from tests.problems import duplicate, in_use, invalid_body, invalid_request, pointers, unknown_reference

PATH = "/v1/government-reports"
LOWEST = uuid.UUID("00000000-0000-4000-8000-000000000000")
HIGHEST = uuid.UUID("ffffffff-ffff-4fff-bfff-ffffffffffff")


def body_for(**overrides: Any) -> dict[str, Any]:
    return {"country": "MEX", "instrument": "OPSC", "kind": "initial", "cycle_from": 1, "cycle_to": 1} | overrides


def create(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(PATH, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


# Symbols


def test_duplicate_symbol_is_409(client: TestClient, session: Session) -> None:
    make_report(session, symbol="CRC/C/OPSC/MEX/1")
    response = client.post(PATH, json=body_for(symbol="CRC/C/OPSC/MEX/1"))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == duplicate("Symbol 'CRC/C/OPSC/MEX/1'", "/symbol")
    assert len(client.get(PATH).json()["items"]) == 1


def test_patch_to_a_taken_symbol_is_409_and_changes_nothing(client: TestClient, session: Session) -> None:
    make_report(session, symbol="CRC/C/65/Add.5")
    report = create(client, body_for(symbol="CRC/C/OPSC/MEX/1"))
    response = client.patch(f"{PATH}/{report['id']}", json={"symbol": "CRC/C/65/Add.5"})
    assert response.status_code == 409
    assert response.json() == duplicate("Symbol 'CRC/C/65/Add.5'", "/symbol")
    assert client.get(f"{PATH}/{report['id']}").json() == report


def test_deleted_report_symbol_can_be_reused(client: TestClient) -> None:
    gone = create(client, body_for(symbol="CRC/C/OPSC/MEX/1"))
    assert client.delete(f"{PATH}/{gone['id']}").status_code == 204
    assert create(client, body_for(symbol="CRC/C/OPSC/MEX/1"))["id"] != gone["id"]


def test_reports_without_a_symbol_do_not_collide(client: TestClient) -> None:
    create(client, body_for())
    create(client, body_for(country="KEN"))
    assert len(client.get(PATH).json()["items"]) == 2


# Monitors


def test_unknown_or_deleted_monitor_is_422_pointing_at_it(client: TestClient, session: Session) -> None:
    deleted = make_partner(session)
    assert client.delete(f"/v1/partners/{deleted.id}").status_code == 204
    response = client.post(PATH, json=body_for(monitored_by=[str(deleted.id)]))
    assert response.status_code == 422
    assert response.json() == unknown_reference(("/monitored_by/0", f"No partner with id {deleted.id}"))
    assert client.get(PATH).json()["items"] == []


@pytest.mark.parametrize("missing", [LOWEST, HIGHEST], ids=["sorts-first", "sorts-last"])
def test_monitor_pointer_is_the_index_the_client_sent(client: TestClient, session: Session, missing: uuid.UUID) -> None:
    live = make_partner(session)
    response = client.post(PATH, json=body_for(monitored_by=[str(live.id), str(missing)]))
    assert response.status_code == 422
    assert response.json() == unknown_reference(("/monitored_by/1", f"No partner with id {missing}"))


def test_repeated_monitor_is_422(client: TestClient, session: Session) -> None:
    partner = make_partner(session)
    response = client.post(PATH, json=body_for(monitored_by=[str(partner.id), str(partner.id)]))
    assert response.status_code == 422
    assert response.json() == invalid_request("/monitored_by", "a partner appears twice")


def test_patch_monitors_replaces_the_list_and_the_same_set_changes_nothing(
    client: TestClient, session: Session
) -> None:
    a, b, c = make_partner(session), make_partner(session), make_partner(session)
    report = create(client, body_for(monitored_by=[str(a.id), str(b.id)]))
    url = f"{PATH}/{report['id']}"
    same = client.patch(url, json={"monitored_by": [str(b.id), str(a.id)]})
    assert same.status_code == 200, same.text
    assert same.json() == report
    changed = client.patch(url, json={"monitored_by": [str(c.id)]}).json()
    assert changed["monitored_by"] == [str(c.id)]
    assert changed["version"] == report["version"] + 1
    assert client.get(PATH, params={"monitored_by": str(a.id)}).json()["items"] == []


# Cycles, dates and articles


def test_cycle_to_below_cycle_from_is_422(client: TestClient) -> None:
    response = client.post(PATH, json=body_for(kind="combined_periodic", cycle_from=4, cycle_to=3))
    assert response.status_code == 422
    assert response.json() == invalid_request("/cycle_to", "must not be below cycle_from (4)")
    report = create(client, body_for(kind="combined_periodic", cycle_from=3, cycle_to=4))
    patched = client.patch(f"{PATH}/{report['id']}", json={"cycle_from": 5})
    assert patched.status_code == 422
    assert patched.json() == invalid_body("/cycle_to", "must not be below cycle_from (5)")
    assert client.get(f"{PATH}/{report['id']}").json() == report


def test_review_before_submission_is_422(client: TestClient) -> None:
    response = client.post(PATH, json=body_for(submitted_date="2004-09-01", review_date="2004-08-31"))
    assert response.status_code == 422
    assert response.json() == invalid_request("/review_date", "must not be before submitted_date (2004-09-01)")


def test_article_beyond_the_instruments_articles_is_422(client: TestClient) -> None:
    response = client.post(PATH, json=body_for(articles=[{"instrument": "OPSC", "article": 18}]))
    assert response.status_code == 422
    assert response.json() == invalid_request("/articles/0", "The OPSC has 17 articles, not 18")
    last = [{"instrument": "OPSC", "article": 17}, {"instrument": "CRC", "article": 54}]
    assert [a["article"] for a in create(client, body_for(articles=last))["articles"]] == [17, 54]


@pytest.mark.parametrize(
    ("article", "pointer"),
    [
        ({"instrument": "CRC", "article": 55}, "/articles/0/article"),
        ({"instrument": "CRC", "article": 0}, "/articles/0/article"),
        ({"instrument": "CRC", "article": 10**20}, "/articles/0/article"),
        ({"instrument": "ICCPR", "article": 1}, "/articles/0/instrument"),
        ({"instrument": "CRC", "article": 34, "assessment": "good"}, "/articles/0/assessment"),
        ({"instrument": "CRC", "article": 34, "note": "x" * 20_001}, "/articles/0/note"),
        ({"instrument": "CRC", "article": 34, "note": "a\u0000b"}, "/articles/0/note"),
        ({"instrument": "CRC", "article": 34, "page": 3}, "/articles/0/page"),
    ],
)
def test_invalid_article_is_422_pointing_at_it(client: TestClient, article: dict[str, Any], pointer: str) -> None:
    response = client.post(PATH, json=body_for(articles=[article]))
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", pointer)]


def test_repeated_article_is_422(client: TestClient) -> None:
    articles = [{"instrument": "CRC", "article": 34}, {"instrument": "CRC", "article": 34, "assessment": "compliant"}]
    response = client.post(PATH, json=body_for(articles=articles))
    assert response.status_code == 422
    assert response.json() == invalid_request("/articles", "CRC article 34 appears twice")


def test_patch_articles_replaces_the_list(client: TestClient) -> None:
    report = create(client, body_for(articles=[{"instrument": "CRC", "article": 34}]))
    new = [{"instrument": "OPSC", "article": 3, "assessment": "non_compliant", "note": "No extraterritoriality."}]
    changed = client.patch(f"{PATH}/{report['id']}", json={"articles": new}).json()
    assert changed["articles"] == new
    assert changed["version"] == report["version"] + 1
    again = client.patch(f"{PATH}/{report['id']}", json={"articles": new}).json()
    assert again == changed


# Overdue


def test_report_due_in_the_past_without_submission_is_overdue(client: TestClient) -> None:
    today = utcnow().date()
    due = (today - timedelta(days=10)).isoformat()
    report = create(client, body_for(due_date=due))
    assert (report["is_overdue"], report["days_late"]) == (True, 10)
    fetched = client.get(f"{PATH}/{report['id']}").json()
    assert (fetched["is_overdue"], fetched["days_late"]) == (True, 10)
    submitted = client.patch(f"{PATH}/{report['id']}", json={"submitted_date": today.isoformat()}).json()
    assert (submitted["is_overdue"], submitted["days_late"]) == (False, None)


@pytest.mark.parametrize("days_ahead", [0, 1, 400])
def test_report_not_yet_due_is_not_overdue(client: TestClient, days_ahead: int) -> None:
    due = (utcnow().date() + timedelta(days=days_ahead)).isoformat()
    report = create(client, body_for(due_date=due))
    assert (report["is_overdue"], report["days_late"]) == (False, None)


def test_report_without_due_date_is_not_overdue(client: TestClient) -> None:
    report = create(client, body_for())
    assert (report["is_overdue"], report["days_late"]) == (False, None)


def test_overdue_fields_are_read_only(client: TestClient) -> None:
    for field, value in (("is_overdue", True), ("days_late", 3)):
        response = client.post(PATH, json=body_for() | {field: value})
        assert response.status_code == 422
        assert pointers(response.json()) == [("body", f"/{field}")]


# Private notes


def test_notes_are_stored_and_shown_only_to_callers_with_a_key(client: TestClient, session: Session) -> None:
    report = create(client, body_for(symbol="CRC/C/OPSC/MEX/1", notes="Internal: ask the Focal Point."))
    url = f"{PATH}/{report['id']}"
    stored = session.exec(select(GovernmentReport).where(GovernmentReport.symbol == "CRC/C/OPSC/MEX/1")).one()
    assert stored.notes == "Internal: ask the Focal Point."
    patched = client.patch(url, json={"notes": "Changed.", "status": "submitted"})
    assert patched.status_code == 200, patched.text
    # The writer has a key: it sees the notes it wrote.
    assert report["notes"] == "Internal: ask the Focal Point."
    assert patched.json()["notes"] == "Changed."

    app.dependency_overrides.pop(current_principal)  # from here on, nobody's key
    responses = [client.get(url).json(), *client.get(PATH).json()["items"]]
    for body in responses:
        assert "notes" not in body, body
    assert "Changed." not in client.get(PATH).text
    assert "Changed." not in client.get(PATH, params={"format": "csv"}).text


# Deletion


def test_deleting_a_report_an_activity_monitors_is_409(client: TestClient, session: Session) -> None:
    report = make_report(session)
    activity = make_activity(session, government_report_ids=[report.id])
    url = f"{PATH}/{report.id}"
    before = client.get(url).json()
    response = client.delete(url)
    assert response.status_code == 409
    assert response.json() == in_use("This report", 1, "activities", [f"/v1/activities/{activity.id}"])
    assert client.get(url).json() == before
    assert client.delete(f"/v1/activities/{activity.id}").status_code == 204
    assert client.delete(url).status_code == 204


# Bad input


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("committee_session", 10**20),
        ("committee_session", 0),
        ("cycle_from", 10**20),
        ("cycle_to", 21),
        ("instrument", "ICCPR"),
        ("instrument", "opsc"),
        ("kind", "final"),
        ("status", "lost"),
        ("country", "ZZZ"),
        ("symbol", "x" * 301),
        ("analysis", "x" * 20_001),
        ("notes", "x" * 20_001),
        ("due_date", "2004-02-30"),
    ],
)
def test_invalid_field_is_422_pointing_at_it(client: TestClient, field: str, value: object) -> None:
    response = client.post(PATH, json=body_for() | {field: value})
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", f"/{field}")]
    report = create(client, body_for())
    patched = client.patch(f"{PATH}/{report['id']}", json={field: value})
    assert patched.status_code == 422
    assert pointers(patched.json()) == [("body", f"/{field}")]
    assert client.get(f"{PATH}/{report['id']}").json() == report


def test_lower_case_country_is_stored_upper_case(client: TestClient) -> None:
    assert create(client, body_for(country="mex"))["country"] == "MEX"


@pytest.mark.parametrize("field", ["symbol", "concluding_observations_symbol", "analysis", "notes"])
def test_nul_in_text_is_422(client: TestClient, field: str) -> None:
    response = client.post(PATH, json=body_for() | {field: "CRC/C/\u0000"})
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", f"/{field}")]


@pytest.mark.parametrize("field", ["symbol", "analysis"])
def test_lone_surrogate_is_422_not_500(client: TestClient, field: str) -> None:
    raw = f'{{"country": "MEX", "instrument": "OPSC", "kind": "initial", "{field}": "\\ud800"}}'
    response = client.post(PATH, content=raw.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", f"/{field}")]


def test_created_report_reads_back_the_same_whatever_the_order_sent(client: TestClient, session: Session) -> None:
    partners = sorted([str(make_partner(session).id), str(make_partner(session).id)], reverse=True)
    articles = [{"instrument": "OPSC", "article": 3}, {"instrument": "CRC", "article": 34}]
    report = create(client, body_for(monitored_by=partners, articles=articles))
    assert client.get(f"{PATH}/{report['id']}").json() == report
    assert [a["article"] for a in report["articles"]] == [3, 34]
