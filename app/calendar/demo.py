"""Synthetic ratifications and reports for trying the calendar: `workplan demo`, and the benchmark.

Nothing here is real. Every record says so: ratifications in `source`, reports in `symbol`
(`DEMO/...`), `analysis` and `notes`, and the demo's work plan, objective and activities in their
code and title. They are never part of the seed, and `remove_demo` finds them by those marks.
"""

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import pycountry
from sqlmodel import Session, col, select

from app.activities.service import create_activity, delete_activity
from app.models.activities import Activity, ActivityCreate
from app.models.objectives import Objective, ObjectiveCreate
from app.models.ratifications import Ratification, RatificationCreate
from app.models.reports import GovernmentReport, GovernmentReportCreate
from app.models.work_plans import WorkPlan, WorkPlanCreate
from app.objectives.service import create_objective, delete_objective
from app.ratifications.service import create_ratification, delete_ratification
from app.reports.service import create_report, delete_report
from app.treaties import entry_into_force, nominal_due
from app.vocabularies import ARTICLE_COUNT, Assessment, Instrument
from app.work_plans.service import create_work_plan, delete_work_plan

LABEL = "SYNTHETIC DEMO DATA, not a real record"
SYMBOL_PREFIX = "DEMO/"
PLAN_CODE = "DEMO"
FIRST_DEPOSIT = {
    Instrument.CRC: date(1990, 1, 26),
    Instrument.OPSC: date(2000, 9, 1),
    Instrument.OPAC: date(2000, 9, 1),
}


def demo_countries(count: int) -> list[str]:
    """`count` ISO alpha-3 codes, the same ones every time (pycountry's order)."""
    return [c.alpha_3 for c in pycountry.countries][:count]


@dataclass(frozen=True)
class DemoState:
    ratifications: list[RatificationCreate]
    reports: list[GovernmentReportCreate]


def generate(
    rng: random.Random, countries: Sequence[str], today: date, *, every_instrument: bool = False
) -> Iterator[DemoState]:
    """Per country, its synthetic ratifications and the reports it filed up to `today`;
    `every_instrument`: every State is party to all three (the benchmark's worst case)."""
    for country in countries:
        ratifications, reports = [], []
        for instrument in Instrument:
            if not every_instrument and instrument is not Instrument.CRC and rng.random() < 0.15:
                continue  # not every State is party to the protocols
            deposited = FIRST_DEPOSIT[instrument] + timedelta(days=rng.randrange(0, 3650))
            if not every_instrument and instrument is Instrument.CRC and rng.random() < 0.02:
                continue  # nor to the Convention
            ratifications.append(
                RatificationCreate.model_validate(
                    {
                        "country": country,
                        "instrument": instrument,
                        "action": rng.choice(["ratification", "ratification", "accession"]),
                        "deposited_on": deposited,
                        "source": LABEL,
                    }
                )
            )
            reports += _reports(rng, country, instrument, entry_into_force(instrument, deposited), today)
        yield DemoState(ratifications, reports)


def _reports(
    rng: random.Random, country: str, instrument: Instrument, in_force: date, today: date
) -> list[GovernmentReportCreate]:
    made = []
    cycle = 1
    last = 1 if instrument is not Instrument.CRC else 20
    while cycle <= last and nominal_due(in_force, cycle) <= today:
        span = 1 if cycle == 1 or rng.random() < 0.7 else rng.choice([2, 3])
        due = nominal_due(in_force, cycle)
        committee_due = due + timedelta(days=rng.randrange(200, 900)) if span > 1 else None
        submitted = (committee_due or due) + timedelta(days=rng.randrange(-60, 1200))
        filed = submitted <= today and rng.random() < 0.8
        reviewed = submitted + timedelta(days=rng.randrange(300, 700)) if filed else None
        if reviewed is not None and reviewed > today:
            reviewed = None
        made.append(
            GovernmentReportCreate.model_validate(
                {
                    "country": country,
                    "instrument": instrument,
                    "kind": "initial" if cycle == 1 else "combined_periodic" if span > 1 else "periodic",
                    "cycle_from": cycle,
                    "cycle_to": cycle + span - 1,
                    "symbol": f"{SYMBOL_PREFIX}{instrument.value}/{country}/{cycle}",
                    "due_date": committee_due,
                    "submitted_date": submitted if filed else None,
                    "review_date": reviewed,
                    "committee_session": 1 + (reviewed.year - 1991) * 3 if reviewed else None,
                    "status": "reviewed" if reviewed else "submitted" if filed else "expected",
                    "analysis": LABEL,
                    "notes": LABEL,
                    "articles": _articles(rng, instrument) if filed else [],
                }
            )
        )
        cycle += span
    return made


