"""The demo data: labelled as synthetic, and enough to answer the coordinator's question."""

from datetime import date

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.calendar.demo import LABEL, demo_countries, load_demo, remove_demo
from app.models.ratifications import Ratification
from app.models.reports import GovernmentReport


def test_every_demo_record_says_it_is_synthetic(session: Session) -> None:
    counts = load_demo(session, demo_countries(6), seed=7, today=date(2026, 11, 28))
    assert counts["ratifications"] > 6
    assert counts["government_reports"] > counts["ratifications"]
    ratifications = session.exec(select(Ratification)).all()
    reports = session.exec(select(GovernmentReport)).all()
    assert {r.source for r in ratifications} == {LABEL}
    assert all(r.symbol and r.symbol.startswith("DEMO/") and r.notes == LABEL for r in reports)
    assert remove_demo(session) == 1 + len(reports) + len(ratifications)
    assert session.exec(select(Ratification).where(col(Ratification.deleted_at).is_(None))).all() == []


def test_the_gaps_answer_which_reviews_have_no_coalition_activity_on_demo_data(
    client: TestClient, session: Session
) -> None:
    load_demo(session, demo_countries(20), seed=2003, today=date(2026, 11, 28))
    session.flush()
    params = {"period_from": "2005-01-01", "period_to": "2009-12-31", "as_of": "2010-01-01"}
    gaps = client.get("/v1/reporting-calendar/gaps", params=params).json()["items"]
    reviews = [g for g in gaps if "review" in g["reasons"]]
    assert reviews, "the demo has unmonitored reviews in the period"
    assert all(g["activity_ids"] == [] for g in gaps)
    calendar = client.get("/v1/reporting-calendar", params={"as_of": "2010-01-01"}).json()["items"]
    monitored = [i for i in calendar if i["activity_ids"]]
    assert monitored, "and monitored ones, which are not gaps"
    gap_keys = {(g["country"], g["instrument"], g["cycle"]) for g in gaps}
    assert not gap_keys & {(i["country"], i["instrument"], i["cycle"]) for i in monitored}
