import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import exists
from sqlmodel import Session, col, select

from app.activities.kind import ACTIVITY
from app.lists import Listing, SearchParams, sort_by, where_in, where_range
from app.models.activities import (
    Activity,
    ActivityCountry,
    ActivityCreate,
    ActivityGovernmentReport,
    ActivityLinks,
    ActivityParticipant,
    ActivityPublic,
    ActivityUpdate,
)
from app.models.objectives import Objective, ObjectivePublic
from app.models.partners import Partner, PartnerWithContacts
from app.models.reports import GovernmentReport
from app.objectives.kind import OBJECTIVE
from app.partners.kind import PARTNER
from app.reads import Reader
from app.records import (
    Code,
    CountryCode,
    Day,
    Timestamp,
    apply_changes,
    ensure_exist,
    ensure_unique,
    mark_deleted,
    merge_patch,
)
from app.search import search
from app.vocabularies import ActivityLevel, ActivityStatus, ActivityType, ParticipantRole
from app.writes.by_ref import ensure_ownership

LINK_FIELDS = ("countries", "participants", "government_report_ids")


class ActivityItem(ActivityPublic):
    objective: ObjectivePublic | None = Field(
        default=None, exclude_if=lambda v: v is None, description="With include=objective: the objective it serves."
    )
    partners: list[PartnerWithContacts] | None = Field(
        default=None,
        exclude_if=lambda v: v is None,
        description="With include=partners: every partner taking part, as its GET shows it to the caller.",
    )


class ActivityListParams(SearchParams):
    sort: str | None = sort_by(ACTIVITY.sortable)
    include: list[Literal["objective", "partners"]] = Field(
        default=[], description="Embed related records in each item (JSON pages only): objective, partners."
    )
    objective_id: list[uuid.UUID] = Field(default=[], description="Under one of these objectives.")
    work_plan_id: list[uuid.UUID] = Field(default=[], description="In one of these work plans.")
    code: list[Code] = Field(default=[], description="One of these codes.")
    status: list[ActivityStatus] = Field(default=[], description="One of these statuses.")
    type: list[ActivityType] = Field(default=[], description="One of these types.")
    level: list[ActivityLevel] = Field(default=[], description="One of these levels.")
    country: list[CountryCode] = Field(default=[], description="Concerning one of these countries.")
    partner_id: list[uuid.UUID] = Field(default=[], description="With one of these partners taking part.")
    role: list[ParticipantRole] = Field(
        default=[], description="A participant has one of these roles (with partner_id: that partner)."
    )
    government_report_id: list[uuid.UUID] = Field(default=[], description="Monitoring one of these reports.")
    planned_start_from: Day | None = None
    planned_start_to: Day | None = None
    planned_end_from: Day | None = None
    planned_end_to: Day | None = None
    actual_start_from: Day | None = None
    actual_start_to: Day | None = None
    actual_end_from: Day | None = None
    actual_end_to: Day | None = None
    updated_after: Timestamp | None = Field(default=None, description="Changed after this instant.")


def activities_public(
    session: Session, ids_or_rows: Iterable[uuid.UUID] | Iterable[Sequence[Any]], *, include_deleted: bool = False
) -> list[dict[str, Any]]:
    """Public items (JSON-ready dicts, the same JSON as ActivityPublic) of many activities at once.

    Give ids (items in that order; unknown ids, and deleted ones unless `include_deleted`, are
    left out) or rows that start with `ACTIVITY.reader.columns`. One or two queries whatever the count
    (app/reads.py)."""
    batch = list(ids_or_rows)
    if batch and isinstance(batch[0], uuid.UUID):
        return ACTIVITY.reader.by_ids(session, batch, include_deleted=include_deleted)  # type: ignore[arg-type]
    return ACTIVITY.reader.build(session, batch)  # type: ignore[arg-type]


def with_includes(
    session: Session, rows: Sequence[Any], include: Sequence[str], partners: Reader = PARTNER.reader
) -> list[dict[str, Any]]:
    """Items with their related records (as ActivityItem): one query per relation, whatever the page
    size. `partners` reads the partners as the caller may (app.access.keys.private_reader)."""
    items = ACTIVITY.reader.build(session, rows)
    if "objective" in include:
        ids = {uuid.UUID(item["objective_id"]) for item in items}
        objectives = {o["id"]: o for o in OBJECTIVE.reader.by_ids(session, ids, include_deleted=True)}
        for item in items:
            item["objective"] = objectives[item["objective_id"]]
    if "partners" in include:
        ids = {uuid.UUID(p["partner_id"]) for item in items for p in item["participants"]}
        by_id = {p["id"]: p for p in partners.by_ids(session, ids, include_deleted=True)}
        for item in items:
            # A partner taking part in two roles is listed once.
            taking_part = dict.fromkeys(p["partner_id"] for p in item["participants"])
            item["partners"] = [by_id[partner_id] for partner_id in taking_part]
    return items


