"""The shipped ratifications: every row of the reference data, its provenance, and a re-seed that
refreshes what it still owns and leaves an editor's records alone."""

import csv
from collections import Counter
from datetime import date

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col, select

from app.models.ratifications import Ratification
from app.seed.ratifications import DATA_FILE, load_ratifications
from app.seed.service import seed_id
from tests.factories import make_ratification


def shipped(client: TestClient, country: str, instrument: str) -> dict[str, object]:
    response = client.get("/v1/ratifications", params={"country": country, "instrument": instrument})
    (found,) = response.json()["items"]
    return found  # type: ignore[no-any-return]


def test_every_row_ships_with_its_sources_and_confidence(client: TestClient, session: Session) -> None:
    report = load_ratifications(session)
    assert (report.created, report.updated, report.kept_editor) == (547, 0, 0)
    rows = list(csv.DictReader(DATA_FILE.read_text(encoding="utf-8").splitlines()))
    by_instrument = Counter(r.instrument for r in session.exec(select(Ratification)))
    assert by_instrument == {"CRC": 196, "OPSC": 178, "OPAC": 173}
    rwanda = shipped(client, "RWA", "CRC")
    row = next(r for r in rows if (r["country"], r["instrument"]) == ("RWA", "CRC"))
    assert {k: rwanda[k] for k in ("origin", "deposited_on", "sources", "confidence", "disputed")} == {
        "origin": "shipped",
        "deposited_on": "1991-01-24",
        "sources": row["sources"],
        "confidence": "confirmed",
        "disputed": None,
    }
    assert shipped(client, "FJI", "OPSC")["confidence"] == "single-source"
    # Every date as the file has it: none edited on the way in.
    for record in session.exec(select(Ratification)):
        source = next(r for r in rows if (r["country"], r["instrument"]) == (record.country, record.instrument))
        assert record.deposited_on.isoformat() == source["deposited_on"]


def test_a_disputed_cell_keeps_both_values_and_neither_is_used(client: TestClient, session: Session) -> None:
    load_ratifications(session)
    croatia = shipped(client, "HRV", "CRC")
    reason = "disputed succession date: 1991-10-08 or 1991-10-06"
    assert {
        k: croatia[k]
        for k in ("succession_effective_on", "disputed", "entry_into_force_on", "entry_into_force_unknown_reason")
    } == {
        "succession_effective_on": None,
        "disputed": {"succession_effective_on": ["1991-10-08", "1991-10-06"]},
        "entry_into_force_on": None,
        "entry_into_force_unknown_reason": reason,
    }
    (item,) = client.get("/v1/reporting-calendar", params={"country": "HRV", "instrument": "CRC"}).json()["items"]
    assert (item["status"], item["due_date"], item["date_unknown_reason"]) == ("date_unknown", None, reason)
    # China: the published entry into force is disputed; the treaty arithmetic's date is not.
    china = shipped(client, "CHN", "CRC")
    assert (china["entry_into_force_published"], china["disputed"], china["entry_into_force_on"]) == (
        None,
        {"entry_into_force_published": ["1992-04-01", "1992-04-02"]},
        "1992-04-01",
    )
    # An editor who records the date settles the dispute: the record is the editor's from then on.
    patched = client.patch(f"/v1/ratifications/{croatia['id']}", json={"succession_effective_on": "1991-10-08"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["origin"], patched.json()["disputed"], patched.json()["entry_into_force_on"]) == (
        "editor",
        None,
        "1991-10-08",
    )


def test_a_reseed_refreshes_its_own_records_and_never_an_editors(client: TestClient, session: Session) -> None:
    typed_in = make_ratification(session, country="RWA", instrument="CRC", deposited_on=date(1991, 1, 24))
    load_ratifications(session)
    assert session.get(Ratification, seed_id("ratification", "RWA/CRC")) is None  # the editor's record stays
    # A shipped record the data changed under (as a newer file would) is refreshed...
    kenya_id = seed_id("ratification", "KEN/CRC")
    session.execute(update(Ratification).where(col(Ratification.id) == kenya_id).values(confidence="stale"))
    # ...one an editor changed is not, nor one someone deleted.
    mexico = shipped(client, "MEX", "OPSC")
    response = client.patch(f"/v1/ratifications/{mexico['id']}", json={"reservations": "Declaration on art. 3."})
    assert response.status_code == 200
    assert client.delete(f"/v1/ratifications/{shipped(client, 'FRA', 'CRC')['id']}").status_code == 204
    session.expire_all()
    again = load_ratifications(session)
    assert (again.created, again.updated, again.kept_editor, again.skipped_deleted) == (0, 1, 2, 1)
    assert again.unchanged == 543
    assert shipped(client, "KEN", "CRC")["confidence"] == "confirmed"
    assert shipped(client, "MEX", "OPSC")["reservations"] == "Declaration on art. 3."
    assert shipped(client, "MEX", "OPSC")["origin"] == "editor"
    assert shipped(client, "RWA", "CRC")["id"] == str(typed_in.id)
    assert client.get("/v1/ratifications", params={"country": "FRA", "instrument": "CRC"}).json()["items"] == []


def test_on_the_shipped_data_no_state_is_overdue_without_a_report_history(client: TestClient, session: Session) -> None:
    load_ratifications(session)
    response = client.get("/v1/reporting-calendar", params={"as_of": "2026-12-06"})
    assert response.status_code == 200
    items = response.json()["items"]
    assert {i["country"] for i in items} >= {"RWA", "USA", "HRV", "SVK"}
    assert not [i for i in items if i["is_overdue"] or i["status"] == "overdue"]
    statuses = Counter(i["status"] for i in items)
    assert set(statuses) == {"due", "no_report_on_record", "date_unknown"}
    # Successions without a date of succession on record (Slovakia, ...), and Croatia's dispute.
    unknown = sorted({(i["country"], i["instrument"]) for i in items if i["status"] == "date_unknown"})
    assert unknown == [
        ("BIH", "CRC"),
        ("CZE", "CRC"),
        ("HRV", "CRC"),
        ("MKD", "CRC"),
        ("MNE", "CRC"),
        ("MNE", "OPAC"),
        ("MNE", "OPSC"),
        ("SRB", "CRC"),
        ("SVK", "CRC"),
        ("SVN", "CRC"),
    ]
    rwanda = [(i["cycle"], i["due_date"]) for i in items if (i["country"], i["instrument"]) == ("RWA", "CRC")]
    assert (6, "2018-02-22") in rwanda
    usa = [(i["instrument"], i["cycle"], i["due_date"]) for i in items if i["country"] == "USA"]
    assert ("OPSC", 2, "2010-01-22") in usa
    assert ("OPAC", 2, "2010-01-22") in usa
    assert not [i for i in items if i["country"] == "USA" and i["instrument"] == "CRC"]
    assert date(2026, 12, 6).isoformat() == response.json()["as_of"]
