"""The pages through the test client: what they show of the seed, their filters, their errors."""

import csv
import html
import io
import itertools
import re
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col

from app.calendar.service import Expected, reporting_calendar
from app.config import get_settings
from app.models.reports import GovernmentReport
from app.pages.status import status_words
from app.pages.text import day
from app.seed.ratifications import load_ratifications
from app.seed.service import load_seed
from app.treaties import SUCCESSION_UNKNOWN
from tests.factories import make_partner, make_ratification, make_report

MONITORING = "1536172d-febe-5d66-adf8-2df0226526a4"  # SEC-2003-5.1, in progress, with two partners
PAGES = ["/", "/partners", "/reports", f"/activities/{MONITORING}"]


@pytest.fixture
def seeded(session: Session, client: TestClient) -> TestClient:
    load_seed(session)
    session.flush()
    return client


def headings(body: str) -> list[tuple[int, str]]:
    found = re.findall(r"<h([1-6])[^>]*>(.*?)</h\1>", body, re.S)
    return [(int(level), " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())) for level, text in found]


def test_home_is_the_2003_plan_with_its_six_objectives_in_order(seeded: TestClient) -> None:
    response = seeded.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    found = headings(response.text)
    assert found[0] == (1, "2003 Work Plan")
    objectives = [text for level, text in found if level == 2 and text[:1].isdigit()]
    assert [text.split(" ", 1)[0] for text in objectives] == ["1", "2", "3", "4", "5", "6"]
    assert objectives[4] == "5 Committee on the Rights of the Child"
    assert len([level for level, _ in found if level == 3]) == 14
    assert "14 activities" in response.text


def test_home_shows_status_in_words_and_partners_with_their_roles(seeded: TestClient) -> None:
    body = seeded.get("/").text
    item = body[body.index("SEC-2003-5.1") - 1500 : body.index("SEC-2003-5.1") + 1500]
    assert "◐</span> In progress" in item
    assert 'Focal Point</a> <span class="role">(Focal point)</span>' in item
    assert 'Committee on the Rights of the Child</a> <span class="role">(Addressed to)</span>' in item


def test_a_filter_uses_the_api_parameters_and_links_to_the_same_list_as_csv(seeded: TestClient) -> None:
    response = seeded.get("/", params={"status": "in_progress", "type": ""})
    assert response.status_code == 200
    assert "SEC-2003-5.1" in response.text
    assert "SEC-2003-1.1" not in response.text
    assert "5 objectives have no matching activity" in response.text
    link = html.unescape(re.search(r'href="(/v1/activities\?[^"]*format=csv[^"]*)"', response.text).group(1))  # type: ignore[union-attr]
    assert "status=in_progress" in link
    exported = seeded.get(link)
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [row["code"] for row in rows] == ["SEC-2003-5.1"]


def test_a_search_finds_activities_by_their_words(seeded: TestClient) -> None:
    body = seeded.get("/", params={"q": "Rapporteur"}).text
    assert "SEC-2003-6.1" in body
    assert "SEC-2003-1.1" not in body


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/?status=bogus", "Status: Input should be"),
        ("/?q=%22open", "unclosed quote"),
        ("/?work_plan_id=not-an-id", "is not a work plan id"),
        ("/?planned_start_from=2004-01-01&planned_start_to=2003-01-01", "must not be before"),
        ("/?unknown=1", "'unknown' is not a filter of this page"),
        ("/partners?active_on=yesterday", "Active on: must be a date written YYYY-MM-DD (got 'yesterday')."),
        ("/reports?due_to=0", "Due to: must be a date written YYYY-MM-DD (got '0')."),
        ("/reports?as_of=9999-12-31", "As of: must be between 1900-01-01 and 2199-12-31 (got '9999-12-31')."),
        ("/reports?overdue=perhaps", "Overdue: Input should be a valid boolean"),
        ("/reports?due_from=2010-01-01&due_to=2009-01-01", "Due to must not be before its start"),
        ("/reports?country=XXX", "Country"),
    ],
)
def test_bad_filters_are_a_400_page_that_says_why(seeded: TestClient, url: str, message: str) -> None:
    response = seeded.get(url)
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    alert = re.search(r'<div class="errors" role="alert">(.*?)</div>', response.text, re.S)
    assert alert is not None
    assert message in html.unescape(alert.group(1))
    assert "<form" in response.text  # the form is there to correct it


