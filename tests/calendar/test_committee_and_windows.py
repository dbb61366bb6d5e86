"""The Committee's dates through the API, and the gaps and .ics feed on the shipped data with no
period given."""

from collections import Counter
from datetime import date

import icalendar
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.seed.ratifications import load_ratifications
from tests.factories import make_ratification, make_report

PATH = "/v1/reporting-calendar"


def test_concluding_observations_set_the_next_reports_date_and_what_follows_is_provisional(
    client: TestClient, session: Session
) -> None:
    # Rwanda's third and fourth reports; the observations on them asked for the fifth and sixth
    # combined "by 22 February 2018".
    make_ratification(session, country="RWA", instrument="CRC", deposited_on=date(1991, 1, 24))
    make_report(
        session, country="RWA", instrument="CRC", kind="combined_periodic", cycle_from=3, cycle_to=4,
        symbol="CRC/C/RWA/3-4", submitted_date=date(2009, 5, 1), review_date=date(2013, 1, 18),
        concluding_observations_symbol="CRC/C/RWA/CO/3-4", concluding_observations_date=date(2013, 2, 1),
        next_report_due_date=date(2018, 2, 22), next_report_cycle_from=5, next_report_cycle_to=6,
    )  # fmt: skip
    response = client.get(PATH, params={"country": "RWA", "as_of": "2026-12-06"})
    assert response.status_code == 200
    rows = [
        (i["cycle"], i["due_date"], i["status"], i["due_source"], i["due_source_document"], i["provisional"])
        for i in response.json()["items"]
    ]
    assert rows == [
        (1, "1993-02-22", "no_report_on_record", "treaty", None, False),  # before the history on record
        (2, "1998-02-22", "no_report_on_record", "treaty", None, False),
        (3, "2003-02-22", "submitted", "treaty", None, False),
        (4, "2008-02-22", "submitted", "treaty", None, False),
        (5, "2018-02-22", "overdue", "committee", "CRC/C/RWA/CO/3-4", False),
        (6, "2018-02-22", "overdue", "committee", "CRC/C/RWA/CO/3-4", False),
        (7, "2023-02-22", "provisional", "treaty", None, True),  # after the Committee's date: never overdue
        (8, "2028-02-22", "provisional", "treaty", None, True),
    ]
    feed = icalendar.Calendar.from_ical(
        client.get("/v1/calendar.ics", params={"country": "RWA", "due_from": "2018-01-01"}).content
    )
    events = {str(e["uid"]): e for e in feed.walk("VEVENT")}
    fifth = events["due-RWA-CRC-5@workplan"]
    assert str(fifth["summary"]).endswith("(cycle 5) overdue")
    assert "(committee, CRC/C/RWA/CO/3-4)" in str(fifth["description"])
    assert str(events["due-RWA-CRC-7@workplan"]["summary"]).endswith("(cycle 7) provisional")
    overdue = client.get(PATH, params={"country": "RWA", "as_of": "2026-12-06", "overdue": "true"}).json()
    assert [i["cycle"] for i in overdue["items"]] == [5, 6]


def test_a_next_report_covers_cycles_in_order(client: TestClient) -> None:
    body = {
        "country": "RWA", "instrument": "CRC", "kind": "combined_periodic", "cycle_from": 3, "cycle_to": 4,
        "next_report_due_date": "2018-02-22", "next_report_cycle_from": 6, "next_report_cycle_to": 5,
    }  # fmt: skip
    response = client.post("/v1/government-reports", json=body)
    assert response.status_code == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/next_report_cycle_to"]


def test_gaps_without_a_period_are_what_falls_due_in_the_next_12_months(client: TestClient, session: Session) -> None:
    load_ratifications(session)
    response = client.get(f"{PATH}/gaps", params={"as_of": "2026-12-06"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["period_from"], body["period_to"]) == ("2026-12-06", "2027-12-06")
    assert body["items"]
    assert all(g["reasons"] == ["due"] and "2026-12-06" <= g["due_date"] <= "2027-12-06" for g in body["items"])
    every = client.get(PATH, params={"as_of": "2026-12-06", "due_from": "2026-12-06", "due_to": "2027-12-06"})
    assert len(body["items"]) == len(every.json()["items"])  # no activity monitors any of them yet
    assert {g["status"] for g in body["items"]} == {"due"}


def test_the_ics_feed_without_dates_holds_the_due_dates_within_a_year_of_today(
    client: TestClient, session: Session
) -> None:
    load_ratifications(session)
    response = client.get("/v1/calendar.ics", params={"as_of": "2026-12-06"})
    assert response.status_code == 200
    events = icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    starts = [e.decoded("dtstart") for e in events]
    assert starts
    assert date(2025, 12, 6) <= min(starts)
    assert max(starts) <= date(2027, 12, 6)
    window = client.get(PATH, params={"as_of": "2026-12-06", "due_from": "2025-12-06", "due_to": "2027-12-06"})
    statuses = Counter(i["status"] for i in window.json()["items"])
    assert len(events) == statuses.total()
    summaries = Counter(str(e["summary"]).rsplit(") ", 1)[1] for e in events)
    assert summaries == {status.replace("_", " "): n for status, n in statuses.items()}
    assert "overdue" not in summaries  # no State's report history is kept on the shipped data alone
