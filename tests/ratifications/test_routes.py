"""Ratifications: entry into force computed or overridden, one per State and instrument, editors only."""

from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.access.keys import new_key
from app.models.access import AuditEntry, Role
from app.models.ratifications import Ratification
from tests.factories import make_partner, make_ratification
from tests.problems import duplicate, invalid_request, problem

PATH = "/v1/ratifications"


def body_for(**overrides: Any) -> dict[str, Any]:
    return {"country": "MEX", "instrument": "CRC", "action": "ratification", "deposited_on": "1990-09-21"} | overrides


def create(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(PATH, json=body)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_entry_into_force_is_computed_and_an_override_wins_until_cleared(client: TestClient) -> None:
    # OPSC art. 14(1): deposited before the protocol was in force, it enters into force with it.
    record = create(client, body_for(instrument="OPSC", deposited_on="2001-04-05"))
    assert (
        record["entry_into_force_on"],
        record["entry_into_force_computed"],
        record["entry_into_force_overridden"],
    ) == ("2002-01-18", "2002-01-18", False)
    path = f"{PATH}/{record['id']}"
    changed = client.patch(path, json={"entry_into_force_override": "2002-02-01"}).json()
    assert (
        changed["entry_into_force_on"],
        changed["entry_into_force_computed"],
        changed["entry_into_force_overridden"],
        changed["version"],
    ) == ("2002-02-01", "2002-01-18", True, 2)
    cleared = client.patch(path, json={"entry_into_force_override": None}).json()
    assert (cleared["entry_into_force_on"], cleared["entry_into_force_overridden"]) == ("2002-01-18", False)


def test_a_deposit_on_9999_12_31_is_refused_and_one_stored_there_still_reads(
    client: TestClient, session: Session
) -> None:
    # Thirty days after it is no date at all: the computed entry into force answered 500.
    response = client.post(PATH, json=body_for(deposited_on="9999-12-31"))
    assert response.status_code == 422
    assert response.json() == invalid_request("/deposited_on", "must be between 1900-01-01 and 2199-12-31")
    stored = make_ratification(session, country="MEX", instrument="CRC")
    session.execute(update(Ratification).where(col(Ratification.id) == stored.id).values(deposited_on=date.max))
    session.flush()
    (listed,) = client.get(PATH).json()["items"]
    one = client.get(f"{PATH}/{stored.id}").json()
    for record in (listed, one):
        assert (record["deposited_on"], record["entry_into_force_computed"]) == ("9999-12-31", "9999-12-31")


def test_a_state_ratifies_an_instrument_once(client: TestClient, session: Session) -> None:
    make_ratification(session, country="MEX", instrument="CRC")
    response = client.post(PATH, json=body_for(action="accession"))
    assert response.status_code == 409
    assert response.json() == duplicate("A ratification of the CRC by MEX", "/instrument")
    assert create(client, body_for(instrument="OPAC", deposited_on="2002-03-15"))["instrument"] == "OPAC"


def test_a_deposit_before_the_instrument_was_adopted_is_422(client: TestClient) -> None:
    response = client.post(PATH, json=body_for(instrument="OPSC", deposited_on="1999-01-01"))
    assert response.status_code == 422
    assert response.json() == invalid_request("/deposited_on", "precedes the OPSC's adoption (2000-05-25)")


def test_filters_by_country_instrument_action_and_deposit(client: TestClient, session: Session) -> None:
    kept = make_ratification(session, country="KEN", instrument="OPSC", action="accession", deposited_on="2002-09-18")
    make_ratification(session, country="KEN", instrument="CRC", deposited_on="1990-07-30")
    make_ratification(session, country="BRA", instrument="OPSC", deposited_on="2004-01-27")
    params = {"country": "KEN", "instrument": "OPSC", "action": "accession", "deposited_on_from": "2002-01-01"}
    assert [i["id"] for i in client.get(PATH, params=params).json()["items"]] == [str(kept.id)]
    assert client.get(PATH, params={"country": "XXX"}).status_code == 422


def test_the_changes_feed_and_the_audit_carry_ratifications(client: TestClient, session: Session) -> None:
    record = create(client, body_for())
    feed = client.get("/v1/changes", params={"types": "ratification"}).json()
    assert [(i["type"], i["id"], i["data"]) for i in feed["items"]] == [("ratification", record["id"], record)]
    assert client.patch(f"{PATH}/{record['id']}", json={"action": "accession"}).status_code == 200
    entries = session.exec(
        select(AuditEntry).where(AuditEntry.record_type == "ratification").order_by(col(AuditEntry.seq))
    ).all()
    assert [(e.actor, e.action) for e in entries] == [("test-editor", "create"), ("test-editor", "update")]
    assert entries[1].changes == {"action": ["ratification", "accession"]}


def test_a_partner_key_may_not_write_ratifications(anonymous_client: TestClient, session: Session) -> None:
    _record, key = new_key(session, name="p", role=Role.PARTNER, partner_id=make_partner(session).id)
    session.flush()
    response = anonymous_client.post(PATH, json=body_for(), headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 403
    assert response.json() == problem(
        403, "A partner key may only write activities and government reports.", "FORBIDDEN"
    )
    assert anonymous_client.get(PATH).json()["items"] == []