@pytest.mark.parametrize("path", ["/activities/not-an-id", "/activities/00000000-0000-0000-0000-000000000000"])
def test_an_unknown_activity_is_a_404_page(seeded: TestClient, path: str) -> None:
    response = seeded.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert headings(response.text) == [(1, "No such activity")]


def test_an_unknown_work_plan_is_a_404_page(seeded: TestClient) -> None:
    response = seeded.get("/?work_plan_id=00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "no work plan with id" in response.text


def test_the_activity_page_names_its_objective_partners_and_exports(seeded: TestClient) -> None:
    response = seeded.get(f"/activities/{MONITORING}")
    assert response.status_code == 200
    assert headings(response.text)[:2] == [
        (1, "Monitoring of government reports to the Committee, through the Focal Point and subgroup members"),
        (2, "Facts"),
    ]
    assert "Objective 5: Committee on the Rights of the Child" in response.text
    assert "Focal Point</a>: Focal point" in response.text
    assert f'href="/v1/activities/{MONITORING}"' in response.text


def test_partners_filter_by_kind_and_link_to_their_activities(seeded: TestClient, session: Session) -> None:
    make_partner(session, name="ECPAT International", kind="network", contact_email="secret@example.org")
    response = seeded.get("/partners", params={"kind": "treaty_body"})
    assert response.status_code == 200
    names = [text for level, text in headings(response.text) if level == 3]
    assert names == ["Committee on the Rights of the Child"]
    partner_id = re.search(r'href="/\?partner_id=([0-9a-f-]+)"', response.text).group(1)  # type: ignore[union-attr]
    activities = seeded.get("/", params={"partner_id": partner_id}).text
    assert "SEC-2003-5.1" in activities
    assert "SEC-2003-1.1" not in activities
    # Anonymous pages show public fields only.
    assert "secret@example.org" not in seeded.get("/partners").text


def test_reports_say_plainly_that_the_seed_has_none(seeded: TestClient) -> None:
    response = seeded.get("/reports")
    assert response.status_code == 200
    assert "No State is on the calendar yet." in response.text
    assert "POST /v1/ratifications" in response.text
    assert "<table" not in response.text


def calendar_of(session: Session, as_of: str, **filters: Any) -> dict[tuple[str, str, int], Expected]:
    """The service's items (what the page must show), by country, instrument and cycle."""
    items = reporting_calendar(session, as_of=date.fromisoformat(as_of), **filters).items
    return {(i.country, i.instrument.value, i.cycle): i for i in items}


def table_rows(body: str) -> list[list[str]]:
    """The body rows of the page's first table, each cell as text (as a screen reader reads it:
    without the icons hidden from it)."""
    table = body[body.index("<tbody") : body.index("</tbody>")]
    table = re.sub(r'<span class="icon" aria-hidden="true">.*?</span>', "", table)
    return [
        [
            " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr, re.S)
        ]
        for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)
    ]


def three_states(session: Session) -> None:
    # France: its initial CRC report on record (so its history is kept), its 2nd and 3rd (1997,
    # 2002) not; Mexico's initial OPSC report falls due in 2004 (its history kept since its
    # deposit), Kenya's in 2006 (no history kept).
    make_ratification(session, country="FRA", instrument="CRC", deposited_on="1990-08-07")
    make_report(
        session,
        country="FRA",
        instrument="CRC",
        cycle_from=1,
        cycle_to=1,
        symbol="CRC/C/3/Add.15",
        submitted_date="1993-04-08",
        review_date="1994-01-13",
        notes="Internal: do not publish",
    )
    make_ratification(
        session, country="MEX", instrument="OPSC", deposited_on="2002-03-15", reports_tracked_from="2002-03-15"
    )
    make_ratification(session, country="KEN", instrument="OPSC", deposited_on="2004-01-28")


