"""The published examples (DOMAIN.md, "The reporting cycle"), through the API on each database.

Deposits are those of ../shared/data/untc-ratifications.csv; the due dates are those the Committee
and OHCHR published.
"""

from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import make_ratification

PATH = "/v1/reporting-calendar"


def due(client: TestClient, country: str, **params: Any) -> list[tuple[str, int, str | None]]:
    response = client.get(PATH, params={"country": country, **params})
    assert response.status_code == 200, response.text
    return [(i["instrument"], i["cycle"], i["due_date"]) for i in response.json()["items"]]


def ratification(client: TestClient, country: str, instrument: str) -> dict[str, Any]:
    response = client.get("/v1/ratifications", params={"country": country, "instrument": instrument})
    (found,) = response.json()["items"]
    return found  # type: ignore[no-any-return]


def test_rwanda_owed_its_fifth_and_sixth_reports_by_22_february_2018(client: TestClient, session: Session) -> None:
    make_ratification(session, country="RWA", instrument="CRC", deposited_on=date(1991, 1, 24))
    assert ratification(client, "RWA", "CRC")["entry_into_force_on"] == "1991-02-23"
    assert due(client, "RWA", due_to="2018-12-31") == [
        ("CRC", 1, "1993-02-22"),
        ("CRC", 2, "1998-02-22"),
        ("CRC", 3, "2003-02-22"),
        ("CRC", 4, "2008-02-22"),
        ("CRC", 5, "2013-02-22"),
        ("CRC", 6, "2018-02-22"),
    ]


def test_the_united_states_a_protocol_party_owed_both_second_reports_on_22_january_2010(
    client: TestClient, session: Session
) -> None:
    make_ratification(session, country="USA", instrument="OPSC", deposited_on=date(2002, 12, 23))
    make_ratification(session, country="USA", instrument="OPAC", deposited_on=date(2002, 12, 23))
    assert ratification(client, "USA", "OPSC")["entry_into_force_on"] == "2003-01-23"
    assert due(client, "USA", due_to="2010-12-31") == [
        ("OPSC", 1, "2005-01-22"),
        ("OPSC", 2, "2010-01-22"),  # not a CRC party: every five years on its own (art. 12(2))
        ("OPAC", 1, "2005-01-22"),
        ("OPAC", 2, "2010-01-22"),
    ]


def test_viet_nam_deposited_the_opsc_before_it_was_in_force(client: TestClient, session: Session) -> None:
    make_ratification(session, country="VNM", instrument="OPSC", deposited_on=date(2001, 12, 20))
    found = ratification(client, "VNM", "OPSC")
    assert (found["entry_into_force_on"], found["entry_into_force_computed"]) == ("2002-01-18", "2002-01-18")
    assert due(client, "VNM", due_to="2004-12-31") == [("OPSC", 1, "2004-01-17")]


def test_benin_deposited_the_opsc_on_31_january_in_force_28_february(client: TestClient, session: Session) -> None:
    make_ratification(session, country="BEN", instrument="OPSC", deposited_on=date(2005, 1, 31))
    assert ratification(client, "BEN", "OPSC")["entry_into_force_on"] == "2005-02-28"
    assert due(client, "BEN", due_to="2007-12-31") == [("OPSC", 1, "2007-02-27")]


def test_tunisia_in_force_on_29_february_reports_on_28_february(client: TestClient, session: Session) -> None:
    make_ratification(session, country="TUN", instrument="CRC", deposited_on=date(1992, 1, 30))
    assert ratification(client, "TUN", "CRC")["entry_into_force_on"] == "1992-02-29"
    assert due(client, "TUN", due_to="2004-12-31") == [
        ("CRC", 1, "1994-02-28"),
        ("CRC", 2, "1999-02-28"),
        ("CRC", 3, "2004-02-28"),
    ]


def test_slovakia_is_date_unknown_until_its_date_of_succession_is_recorded(
    client: TestClient, session: Session
) -> None:
    record = make_ratification(
        session, country="SVK", instrument="CRC", action="succession", deposited_on=date(1993, 5, 28)
    )
    found = ratification(client, "SVK", "CRC")
    reason = "succession without its date of succession on record: the notification date gives none"
    assert (found["entry_into_force_on"], found["entry_into_force_unknown_reason"]) == (None, reason)
    response = client.get(PATH, params={"country": "SVK", "as_of": "2026-01-01"})
    (item,) = response.json()["items"]
    assert {k: item[k] for k in ("cycle", "status", "due_date", "nominal_due_date", "date_unknown_reason")} == {
        "cycle": 1,
        "status": "date_unknown",
        "due_date": None,
        "nominal_due_date": None,
        "date_unknown_reason": reason,
    }
    # The notification never gives a date: not 1993-05-28 + 30 days + 2 years.
    assert due(client, "SVK", due_from="1995-01-01") == []
    # Slovakia is bound from 1 January 1993: its initial report was "due in 1994".
    patched = client.patch(f"/v1/ratifications/{record.id}", json={"succession_effective_on": "1993-01-01"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["entry_into_force_on"], patched.json()["entry_into_force_unknown_reason"]) == (
        "1993-01-01",
        None,
    )
    assert due(client, "SVK", due_to="1999-12-31") == [("CRC", 1, "1994-12-31"), ("CRC", 2, "1999-12-31")]


def test_a_date_of_succession_is_for_a_succession_only(client: TestClient) -> None:
    body = {"country": "RWA", "instrument": "CRC", "action": "ratification", "deposited_on": "1991-01-24"}
    response = client.post("/v1/ratifications", json=body | {"succession_effective_on": "1991-01-01"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"].endswith("succession_effective_on is for a succession only")