def list_activities(session: Session, params: ActivityListParams) -> Listing[Activity]:
    statement = select(Activity).where(Activity.deleted_at.is_(None))  # type: ignore[union-attr]
    statement = where_in(statement, Activity.objective_id, params.objective_id)
    statement = where_in(statement, Activity.work_plan_id, params.work_plan_id)
    statement = where_in(statement, Activity.code, params.code)
    statement = where_in(statement, Activity.status, params.status)
    statement = where_in(statement, Activity.type, params.type)
    statement = where_in(statement, Activity.level, params.level)
    if params.country:
        statement = statement.where(
            exists().where(
                col(ActivityCountry.activity_id) == Activity.id, col(ActivityCountry.country).in_(params.country)
            )
        )
    if params.partner_id or params.role:
        participant = exists().where(col(ActivityParticipant.activity_id) == Activity.id)
        if params.partner_id:
            participant = participant.where(ActivityParticipant.partner_id.in_(params.partner_id))  # type: ignore[attr-defined]
        if params.role:
            participant = participant.where(ActivityParticipant.role.in_(params.role))  # type: ignore[attr-defined]
        statement = statement.where(participant)
    if params.government_report_id:
        statement = statement.where(
            exists().where(
                col(ActivityGovernmentReport.activity_id) == Activity.id,
                ActivityGovernmentReport.government_report_id.in_(params.government_report_id),  # type: ignore[attr-defined]
            )
        )
    for name in ("planned_start", "planned_end", "actual_start", "actual_end"):
        column = getattr(Activity, name)
        statement = where_range(statement, column, getattr(params, f"{name}_from"), getattr(params, f"{name}_to"))
    if params.updated_after is not None:
        statement = statement.where(Activity.updated_at > params.updated_after)
    score = None
    if params.q is not None:
        statement, score = search(statement, Activity, session.get_bind().dialect.name, params.q)
    return Listing(statement, params, ACTIVITY.sortable, "code", score)


def _check_references(session: Session, data: ActivityCreate, exclude: Activity | None = None) -> Objective:
    live = col(Objective.deleted_at).is_(None)
    objective = session.exec(select(Objective).where(Objective.id == data.objective_id, live)).first()
    if objective is None:
        ensure_exist(session, Objective, [data.objective_id], ["/objective_id"])  # raises the 422
    partner_ids = [p.partner_id for p in data.participants]
    ensure_exist(session, Partner, partner_ids, [f"/participants/{i}/partner_id" for i in range(len(partner_ids))])
    report_ids = data.government_report_ids
    ensure_exist(session, GovernmentReport, report_ids, [f"/government_report_ids/{i}" for i in range(len(report_ids))])
    if exclude is None or (data.owner_partner_id, data.external_ref) != (
        exclude.owner_partner_id,
        exclude.external_ref,
    ):
        ensure_ownership(session, Activity, data, exclude.id if exclude else None)
    assert objective is not None
    return objective


def _ensure_code_free(session: Session, work_plan_id: uuid.UUID, code: str, exclude: Activity | None = None) -> None:
    ensure_unique(
        session,
        Activity,
        [Activity.work_plan_id == work_plan_id, Activity.code == code],
        "/code",
        f"Activity code '{code}' in this work plan",
        exclude_id=exclude.id if exclude else None,
    )


def _links(activity: Activity) -> dict[str, Any]:
    """The activity's lists as a body holds them, to compare with the lists a write sends."""
    links = ActivityLinks.model_validate(
        {
            "countries": [row.country for row in activity.countries],
            "participants": [{"partner_id": p.partner_id, "role": p.role} for p in activity.participants],
            "government_report_ids": [row.government_report_id for row in activity.government_reports],
        }
    )
    return {name: getattr(links, name) for name in LINK_FIELDS}


def _set_links(activity: Activity, data: ActivityCreate) -> None:
    activity.countries = [ActivityCountry(country=code) for code in data.countries]
    activity.participants = [
        ActivityParticipant(partner_id=p.partner_id, role=p.role.value, position=i)
        for i, p in enumerate(data.participants)
    ]
    activity.government_reports = [
        ActivityGovernmentReport(government_report_id=report_id) for report_id in sorted(data.government_report_ids)
    ]


def create_activity(session: Session, data: ActivityCreate, record_id: uuid.UUID | None = None) -> Activity:
    """Create it; `record_id` lets the seed and imports keep stable ids."""
    objective = _check_references(session, data)
    _ensure_code_free(session, objective.work_plan_id, data.code)
    activity = Activity.model_validate(
        data.model_dump(exclude=set(LINK_FIELDS)),
        update={"work_plan_id": objective.work_plan_id, "id": record_id or uuid.uuid4()},
    )
    _set_links(activity, data)
    session.add(activity)
    session.flush()
    return activity


def update_activity(session: Session, activity: Activity, patch: ActivityUpdate) -> Activity:
    current = {name: getattr(activity, name) for name in ActivityCreate.model_fields if name not in LINK_FIELDS}
    links = _links(activity)
    return _apply(session, activity, merge_patch({**current, **links}, patch, ActivityCreate), links)


def replace_activity(session: Session, activity: Activity, data: ActivityCreate) -> Activity:
    """Make the activity what `data` says; version and updated_at move only if something changed."""
    return _apply(session, activity, data, _links(activity))


def _apply(session: Session, activity: Activity, data: ActivityCreate, links: dict[str, Any]) -> Activity:
    """Write `data` over the activity whose current lists are `links`."""
    objective = _check_references(session, data, activity)
    if (objective.work_plan_id, data.code) != (activity.work_plan_id, activity.code):
        _ensure_code_free(session, objective.work_plan_id, data.code, activity)
    links_changed = (
        data.countries != links["countries"]
        or data.participants != links["participants"]
        or sorted(data.government_report_ids) != links["government_report_ids"]
    )
    if links_changed:
        # Flush the removals first: a replaced list may hold the same keys again.
        activity.countries, activity.participants, activity.government_reports = [], [], []
        session.flush()
        _set_links(activity, data)
    scalars = data.model_dump(exclude=set(LINK_FIELDS)) | {"work_plan_id": objective.work_plan_id}
    apply_changes(activity, scalars, children_changed=links_changed)
    session.flush()
    return activity


def delete_activity(session: Session, activity: Activity) -> None:
    mark_deleted(activity)
    session.flush()