def test_reports_list_what_falls_due_in_the_window_as_one_table(seeded: TestClient, session: Session) -> None:
    three_states(session)
    expected = calendar_of(session, "2005-01-01")
    response = seeded.get("/reports", params={"as_of": "2005-01-01"})
    assert response.status_code == 200
    # The default window: a year back and two ahead of the day judged on.
    assert (2, "Due 1 Jan 2004 to 1 Jan 2007") in headings(response.text)
    rows = table_rows(response.text)
    mex, ken = expected["MEX", "OPSC", 1], expected["KEN", "OPSC", 1]
    assert [row[:3] for row in rows] == [
        [day(mex.due_date), "Mexico MEX", "OPSC initial"],
        [day(ken.due_date), "Kenya KEN", "OPSC initial"],
    ]
    assert rows[0][3:] == [status_words(mex).words, status_words(mex).source]
    assert rows[0][4] == "Treaty (OPSC art. 12(1))"
    assert "<svg" not in response.text  # no timeline per State on the list
    # France's overdue reports fell due before the window: counted, and a link shows them.
    overdue = [i for i in expected.values() if i.country == "FRA" and i.is_overdue]
    link = re.search(r'<a href="(/reports\?[^"]*)">(\d+) overdue reports? fell due before</a>', response.text)
    assert link is not None
    assert int(link.group(2)) == len(overdue)
    earlier = seeded.get(html.unescape(link.group(1)))
    assert [row[1] for row in table_rows(earlier.text)] == ["France FRA"] * len(overdue)
    # Each State's name leads to its page, judged on the same day.
    assert 'href="/reports/MEX?as_of=2005-01-01"' in response.text
    # The JSON and iCalendar links name the same window.
    assert (
        'href="/v1/reporting-calendar?as_of=2005-01-01&amp;due_from=2004-01-01&amp;due_to=2007-01-01"' in response.text
    )


def test_reports_filter_by_country_and_instrument_and_keep_the_filters(seeded: TestClient, session: Session) -> None:
    three_states(session)
    body = seeded.get("/reports", params={"as_of": "2005-01-01", "country": "KEN"}).text
    assert [row[1] for row in table_rows(body)] == ["Kenya KEN"]
    # The form offers every State on the calendar by name, and keeps the choice.
    country = body[body.index('<select id="f-country"') : body.index("</select>", body.index('id="f-country"'))]
    options = re.findall(r'<option value="([A-Z]{3})"( selected)?>([^<]*)</option>', country)
    assert options == [("FRA", "", "France (FRA)"), ("KEN", " selected", "Kenya (KEN)"), ("MEX", "", "Mexico (MEX)")]
    assert "country=KEN" in re.search(r'href="/v1/reporting-calendar\?([^"]*)"', body).group(1)  # type: ignore[union-attr]
    nothing = seeded.get("/reports", params={"as_of": "2005-01-01", "instrument": "CRC"})
    assert nothing.status_code == 200
    assert "No report matches these filters in these dates." in nothing.text
    wide = seeded.get("/reports", params={"as_of": "2005-01-01", "instrument": "CRC", "due_from": "1990-01-01"})
    assert [row[2] for row in table_rows(wide.text)][:2] == ["CRC initial", "CRC 2nd periodic"]
    # Only an end date: the year before it.
    earlier = seeded.get("/reports", params={"as_of": "2005-01-01", "due_to": "1998-01-01"})
    assert (2, "Due 1 Jan 1997 to 1 Jan 1998") in headings(earlier.text)
    assert [row[2] for row in table_rows(earlier.text)] == ["CRC 2nd periodic"]
    # A State's link keeps the instrument and the day judged on.
    link = re.search(r'href="(/reports/FRA\?[^"]*)"', wide.text).group(1)  # type: ignore[union-attr]
    assert html.unescape(link) == "/reports/FRA?instrument=CRC&as_of=2005-01-01"
    three = seeded.get("/reports", params={"as_of": "2005-01-01", "country": "MEX"})
    link = re.search(r'href="(/reports/MEX\?[^"]*)"', three.text).group(1)  # type: ignore[union-attr]
    assert html.unescape(link) == "/reports/MEX?as_of=2005-01-01"


