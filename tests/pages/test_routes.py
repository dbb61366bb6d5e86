"""The pages through the test client: what they show of the seed, their filters, their errors."""

import csv
import html
import io
import itertools
import re
from collections.abc import Iterator
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, col

from app.config import get_settings
from app.reports.models import GovernmentReport
from app.seed.service import load_seed
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
    assert "<svg viewBox" not in response.text


def test_reports_draw_the_calendar_per_country_with_overdue_first(seeded: TestClient, session: Session) -> None:
    # As of 2005-01-01: France's initial CRC report (due 1992) was in, its 2nd and 3rd (1997,
    # 2002) were not; Mexico's OPSC initial report (due 15 April 2004) was not; Kenya's OPSC
    # initial report was not yet due.
    make_ratification(session, country="FRA", instrument="CRC", deposited_on="1990-08-07")
    make_report(
        session,
        country="FRA",
        instrument="CRC",
        cycle_from=1,
        cycle_to=1,
        submitted_date="1993-04-08",
        review_date="1994-01-13",
    )
    make_ratification(session, country="MEX", instrument="OPSC", deposited_on="2002-03-15")
    make_ratification(session, country="KEN", instrument="OPSC", deposited_on="2004-01-28")
    response = seeded.get("/reports", params={"as_of": "2005-01-01", "due_to": "2006-12-31"})
    assert response.status_code == 200
    countries = [text for level, text in headings(response.text) if level == 3]
    assert countries == ["France FRA ! 2 overdue", "Mexico MEX ! 1 overdue", "Kenya KEN"]
    assert response.text.count('<svg viewBox="0 0 760') == 3
    assert "Overdue by 261 days" in response.text  # 15 April 2004 to 1 January 2005
    assert "Submitted 8 Apr 1993; Reviewed by the committee 13 Jan 1994" in response.text
    overdue_only = seeded.get("/reports", params={"as_of": "2005-01-01", "overdue": "true", "country": "MEX"})
    assert [text for level, text in headings(overdue_only.text) if level == 3] == ["Mexico MEX ! 1 overdue"]
    assert 'href="/v1/reporting-calendar?country=MEX&amp;as_of=2005-01-01&amp;overdue=true"' in overdue_only.text


@pytest.mark.parametrize(
    ("path", "names"), [("/reports", ["as_of", "due_from", "due_to"]), ("/partners", ["active_on"])]
)
def test_date_fields_offer_only_the_days_the_api_accepts(seeded: TestClient, path: str, names: list[str]) -> None:
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
    response = seeded.get("/reports", params={"as_of": "2005-01-01", "due_to": "2006-12-31"})
    assert response.status_code == 200, response.text
    assert "Submitted 8 Apr 1993; Reviewed by the committee 31 Dec 9999" in response.text
    assert '<text x="170.0" y="13" class="year">1992</text>' in response.text  # the first due date's year


@pytest.mark.parametrize("path", PAGES)
def test_pages_load_nothing_from_elsewhere_and_run_no_script(seeded: TestClient, path: str) -> None:
    response = seeded.get(path)
    assert response.status_code == 200
    assert "<script" not in response.text
    assert " style=" not in response.text  # the CSP allows no inline style
    loaded = re.findall(r'<(?:link|img|script|iframe|source)\b[^>]*\b(?:src|href)="([^"]*)"', response.text)
    assert loaded
    assert all(url.startswith("/") and not url.startswith("//") for url in loaded)
    assert all(action.startswith("/") for action in re.findall(r'action="([^"]*)"', response.text))
    assert response.headers["content-security-policy"].startswith("default-src 'none'; style-src 'self';")


@pytest.mark.parametrize("path", PAGES)
def test_every_form_field_has_a_label_and_headings_go_in_order(seeded: TestClient, path: str) -> None:
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
    assert not {"/", "/partners", "/reports", "/activities/{activity_id}"} & set(paths)


@pytest.fixture
def no_anonymous_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WORKPLAN_ANONYMOUS_READ", "false")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.mark.usefixtures("no_anonymous_reads")
@pytest.mark.parametrize("path", PAGES)
def test_pages_are_closed_where_reading_needs_a_key(seeded: TestClient, path: str) -> None:
    response = seeded.get(path)
    assert response.status_code == 401
    assert "does not allow reading without an API key" in response.text
    assert "Monitoring" not in response.text
