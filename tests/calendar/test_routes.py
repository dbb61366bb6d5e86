"""The reporting calendar over HTTP: worked examples through the database, gaps, and bad input."""

from datetime import date
from typing import Any

import icalendar
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col

from app.models.activities import Activity
from tests.factories import make_activity, make_ratification, make_report
from tests.problems import invalid_request, problem

PATH = "/v1/reporting-calendar"


def calendar(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get(PATH, params=params)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_committee_date_and_a_combined_report_through_the_api(client: TestClient, session: Session) -> None:
    make_ratification(session, country="BRA", instrument="CRC", deposited_on=date(1990, 9, 24))
    combined = make_report(
        session,
        country="BRA",
        instrument="CRC",
        kind="combined_periodic",
        cycle_from=2,
        cycle_to=4,
        due_date=date(2011, 4, 20),
        submitted_date=date(2012, 10, 1),
    )
    body = calendar(client, country="BRA", as_of="2013-01-01", due_to="2016-01-01")
    assert (body["as_of"], body["until"]) == ("2013-01-01", "2016-01-01")
    rows = [(i["cycle"], i["due_date"], i["due_source"], i["satisfied_by"], i["status"]) for i in body["items"]]
    assert rows == [
        # The history is kept from the first date a report on record covers (2011): before it,
        # a passed date is no report on record, not overdue.
        (1, "1992-10-23", "treaty", None, "no_report_on_record"),
        (2, "2011-04-20", "committee", str(combined.id), "submitted"),
        (3, "2011-04-20", "committee", str(combined.id), "submitted"),
        (4, "2011-04-20", "committee", str(combined.id), "submitted"),
        (5, "2012-10-23", "treaty", None, "provisional"),  # after the Committee's date: never overdue
    ]
    first = body["items"][0]
    assert first == {
        "country": "BRA",
        "instrument": "CRC",
        "cycle": 1,
        "kind": "initial",
        "status": "no_report_on_record",
        "nominal_due_date": "1992-10-23",
        "committee_due_date": None,
        "due_date": "1992-10-23",
        "due_source": "treaty",
        "due_source_document": None,
        "provisional": False,
        "date_unknown_reason": None,
        "rule": "CRC art. 44(1)(a): within two years of entry into force (the day before the second anniversary)",
        "includes": [],
        "is_satisfied": False,
        "satisfied_by": None,
        "submitted_date": None,
        "is_overdue": False,
        "days_late": None,
        "report_ids": [],
        "activity_ids": [],
    }
    assert [(i["provisional"], i["is_overdue"]) for i in body["items"]][-1] == (True, False)


def test_as_of_answers_what_was_overdue_in_2003(client: TestClient, session: Session) -> None:
    make_ratification(session, country="KEN", instrument="CRC", deposited_on=date(1990, 7, 30))
    make_ratification(session, country="KEN", instrument="OPSC", deposited_on=date(2002, 9, 18))
    make_report(session, country="KEN", instrument="CRC", cycle_from=1, cycle_to=1, submitted_date=date(2000, 1, 1))
    in_2002 = calendar(client, country="KEN", as_of="2002-09-01", overdue="true")["items"]
    assert [(i["instrument"], i["cycle"], i["due_date"]) for i in in_2002] == [("CRC", 2, "1997-09-01")]
    in_2003 = calendar(client, country="KEN", as_of="2003-06-30", overdue="true")["items"]
    assert [(i["instrument"], i["cycle"], i["due_date"]) for i in in_2003] == [
        ("CRC", 2, "1997-09-01"),
        ("CRC", 3, "2002-09-01"),  # due the day before 2 September 2002: overdue from the 2nd on
    ]
    later = calendar(client, country="KEN", as_of="2005-01-01", overdue="true")["items"]
    assert [(i["instrument"], i["cycle"]) for i in later] == [("CRC", 2), ("CRC", 3), ("OPSC", 1)]
    assert calendar(client, country="FRA")["items"] == []  # no ratification on record


def test_an_opsc_only_party_and_the_instrument_filter(client: TestClient, session: Session) -> None:
    make_ratification(
        session, country="USA", instrument="OPSC", deposited_on=date(2002, 12, 23),
        reports_tracked_from=date(2002, 12, 23),
    )  # fmt: skip
    items = calendar(client, instrument="OPSC", as_of="2011-01-01", due_to="2011-01-01")["items"]
    assert [(i["country"], i["cycle"], i["due_date"], i["status"]) for i in items] == [
        ("USA", 1, "2005-01-22", "overdue"),
        ("USA", 2, "2010-01-22", "overdue"),
    ]


def test_an_override_moves_the_whole_chain(client: TestClient, session: Session) -> None:
    make_ratification(
        session, country="SRB", instrument="CRC", action="succession", deposited_on=date(2001, 3, 12),
        entry_into_force_override=date(1992, 4, 27),
    )  # fmt: skip
    items = calendar(client, country="SRB", due_to="2000-01-01")["items"]
    assert [i["due_date"] for i in items] == ["1994-04-26", "1999-04-26"]


def test_additional_information_satisfies_no_cycle(client: TestClient, session: Session) -> None:
    make_ratification(
        session, country="MEX", instrument="CRC", deposited_on=date(1990, 9, 21), reports_tracked_from=date(1990, 9, 21)
    )
    make_report(
        session, country="MEX", instrument="CRC", kind="additional_information", cycle_from=1, cycle_to=1,
        submitted_date=date(1993, 1, 1),
    )  # fmt: skip
    (item,) = calendar(client, country="MEX", as_of="1994-01-01", due_to="1994-01-01")["items"]
    assert (item["cycle"], item["is_satisfied"], item["is_overdue"], item["report_ids"]) == (1, False, True, [])


def test_gaps_are_reports_in_the_period_no_activity_monitors(client: TestClient, session: Session) -> None:
    make_ratification(session, country="MEX", instrument="CRC", deposited_on=date(1990, 9, 21))
    make_ratification(session, country="PHL", instrument="CRC", deposited_on=date(1990, 8, 21))
    monitored = make_report(
        session, country="MEX", instrument="CRC", kind="periodic", cycle_from=3, cycle_to=3,
        submitted_date=date(2004, 7, 1), review_date=date(2006, 6, 2),
    )  # fmt: skip
    unmonitored = make_report(
        session, country="PHL", instrument="CRC", kind="periodic", cycle_from=3, cycle_to=4,
        submitted_date=date(2004, 9, 1), review_date=date(2005, 9, 21),
    )  # fmt: skip
    activity = make_activity(session, government_report_ids=[monitored.id])
    response = client.get(f"{PATH}/gaps", params={"period_from": "2005-01-01", "period_to": "2005-12-31"})
    assert response.status_code == 200
    gaps = response.json()["items"]
    assert [(g["country"], g["cycle"], g["reasons"], g["report_ids"]) for g in gaps] == [
        ("PHL", 3, ["review"], [str(unmonitored.id)]),
        ("PHL", 4, ["review"], [str(unmonitored.id)]),
    ]
    mexico = calendar(client, country="MEX", as_of="2005-01-01")["items"]
    assert [i["activity_ids"] for i in mexico if i["cycle"] == 3] == [[str(activity.id)]]


def test_the_country_view_has_ratifications_calendar_reports_and_activities(
    client: TestClient, session: Session
) -> None:
    ratification = make_ratification(session, country="MEX", instrument="CRC", deposited_on=date(1990, 9, 21))
    report = make_report(session, country="MEX", instrument="CRC", cycle_from=1, cycle_to=1)
    activity = make_activity(session, government_report_ids=[report.id])
    make_report(session, country="KEN", instrument="CRC", cycle_from=1, cycle_to=1)
    response = client.get("/v1/countries/mex/reporting", params={"as_of": "1993-01-01"})
    assert response.status_code == 200
    body = response.json()
    assert (body["country"], body["as_of"]) == ("MEX", "1993-01-01")
    assert [r["id"] for r in body["ratifications"]] == [str(ratification.id)]
    assert [r["id"] for r in body["reports"]] == [str(report.id)]
    assert [a["id"] for a in body["activities"]] == [str(activity.id)]
    assert [(i["cycle"], i["is_overdue"]) for i in body["expected"]] == [(1, True), (2, False)]


def test_bad_input_is_a_problem_not_a_500(client: TestClient) -> None:
    response = client.get(PATH, params={"country": "XXX"})
    assert response.status_code == 422
    assert response.json() == invalid_request("/country/0", "'XXX' is not an ISO 3166-1 alpha-3 country code", "query")
    assert client.get(PATH, params={"as_of": "2003-02-30"}).status_code == 422
    assert client.get(PATH, params={"instrument": "ICCPR"}).status_code == 422
    assert client.get(PATH, params={"colour": "red"}).status_code == 422
    assert client.get("/v1/countries/XXX/reporting").status_code == 422
    response = client.get(f"{PATH}/gaps", params={"period_from": "2005-01-01", "period_to": "2004-01-01"})
    assert response.status_code == 400
    assert response.json() == problem(400, "period_to must not be before its start (2005-01-01).", "INVALID_RANGE")
    assert client.get(f"{PATH}/gaps", params={"period_from": "2005-13-01"}).status_code == 422
    assert client.get(PATH, params={"status": "late"}).status_code == 422


def test_article_analysis_counts_assessments_with_links(client: TestClient, session: Session) -> None:
    mexico = make_report(
        session, country="MEX", instrument="OPSC", submitted_date=date(2004, 9, 1), committee_session=42,
        articles=[{"instrument": "CRC", "article": 34, "assessment": "partially_compliant"},
                  {"instrument": "OPSC", "article": 3, "assessment": "compliant"}],
    )  # fmt: skip
    kenya = make_report(
        session, country="KEN", instrument="CRC", submitted_date=date(2006, 1, 1), committee_session=44,
        articles=[{"instrument": "CRC", "article": 34, "assessment": "non_compliant"},
                  {"instrument": "CRC", "article": 2, "assessment": "not_addressed"}],
    )  # fmt: skip
    response = client.get("/v1/analysis/articles", params={"instrument": "CRC"})
    assert response.status_code == 200
    items = {(i["instrument"], i["article"]): i for i in response.json()["items"]}
    assert list(items)[:3] == [("CRC", 1), ("CRC", 2), ("CRC", 11)]  # vocabulary articles, and article 2 assessed
    article_34 = items["CRC", 34]
    assert (article_34["title"], article_34["group"], article_34["total"]) == (
        "Sexual exploitation and sexual abuse",
        "core",
        2,
    )
    assert article_34["counts"] == {
        "compliant": 0,
        "partially_compliant": 1,
        "non_compliant": 1,
        "not_addressed": 0,
        "unknown": 0,
    }
    assert sorted((r["country"], r["assessment"], r["href"]) for r in article_34["reports"]) == [
        ("KEN", "non_compliant", f"/v1/government-reports/{kenya.id}"),
        ("MEX", "partially_compliant", f"/v1/government-reports/{mexico.id}"),
    ]
    assert (items["CRC", 2]["title"], items["CRC", 2]["total"]) == (None, 1)
    assert items["CRC", 19]["total"] == 0
    narrowed = client.get(
        "/v1/analysis/articles", params={"committee_session": "42", "period_from": "2004-01-01", "country": "MEX"}
    ).json()["items"]
    assert {(i["instrument"], i["article"]): i["total"] for i in narrowed if i["total"]} == {
        ("CRC", 34): 1,
        ("OPSC", 3): 1,
    }
    assert (
        client.get("/v1/analysis/articles", params={"period_from": "2005-01-01", "period_to": "2004-01-01"}).status_code
        == 400
    )


def test_the_ics_feed_parses_back_with_stable_uids(client: TestClient, session: Session) -> None:
    make_ratification(session, country="MEX", instrument="CRC", deposited_on=date(1990, 9, 21))
    report = make_report(
        session, country="MEX", instrument="CRC", kind="periodic", cycle_from=3, cycle_to=3, symbol="CRC/C/125/Add.7",
        submitted_date=date(2004, 7, 1), review_date=date(2006, 6, 2), committee_session=42,
    )  # fmt: skip
    activity = make_activity(
        session, code="SEC-2003-5.1", title="Monitoring", planned_start=date(2003, 1, 1), planned_end=date(2003, 12, 31)
    )
    response = client.get(
        "/v1/calendar.ics", params={"country": "MEX", "as_of": "2007-01-01", "due_from": "1990-01-01"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    parsed = icalendar.Calendar.from_ical(response.content)  # filterwarnings=error: a warning fails
    assert parsed.errors == []
    events = {str(e["uid"]): e for e in parsed.walk("VEVENT")}
    assert all(e.errors == [] for e in events.values())
    assert set(events) == {
        "due-MEX-CRC-1@workplan",
        "due-MEX-CRC-2@workplan",
        "due-MEX-CRC-3@workplan",
        "due-MEX-CRC-4@workplan",
        f"review-{report.id}@workplan",
    }  # the activity names no country, so a country filter leaves it out
    third = events["due-MEX-CRC-3@workplan"]
    assert (third.decoded("dtstart"), third.decoded("dtend")) == (date(2002, 10, 20), date(2002, 10, 21))
    assert str(third["summary"]) == "MEX: CRC periodic report (cycle 3) submitted"
    review = events[f"review-{report.id}@workplan"]
    assert str(review["summary"]) == "Committee session 42: review of MEX's CRC report"
    every = icalendar.Calendar.from_ical(client.get("/v1/calendar.ics").content)
    spans = {str(e["uid"]): (e.decoded("dtstart"), e.decoded("dtend")) for e in every.walk("VEVENT")}
    assert spans[f"activity-{activity.id}@workplan"] == (date(2003, 1, 1), date(2004, 1, 1))
    again = client.get("/v1/calendar.ics", params={"country": "MEX", "as_of": "2007-01-01", "due_from": "1990-01-01"})
    assert again.content == response.content
    etag = response.headers["etag"]
    assert (
        client.get(
            "/v1/calendar.ics",
            params={"country": "MEX", "as_of": "2007-01-01", "due_from": "1990-01-01"},
            headers={"If-None-Match": etag},
        ).status_code
        == 304
    )


def test_the_cycles_run_five_years_ahead_but_never_past_2199(client: TestClient, session: Session) -> None:
    make_ratification(session, country="MEX", instrument="CRC", deposited_on=date(1990, 9, 21))
    assert calendar(client, as_of="2003-01-01")["until"] == "2008-01-01"
    last = calendar(client, as_of="2199-12-31")
    assert last["until"] == "2199-12-31"
    assert max(item["nominal_due_date"] for item in last["items"]) <= "2199-12-31"


def test_an_activity_stored_as_ending_9999_12_31_is_one_event_of_that_length(
    client: TestClient, session: Session
) -> None:
    # No date names the day after 9999-12-31, which DTEND would need: the feed answered 500 to everyone.
    activity = make_activity(session, planned_start=date(2003, 1, 1))
    session.execute(update(Activity).where(col(Activity.id) == activity.id).values(planned_end=date.max))
    session.flush()
    response = client.get("/v1/calendar.ics")
    assert response.status_code == 200, response.text
    (event,) = icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    assert event.decoded("dtstart") == date(2003, 1, 1)
    assert "DTEND" not in event
    assert event.decoded("duration").days == (date.max - date(2003, 1, 1)).days + 1
