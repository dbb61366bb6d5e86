"""Partners: unique names, private contact fields, validation, and deletion while in use."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.access.keys import current_principal
from app.main import app
from app.models.partners import Partner
from tests.factories import make_activity, make_partner, make_report
from tests.problems import duplicate, in_use, invalid_request, pointers

PATH = "/v1/partners"
PRIVATE = {"contact_name": "Jane Doe", "contact_email": "jane@example.org", "notes": "Prefers email."}


def create(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(PATH, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def body_for(**overrides: Any) -> dict[str, Any]:
    return {"name": "Child Rights Caucus", "kind": "caucus"} | overrides


def test_duplicate_name_is_409(client: TestClient, session: Session) -> None:
    make_partner(session, name="Child Rights Caucus")
    response = client.post(PATH, json=body_for())
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == duplicate("Partner name 'Child Rights Caucus'", "/name")
    assert len(client.get(PATH).json()["items"]) == 1


def test_duplicate_name_after_trimming_is_409(client: TestClient, session: Session) -> None:
    make_partner(session, name="Child Rights Caucus")
    response = client.post(PATH, json=body_for(name="  Child Rights Caucus "))
    assert response.status_code == 409
    assert response.json() == duplicate("Partner name 'Child Rights Caucus'", "/name")


def test_patch_to_a_taken_name_is_409_and_changes_nothing(client: TestClient, session: Session) -> None:
    make_partner(session, name="Taken")
    partner = create(client, body_for())
    response = client.patch(f"{PATH}/{partner['id']}", json={"name": "Taken"})
    assert response.status_code == 409
    assert response.json() == duplicate("Partner name 'Taken'", "/name")
    assert client.get(f"{PATH}/{partner['id']}").json() == partner


def test_deleted_partner_name_can_be_reused(client: TestClient) -> None:
    gone = create(client, body_for())
    assert client.delete(f"{PATH}/{gone['id']}").status_code == 204
    again = create(client, body_for())
    assert again["id"] != gone["id"]


def test_private_fields_are_stored_and_shown_only_to_callers_with_a_key(client: TestClient, session: Session) -> None:
    created = client.post(PATH, json=body_for() | PRIVATE)
    assert created.status_code == 201, created.text
    partner = created.json()
    url = f"{PATH}/{partner['id']}"
    stored = session.exec(select(Partner).where(Partner.name == "Child Rights Caucus")).one()
    assert (stored.contact_name, stored.contact_email, stored.notes) == tuple(PRIVATE.values())
    patched = client.patch(url, json={"notes": "Changed.", "acronym": "CRC Caucus"})
    assert patched.status_code == 200, patched.text
    # The writer has a key: it sees what it wrote.
    assert {name: partner[name] for name in PRIVATE} == PRIVATE
    assert patched.json()["notes"] == "Changed."

    app.dependency_overrides.pop(current_principal)  # from here on, nobody's key
    responses = [
        client.get(url).json(),
        *client.get(PATH).json()["items"],
        *client.get(PATH, params={"kind": "caucus"}).json()["items"],
    ]
    assert len(responses) == 3
    for body in responses:
        assert not set(PRIVATE) & set(body), body
    assert "jane@example.org" not in client.get(PATH).text
    assert "jane@example.org" not in client.get(PATH, params={"format": "csv"}).text


def test_private_fields_can_be_cleared(client: TestClient) -> None:
    partner = create(client, body_for() | PRIVATE)
    response = client.patch(f"{PATH}/{partner['id']}", json={"contact_email": None, "notes": None})
    assert response.status_code == 200, response.text


def test_deleting_a_partner_used_by_an_activity_is_409_and_changes_nothing(
    client: TestClient, session: Session
) -> None:
    partner = make_partner(session)
    activity = make_activity(session, participants=[{"partner_id": partner.id, "role": "target"}])
    url = f"{PATH}/{partner.id}"
    before = client.get(url).json()
    response = client.delete(url)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == in_use("This partner", 1, "activities", [f"/v1/activities/{activity.id}"])
    assert client.get(url).json() == before
    assert [item["id"] for item in client.get(PATH).json()["items"]] == [str(partner.id)]
    assert client.delete(f"/v1/activities/{activity.id}").status_code == 204
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_deleting_a_partner_that_monitors_a_report_is_409(client: TestClient, session: Session) -> None:
    partner = make_partner(session)
    report = make_report(session, monitored_by=[partner.id])
    response = client.delete(f"{PATH}/{partner.id}")
    assert response.status_code == 409
    assert response.json() == in_use("This partner", 1, "government reports", [f"/v1/government-reports/{report.id}"])
    assert client.delete(f"/v1/government-reports/{report.id}").status_code == 204
    assert client.delete(f"{PATH}/{partner.id}").status_code == 204


def test_country_is_checked_and_upper_cased(client: TestClient) -> None:
    partner = create(client, body_for(country="ken"))
    assert partner["country"] == "KEN"
    response = client.post(PATH, json=body_for(name="Other", country="ZZZ"))
    assert response.status_code == 422
    assert response.json() == invalid_request("/country", "'ZZZ' is not an ISO 3166-1 alpha-3 country code")


def test_active_to_before_active_from_is_422(client: TestClient) -> None:
    response = client.post(PATH, json=body_for(active_from="2006-06-19", active_to="2006-06-16"))
    assert response.status_code == 422
    assert response.json() == invalid_request("/active_to", "must not be before active_from (2006-06-19)")
    partner = create(client, body_for(active_from="1946-01-01", active_to="2006-06-16"))
    patched = client.patch(f"{PATH}/{partner['id']}", json={"active_from": "2007-01-01"})
    assert patched.status_code == 422
    assert pointers(patched.json()) == [("body", "/active_to")]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("website", "ftp://example.org"),
        ("website", "javascript:alert(1)"),
        ("contact_email", "not-an-email"),
        ("kind", "club"),
        ("kind", "NGO"),
        ("name", "x" * 301),
        ("name", ""),
        ("acronym", "x" * 41),
        ("description", "x" * 20_001),
        ("notes", "x" * 20_001),
        ("contact_name", "x" * 301),
        ("mandate_holder", "x" * 301),
        ("active_from", "2006-13-01"),
    ],
)
def test_invalid_field_is_422_pointing_at_it(client: TestClient, field: str, value: str) -> None:
    response = client.post(PATH, json=body_for(**{field: value}))
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", f"/{field}")]
    assert client.get(PATH).json()["items"] == []


@pytest.mark.parametrize(
    "field", ["name", "acronym", "description", "mandate_holder", "contact_name", "notes", "website"]
)
def test_nul_in_text_is_422(client: TestClient, field: str) -> None:
    value = "https://x.org/\u0000" if field == "website" else "a\u0000b"
    response = client.post(PATH, json=body_for(name="Base") | {field: value})
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", f"/{field}")]
    partner = create(client, body_for())
    patched = client.patch(f"{PATH}/{partner['id']}", json={field: value})
    assert patched.status_code == 422
    assert pointers(patched.json()) == [("body", f"/{field}")]


@pytest.mark.parametrize("field", ["name", "notes", "contact_email"])
def test_lone_surrogate_is_422_not_500(client: TestClient, field: str) -> None:
    members = {"name": '"Base"', "kind": '"ngo"'} | {field: '"a\\ud800@example.org"'}  # each name once
    raw = "{" + ", ".join(f'"{name}": {value}' for name, value in members.items()) + "}"
    response = client.post(PATH, content=raw.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert pointers(response.json()) == [("body", f"/{field}")]
