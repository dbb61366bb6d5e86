"""The pages in a real browser: Debian's Chromium, headless, driven by Playwright, against a live
server on the seeded 2003 plan. `make test` installs Chromium first where it can (`make browser`);
without one these tests skip, except in CI, where they must run."""

import itertools
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from app.pages.text import day
from tests.conftest import DATABASES, fresh_database_url
from tests.live import Live, live_server

# Offline machines: without these Chromium keeps trying to reach Google's services.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP, PHONE = 1280, 390
REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def chromium_path() -> str | None:
    return os.environ.get("WORKPLAN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        reason = "no Chromium: `make browser` installs Debian's chromium (as root, with apt-get)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser tests, but there is {reason}")
        pytest.skip(reason)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module", params=DATABASES)
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(fresh_database_url(request.param, tmp_path_factory.mktemp("pages"), "_pages")) as base:
        yield base


@pytest.fixture(params=[DESKTOP, PHONE], ids=["desktop", "phone"])
def width(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def page(browser: Browser, width: int) -> Iterator[Page]:
    """A fresh page that fails the test on any console error (a CSP violation is one)."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    # A 400 page is a tested answer (a bad filter), not an error of the page.
    assert [error for error in errors if "status of 400" not in error] == []


def check_accessible_basics(page: Page) -> None:
    levels = page.eval_on_selector_all("h1, h2, h3, h4, h5, h6", "hs => hs.map(h => Number(h.tagName[1]))")
    assert levels[0] == 1
    assert levels.count(1) == 1
    assert all(after <= before + 1 for before, after in itertools.pairwise(levels)), levels
    unlabelled = page.eval_on_selector_all(
        "input, select, textarea", "fs => fs.filter(f => f.labels.length === 0).map(f => f.name)"
    )
    assert unlabelled == []
    # Usable at the width: nothing runs off the side of the screen.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def shoot(page: Page, directory: Path, name: str, width: int) -> Path:
    path = directory / f"{name}-{width}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


@pytest.mark.parametrize(
    ("name", "path", "h1"),
    [
        ("home", "/", "2003 Work Plan"),
        ("partners", "/partners", "Partners"),
        ("reports", "/reports", "Reporting calendar"),
        ("activity", "/activities/1536172d-febe-5d66-adf8-2df0226526a4", "Monitoring of government reports"),
    ],
)
def test_each_page_loads_and_reads_well_at_desktop_and_phone_width(
    site: Live, page: Page, width: int, tmp_path: Path, name: str, path: str, h1: str
) -> None:
    response = page.goto(site + path)
    assert response is not None
    assert response.status == 200
    assert page.locator("h1").inner_text().startswith(h1)
    assert page.locator("link[rel=stylesheet]").count() == 1
    assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith("system-ui")  # the CSS applied
    check_accessible_basics(page)
    shot = shoot(page, tmp_path, name, width)
    if name == "home" and width == DESKTOP and os.environ.get("WORKPLAN_UPDATE_SCREENSHOTS"):
        shutil.copy(shot, REPO / "docs" / "screenshots" / "home.png")


def test_the_status_filter_narrows_the_plan_and_a_link_leads_to_the_activity(site: Live, page: Page) -> None:
    page.goto(site + "/")
    page.get_by_label("Status").select_option("in_progress")
    page.get_by_role("button", name="Show activities").click()
    page.wait_for_url("**/?*status=in_progress*")
    activities = page.locator("li.activity h3")
    assert activities.all_inner_texts() == [
        "Monitoring of government reports to the Committee, through the Focal Point and subgroup members"
    ]
    assert page.get_by_label("Status").input_value() == "in_progress"  # the form keeps the choice
    csv_link = page.get_by_role("link", name="this list as CSV").get_attribute("href")
    assert csv_link is not None
    assert "status=in_progress" in csv_link
    assert "code,title" in httpx.get(site + csv_link).text.splitlines()[0]
    activities.first.get_by_role("link").click()
    page.wait_for_url("**/activities/1536172d-febe-5d66-adf8-2df0226526a4")
    page.get_by_role("link", name="Focal Point", exact=True).click()
    page.wait_for_url("**/?partner_id=*")
    assert "SEC-2003-5.1" in page.locator("main").inner_text()


def test_the_keyboard_reaches_the_skip_link_then_every_filter(site: Live, page: Page) -> None:
    page.goto(site + "/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    assert page.locator("a.skip").bounding_box()["x"] >= 0  # type: ignore[index]  # shown when focused
    reached: list[str] = []
    for _ in range(20):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    fields = ["f-work_plan_id", "f-q", "f-status", "f-type", "f-level", "f-country", "f-partner_id", "BUTTON"]
    assert [item for item in reached if item in fields] == fields


def test_a_search_and_a_bad_filter_in_the_browser(site: Live, page: Page) -> None:
    page.goto(site + "/partners")
    page.get_by_label("Search words").fill("Rapporteur")
    page.get_by_label("Search words").press("Enter")
    page.wait_for_url("**/partners?*q=Rapporteur*")
    assert page.locator("li.partner h3").all_inner_texts() == [
        "Special Rapporteur on the sale of children, child prostitution and child pornography"
    ]
    response = page.goto(site + "/?status=bogus")
    assert response is not None
    assert response.status == 400
    assert "Status: Input should be" in page.get_by_role("alert").inner_text()


def outside_requests(page: Page, site: Live) -> list[str]:
    """Collects, as the page goes, every request for a URL off the service (the list fills later)."""
    service = urlsplit(site).netloc
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if urlsplit(request.url).scheme not in ("data", "blob") and urlsplit(request.url).netloc != service
            else None
        ),
    )
    return outside


def test_the_reporting_calendar_leads_from_the_table_to_a_state_timeline(
    site: Live, page: Page, width: int, tmp_path: Path
) -> None:
    outside = outside_requests(page, site)
    # Kenya is not party to the OPSC in the shipped data: a deposit recorded here, its report history
    # kept from then, so a passed date is overdue. (409: made by the other screen width's run.)
    ratification = {
        "country": "KEN",
        "instrument": "OPSC",
        "action": "ratification",
        "deposited_on": "2002-01-28",
        "reports_tracked_from": "2002-01-28",
    }
    created = httpx.post(f"{site}/v1/ratifications", json=ratification, headers=site.headers)
    assert created.status_code in (201, 409), created.text
    (item,) = [
        i
        for i in httpx.get(f"{site}/v1/reporting-calendar?country=KEN&instrument=OPSC&as_of=2006-01-01").json()["items"]
        if i["cycle"] == 1
    ]
    page.goto(site + "/reports")
    if width == DESKTOP and os.environ.get("WORKPLAN_UPDATE_SCREENSHOTS"):  # as a coordinator first sees it
        page.screenshot(path=str(REPO / "docs" / "screenshots" / "reports.png"))
    page.get_by_label("Country").select_option("KEN")
    page.get_by_label("Due from").fill("2000-01-01")
    page.get_by_label("As of").fill("2006-01-01")
    page.get_by_role("button", name="Show reports").click()
    page.wait_for_url("**/reports?*country=KEN*")
    assert page.get_by_label("Country").input_value() == "KEN"  # the form keeps the choice
    row = page.locator("table.calendar tbody tr").filter(has_text="OPSC initial")
    assert row.locator("td").first.inner_text() == day(item["due_date"])
    # In force one month after deposit, 28 Feb 2002; due the day before the second anniversary.
    assert (item["due_date"], item["status"], item["days_late"]) == ("2004-02-27", "overdue", 674)
    assert "Overdue by 674 days" in row.inner_text()
    check_accessible_basics(page)
    shoot(page, tmp_path, "reports", width)
    row.get_by_role("link", name="Kenya").click()
    page.wait_for_url("**/reports/KEN?as_of=2006-01-01")
    assert page.locator("h1").inner_text() == "Kenya KEN"
    assert page.locator("svg.timeline").count() == 1
    cycles = page.locator("section[aria-labelledby=cycles-OPSC] tbody tr")
    assert cycles.first.locator("th").inner_text().startswith("OPSC initial")
    check_accessible_basics(page)
    shoot(page, tmp_path, "reports-state", width)
    page.get_by_role("link", name="Reporting calendar").first.click()
    page.wait_for_load_state("networkidle")
    assert outside == []


def test_a_real_states_timeline_on_the_shipped_data(site: Live, page: Page, width: int, tmp_path: Path) -> None:
    # Rwanda: CRC in force 23 February 1991, so its reports fall due on 22 February (1993, then every
    # five years: the Committee asked for its fifth and sixth "by 22 February 2018"). Nobody has
    # entered its reports here, so a passed date reads "No report on record", never "Overdue".
    outside = outside_requests(page, site)
    page.goto(site + "/reports/RWA")
    assert page.locator("h1").inner_text() == "Rwanda RWA"
    ratification = page.locator("section[aria-labelledby=ratifications-heading] tbody tr").first
    assert ratification.locator("td").nth(2).inner_text() == "23 Feb 1991"
    assert "Shipped with the service" in ratification.inner_text()
    cycles = page.locator("section[aria-labelledby=cycles-CRC] tbody tr")
    sixth = cycles.filter(has_text="CRC 6th periodic")
    assert sixth.locator("td").first.inner_text() == "22 Feb 2018"
    assert "No report on record" in sixth.inner_text()
    assert "Overdue" not in page.locator("main").inner_text()
    check_accessible_basics(page)
    shoot(page, tmp_path, "reports-rwanda", width)
    if width == DESKTOP and os.environ.get("WORKPLAN_UPDATE_SCREENSHOTS"):
        page.screenshot(path=str(REPO / "docs" / "screenshots" / "reports-rwanda.png"))
    assert outside == []


def try_the_healthz_operation(page: Page) -> None:
    # Found by its path, whatever its operationId.
    operation = page.locator(".opblock").filter(has=page.locator(".opblock-summary-path[data-path='/healthz']"))
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".live-responses-table tbody .response-col_status")).to_have_text("200")


def search_the_operations(page: Page) -> None:
    # ReDoc indexes the operations in a web worker: a search typed before the index is ready finds
    # nothing, and is not run again when it is. On a loaded machine the index and each search take
    # seconds (one try with 5 s failed once in two runs beside other test suites): type the search
    # again, giving each try 10 s, until it finds, for up to 90 s.
    page.wait_for_selector("[data-section-id]")
    search = page.get_by_placeholder("Search...")
    found = page.locator("[data-role='search:results'] li").first
    deadline = time.monotonic() + 90
    while True:
        search.fill("")
        search.fill("partner")
        try:
            expect(found).to_be_visible(timeout=10_000)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


@pytest.mark.parametrize(
    ("path", "use"), [("/docs", try_the_healthz_operation), ("/redoc", search_the_operations)], ids=["docs", "redoc"]
)
def test_the_api_docs_work_without_a_request_leaving_the_service(
    site: Live, browser: Browser, path: str, use: Callable[[Page], None]
) -> None:
    context = browser.new_context(viewport={"width": DESKTOP, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    response = page.goto(site + path)
    assert response is not None
    assert response.status == 200
    use(page)
    page.wait_for_load_state("networkidle")
    context.close()
    service = urlsplit(site).netloc
    # data: and blob: URLs (images drawn in the page, ReDoc's search worker) never leave the browser.
    outside = [
        url for url in requests if urlsplit(url).scheme not in ("data", "blob") and urlsplit(url).netloc != service
    ]
    assert outside == []
    assert site + "/openapi.json" in requests
    assert errors == []


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_policy_refuses_an_image_from_another_host(site: Live, browser: Browser, path: str) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(site + path)
    logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"  # what ReDoc's own script asks for
    with page.expect_event("requestfailed") as failed:
        page.evaluate("url => { new Image().src = url }", logo)
    context.close()
    assert (failed.value.url, failed.value.failure) == (logo, "csp")