def test_a_state_page_shows_every_cycle_its_source_status_and_reports(seeded: TestClient, session: Session) -> None:
    three_states(session)
    report = make_report(
        session, country="FRA", instrument="CRC", cycle_from=2, cycle_to=2, due_date="1999-06-30"
    )  # the Committee set another date for the 2nd report
    expected = calendar_of(session, "2005-01-01", countries=["FRA"])
    response = seeded.get("/reports/FRA", params={"as_of": "2005-01-01"})
    assert response.status_code == 200
    found = headings(response.text)
    assert found[:3] == [(1, "France FRA"), (2, "Ratifications"), (2, "Timeline")]
    assert (2, "CRC: every cycle") in found
    cycles = table_rows(response.text[response.text.index('id="cycles-CRC"') :])
    assert [row[0] for row in cycles] == [
        "CRC initial",
        "CRC 2nd periodic date set by the Committee (the treaty's: "
        + day(expected["FRA", "CRC", 2].nominal_due_date)
        + ")",
        "CRC 3rd periodic",
        "CRC 4th periodic",
    ]
    for row, item in zip(cycles, sorted(expected.values(), key=lambda i: i.cycle), strict=True):
        words = status_words(item)
        assert row[1:4] == [day(item.due_date), words.source, words.words]
    assert cycles[0][3] == "Submitted 8 Apr 1993"
    assert cycles[1][2].startswith("Committee")
    # After the Committee's date, the treaty's dates are provisional: never called overdue.
    assert cycles[2][2:4] == [
        "Provisional: the treaty's date, after the latest date the Committee set",
        "Provisional: never called overdue",
    ]
    assert cycles[0][4] == "CRC/C/3/Add.15"
    assert f'href="/v1/government-reports/{report.id}"' in response.text
    assert response.text.count("<svg viewBox") == 1
    # Anonymous pages show public fields only: a report's internal notes never.
    assert "do not publish" not in response.text


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/reports/XXX", "No such State"),
        ("/reports/ZZ9", "No such State"),
        ("/reports/FRANCE", "No such State"),
        ("/reports/NOR", "No such State on the calendar"),
    ],
)
def test_an_unknown_state_is_a_404_page(seeded: TestClient, session: Session, path: str, title: str) -> None:
    three_states(session)
    response = seeded.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert headings(response.text) == [(1, title)]


def test_a_state_code_in_lower_case_is_the_same_state(seeded: TestClient, session: Session) -> None:
    three_states(session)
    response = seeded.get("/reports/fra")
    assert response.status_code == 200
    assert headings(response.text)[0] == (1, "France FRA")


def test_a_state_page_with_a_bad_filter_is_a_400_page(seeded: TestClient, session: Session) -> None:
    three_states(session)
    response = seeded.get("/reports/FRA", params={"as_of": "yesterday"})
    assert response.status_code == 400
    assert "As of: must be a date" in html.unescape(response.text)


def test_an_item_without_a_date_is_listed_apart_with_its_reason(seeded: TestClient, session: Session) -> None:
    # A succession without its effective date: the calendar computes no date and says why.
    three_states(session)
    make_ratification(session, country="HRV", instrument="CRC", action="succession", deposited_on="1992-10-12")
    response = seeded.get("/reports", params={"as_of": "2005-01-01"})
    assert response.status_code == 200
    section = response.text[response.text.index('id="unknown-heading"') :]
    assert 'Croatia</a> <span class="code">HRV</span>, CRC initial' in section
    assert f"Date unknown: {SUCCESSION_UNKNOWN}" in html.unescape(section)
    assert "CRC initial" not in section[section.index("</section>") :]  # listed once, apart


def test_a_past_date_without_a_report_history_is_drawn_and_said_alike(seeded: TestClient, session: Session) -> None:
    # Where the service keeps no report history of a State, the calendar calls a past date "no
    # report on record", not overdue: the timeline draws no overdue triangle for it either.
    make_ratification(session, country="MEX", instrument="OPSC", deposited_on="2002-03-15")
    response = seeded.get("/reports/MEX", params={"as_of": "2005-01-01"})
    assert response.status_code == 200
    cycles = table_rows(response.text[response.text.index('id="cycles-OPSC"') :])
    assert cycles[0][3] == "No report on record"
    drawing = response.text[
        response.text.index('<svg viewBox="0 0 760') : response.text.index(
            "</svg>", response.text.index('<svg viewBox="0 0 760')
        )
    ]
    assert "m-overdue" not in drawing
    assert "span-late" not in drawing
    assert 'class="m-no-report"' in drawing


@pytest.mark.parametrize("path", ["/reports", "/partners"])
def test_date_fields_offer_only_the_days_the_api_accepts(seeded: TestClient, path: str) -> None:
    names = {"/reports": ["due_from", "due_to", "as_of"], "/partners": ["active_on"]}[path]
    body = seeded.get(path).text
    assert re.findall(r'<input id="f-(\w+)" name="\1" type="date"', body) == names
    found = re.findall(r'<input id="f-(\w+)" name="\1" type="date" value="" min="([\d-]+)" max="([\d-]+)"', body)
    assert found == [(name, "1900-01-01", "2199-12-31") for name in names]