def _articles(rng: random.Random, instrument: Instrument) -> list[dict[str, object]]:
    picked = rng.sample(range(1, ARTICLE_COUNT[instrument] + 1), 3)
    return [
        {"instrument": instrument, "article": a, "assessment": rng.choice(list(Assessment))} for a in sorted(picked)
    ]


def demo_exists(session: Session) -> bool:
    found = session.exec(select(WorkPlan.id).where(WorkPlan.code == PLAN_CODE, col(WorkPlan.deleted_at).is_(None)))
    return found.first() is not None


def load_demo(session: Session, countries: Sequence[str], seed: int, today: date) -> dict[str, int]:
    """Write the demo: ratifications and reports of `countries`, and a demo plan whose activities
    monitor about half of the submitted reports (so the coverage gaps have an answer).
    A State that already has a ratification of an instrument keeps it (and gets no demo one)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not secrets
    taken = {
        (c, i)
        for c, i in session.exec(
            select(Ratification.country, Ratification.instrument).where(col(Ratification.deleted_at).is_(None))
        )
    }
    plan = create_work_plan(session, WorkPlanCreate(code=PLAN_CODE, title=f"Demo plan ({LABEL})", description=LABEL))
    objective = create_objective(
        session, ObjectiveCreate(work_plan_id=plan.id, code="1", title=f"Demo monitoring ({LABEL})")
    )
    counts = {"ratifications": 0, "government_reports": 0, "activities": 0}
    for state in generate(rng, countries, today):
        for ratification in state.ratifications:
            if (ratification.country, ratification.instrument.value) in taken:
                continue
            create_ratification(session, ratification)
            counts["ratifications"] += 1
        monitored: list[uuid.UUID] = []
        for data in state.reports:
            report = create_report(session, data)
            counts["government_reports"] += 1
            if data.submitted_date is not None and rng.random() < 0.5:
                monitored.append(report.id)
        if monitored:
            country = state.reports[0].country
            create_activity(
                session,
                ActivityCreate.model_validate(
                    {
                        "objective_id": objective.id,
                        "code": f"DEMO-{country}",
                        "title": f"Demo: monitoring {country}'s reports ({LABEL})",
                        "type": "monitoring",
                        "level": "national",
                        "countries": [country],
                        "government_report_ids": monitored,
                    }
                ),
            )
            counts["activities"] += 1
    return counts


def remove_demo(session: Session) -> int:
    """Delete every demo record (they go to /v1/changes as tombstones); return how many."""
    removed = 0
    plans = session.exec(select(WorkPlan).where(WorkPlan.code == PLAN_CODE, col(WorkPlan.deleted_at).is_(None))).all()
    for plan in plans:
        objectives = session.exec(
            select(Objective).where(Objective.work_plan_id == plan.id, col(Objective.deleted_at).is_(None))
        ).all()
        for objective in objectives:
            activities = session.exec(
                select(Activity).where(Activity.objective_id == objective.id, col(Activity.deleted_at).is_(None))
            ).all()
            for activity in activities:
                delete_activity(session, activity)
            delete_objective(session, objective)
        delete_work_plan(session, plan)
        removed += 1
    reports = session.exec(
        select(GovernmentReport).where(
            col(GovernmentReport.symbol).startswith(SYMBOL_PREFIX), col(GovernmentReport.deleted_at).is_(None)
        )
    ).all()
    ratifications = session.exec(
        select(Ratification).where(Ratification.source == LABEL, col(Ratification.deleted_at).is_(None))
    ).all()
    for report in reports:
        delete_report(session, report)
    for ratification in ratifications:
        delete_ratification(session, ratification)
    return removed + len(reports) + len(ratifications)
