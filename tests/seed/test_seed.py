"""The 2003 work plan ships as data: every heading an objective, every named body a partner."""

import re
import uuid

from sqlmodel import Session, col, select

from app.models.activities import Activity
from app.models.objectives import Objective
from app.models.partners import Partner
from app.models.work_plans import WorkPlan
from app.records import as_utc
from app.seed.service import PLAN_TEXT, load_seed, seed_id

PLAN = PLAN_TEXT.read_text(encoding="utf-8")
HEADINGS = [line.removeprefix("·").strip() for line in PLAN.splitlines() if line.startswith("·")]
# Every body the plan names, as the plan writes it.
NAMED_BODIES = [
    "Child Rights Caucus",
    "Commission on Human Rights",
    "Committee on the Rights of the Child",
    "NGO Advisory Group",
    "subgroup on Children and Violence",
    "Special Expert",
    "his/her secretariat",
    "Special Rapporteur on the sale of children, child prostitution and child pornography",
    "Focal Point",
    "Focal Point regional facilitators",
]


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_every_heading_of_the_plan_became_an_objective_in_its_order(session: Session) -> None:
    load_seed(session)
    plan = session.exec(select(WorkPlan).where(WorkPlan.code == "2003")).one()
    objectives = session.exec(
        select(Objective).where(Objective.work_plan_id == plan.id).order_by(col(Objective.position))
    )
    assert len(HEADINGS) == 6
    assert [(o.code, o.title) for o in objectives] == [(str(i), h) for i, h in enumerate(HEADINGS, start=1)]


def test_objective_descriptions_are_the_plans_own_paragraphs(session: Session) -> None:
    load_seed(session)
    for objective in session.exec(select(Objective)):
        assert objective.description is not None
        assert objective.description in PLAN


def test_every_named_body_is_a_partner(session: Session) -> None:
    load_seed(session)
    names = [p.name for p in session.exec(select(Partner))]
    for body in NAMED_BODIES:
        assert body in PLAN, body
        assert any(body.lower().replace("his/her ", "") in name.lower() for name in names), body
    rapporteur = session.get(Partner, seed_id("partner", "special-rapporteur"))
    assert rapporteur is not None
    assert rapporteur.mandate_holder == "Dr. Juan Miguel Petit"
    assert "Dr. Juan Miguel Petit" in PLAN


def test_activities_use_only_the_plans_words_and_link_partners_with_roles(session: Session) -> None:
    load_seed(session)
    # Singulars of the plan's "publications" and "partnerships" are the only words titles add.
    plan_words = words(PLAN)
    activities = session.exec(select(Activity)).all()
    assert len(activities) == 14
    for activity in activities:
        assert words(activity.title) <= plan_words | {"publication", "partnership"}, activity.title
        assert activity.description is not None
        assert words(activity.description) <= plan_words, activity.description
    monitoring = session.get(Activity, seed_id("activity", "SEC-2003-5.1"))
    assert monitoring is not None
    assert {(p.partner_id, p.role) for p in monitoring.participants} == {
        (seed_id("partner", "focal-point"), "focal_point"),
        (seed_id("partner", "committee-on-the-rights-of-the-child"), "target"),
    }


def test_a_second_load_changes_nothing(session: Session) -> None:
    first = load_seed(session)
    assert (first.created, first.updated, first.unchanged) == (31, 0, 0)
    versions = {a.id: (a.version, as_utc(a.updated_at)) for a in session.exec(select(Activity))}
    second = load_seed(session)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 31)
    assert {a.id: (a.version, as_utc(a.updated_at)) for a in session.exec(select(Activity))} == versions


def test_a_seed_record_someone_deleted_stays_deleted(session: Session) -> None:
    load_seed(session)
    activity = session.get(Activity, seed_id("activity", "SEC-2003-4.4"))
    assert activity is not None
    from app.activities.service import delete_activity

    delete_activity(session, activity)
    report = load_seed(session)
    assert report.skipped_deleted == 1
    assert activity.deleted_at is not None


def test_the_openapi_examples_are_the_seeds_own_records(session: Session) -> None:
    from app.models.activities import EXAMPLE as ACTIVITY
    from app.models.objectives import EXAMPLE as OBJECTIVE
    from app.models.partners import EXAMPLE as PARTNER

    load_seed(session)
    activity = session.get(Activity, uuid.UUID("1536172d-febe-5d66-adf8-2df0226526a4"))
    assert activity is not None
    assert str(activity.objective_id) == ACTIVITY["objective_id"]
    assert (activity.code, activity.title, activity.description) == (
        ACTIVITY["code"],
        ACTIVITY["title"],
        ACTIVITY["description"],
    )
    assert [str(p.partner_id) for p in activity.participants] == [p["partner_id"] for p in ACTIVITY["participants"]]
    objective = session.get(Objective, uuid.UUID(ACTIVITY["objective_id"]))
    assert objective is not None
    assert (str(objective.work_plan_id), objective.title) == (OBJECTIVE["work_plan_id"], OBJECTIVE["title"])
    partner = session.exec(select(Partner).where(Partner.name == PARTNER["name"])).one()
    assert partner.mandate_holder == PARTNER["mandate_holder"]