def test_a_review_stored_on_9999_12_31_still_draws(seeded: TestClient, session: Session) -> None:
    # The axis ran to 1 January of the year after the last event: no such day after 9999.
    make_ratification(session, country="FRA", instrument="CRC", deposited_on="1990-08-07")
    report = make_report(
        session, country="FRA", instrument="CRC", cycle_from=1, cycle_to=1, submitted_date="1993-04-08"
    )
    session.execute(update(GovernmentReport).where(col(GovernmentReport.id) == report.id).values(review_date=date.max))
    session.flush()
    response = seeded.get("/reports/FRA", params={"as_of": "2005-01-01"})
    assert response.status_code == 200, response.text
    assert "reviewed 31 Dec 9999" in response.text
    assert '<text x="170.0" y="13" class="year">1992</text>' in response.text  # the first due date's year


@pytest.mark.parametrize("path", [*PAGES, "/reports/FRA"])
def test_pages_load_nothing_from_elsewhere_and_run_no_script(seeded: TestClient, session: Session, path: str) -> None:
    three_states(session)
    response = seeded.get(path)
    assert response.status_code == 200
    assert "<script" not in response.text
    assert " style=" not in response.text  # the CSP allows no inline style
    loaded = re.findall(r'<(?:link|img|script|iframe|source)\b[^>]*\b(?:src|href)="([^"]*)"', response.text)
    assert loaded
    assert all(url.startswith("/") and not url.startswith("//") for url in loaded)
    assert all(action.startswith("/") for action in re.findall(r'action="([^"]*)"', response.text))
    assert response.headers["content-security-policy"].startswith("default-src 'none'; style-src 'self';")


@pytest.mark.parametrize("path", [*PAGES, "/reports/FRA"])
def test_every_form_field_has_a_label_and_headings_go_in_order(seeded: TestClient, session: Session, path: str) -> None:
    three_states(session)
    body = seeded.get(path).text
    ids = re.findall(r'<(?:input|select|textarea)\b[^>]*\bid="([^"]+)"', body)
    fields = re.findall(r"<(?:input|select|textarea)\b", body)
    assert len(ids) == len(fields)
    labelled = set(re.findall(r'<label for="([^"]+)"', body))
    assert set(ids) <= labelled
    levels = [level for level, _ in headings(body)]
    assert levels[0] == 1
    assert levels.count(1) == 1
    assert all(after <= before + 1 for before, after in itertools.pairwise(levels))


def test_the_stylesheet_is_served_by_the_app(seeded: TestClient) -> None:
    response = seeded.get("/static/pages.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "http" not in response.text


def test_pages_are_not_part_of_the_api_schema(seeded: TestClient) -> None:
    paths = seeded.get("/openapi.json").json()["paths"]
    assert not {"/", "/partners", "/reports", "/reports/{country}", "/activities/{activity_id}"} & set(paths)


@pytest.fixture
def no_anonymous_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WORKPLAN_ANONYMOUS_READ", "false")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.mark.usefixtures("no_anonymous_reads")
@pytest.mark.parametrize("path", [*PAGES, "/reports/FRA"])
def test_pages_are_closed_where_reading_needs_a_key(seeded: TestClient, path: str) -> None:
    response = seeded.get(path)
    assert response.status_code == 401
    assert "does not allow reading without an API key" in response.text
    assert "Monitoring" not in response.text


def test_a_state_page_shows_where_its_shipped_ratifications_come_from(seeded: TestClient, session: Session) -> None:
    load_ratifications(session)
    session.flush()
    croatia = html.unescape(seeded.get("/reports/HRV").text)
    # Two candidate dates of succession: neither is used, and the page says so.
    assert "Unknown: disputed succession date: 1991-10-08 or 1991-10-06" in croatia
    assert "Disputed: Succession effective on 1991-10-08 or 1991-10-06" in croatia
    rwanda = seeded.get("/reports/RWA")
    ratifications = table_rows(rwanda.text[rwanda.text.index('id="ratifications-heading"') :])
    assert ratifications[0][:4] == ["CRC", "Ratification", "24 Jan 1991", "23 Feb 1991"]
    assert ratifications[0][4].startswith("Shipped with the service (Confirmed) Sources ")
    assert "UNTC IV-11 page captured 2026-02-03" in ratifications[0][4]
