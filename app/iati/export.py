"""A work plan as an IATI 2.03 activity file: one `<iati-activity>` per live activity, by code.

Written a batch of activities at a time, each batch in a read of its own (`write_batch`), so that
the file streams in flat memory; what the file says of each activity is in `activity_element`, with
the codes of app/iati/codes.py. Before the first byte, `problems` lists every activity IATI would
not take as it stands (no start date, no description, an actual date still to come...): such a
plan is refused whole with each of them named, never exported with those activities dropped or
their gaps filled.

The reporting organisation is the publisher (settings `iati_org_*`), and it takes part in each
activity of its own plan as a participating-org with `codes.REPORTING_ORG_ROLE`: IATI wants at
least one participating-org, and an activity the plan names no partner for is still the
publisher's own. Partners follow with their role's code, named by a narrative (the plan holds no
IATI identifier of theirs); a `target` is left out (codes.py says why).

The file carries no `generated-datetime`: it is a function of the records and the settings alone,
so that its ETag (`etag`) can be strong and an unchanged plan answers If-None-Match with 304.
"""

import hashlib
import re
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pycountry
from sqlalchemy import ColumnElement, and_, func, or_, select, true
from sqlmodel import Session

from app.config import Settings
from app.errors import AppError, ErrorItem
from app.iati import codes
from app.models.activities import Activity, ActivityCountry, ActivityParticipant
from app.models.partners import Partner
from app.models.work_plans import WorkPlan
from app.reads import among, among_value, raw
from app.records import format_timestamp

IATI_VERSION = "2.03"
MEDIA_TYPE = "application/xml"
# Activities a batch: what the export holds at a time.
BATCH = 1000
# The most activities a refusal names one by one (its detail gives the whole count).
PROBLEMS_LISTED = 1000
HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n<iati-activities version="' + IATI_VERSION.encode() + b'">\n'
TAIL = b"</iati-activities>\n"
# DescriptionType 1: General.
GENERAL_DESCRIPTION = "1"
# Characters XML 1.0 cannot carry at all, which the service takes in text: each is written as
# U+FFFD, the replacement character (a file cannot break off half-way for one).
_NOT_XML = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

_ACTIVITY = Activity.__table__  # type: ignore[attr-defined]
_PARTICIPANT = ActivityParticipant.__table__  # type: ignore[attr-defined]
_COUNTRY = ActivityCountry.__table__  # type: ignore[attr-defined]
_PARTNER = Partner.__table__  # type: ignore[attr-defined]
_WORK_PLAN = WorkPlan.__table__  # type: ignore[attr-defined]


class OrgIdMissing(AppError):
    """409: the service is not set up to publish (no WORKPLAN_IATI_ORG_ID); no request can fix it."""

    status, code = 409, "IATI_ORG_ID_MISSING"


class NotPublishable(AppError):
    status, code = 422, "IATI_NOT_PUBLISHABLE"


@dataclass(frozen=True)
class Publisher:
    """Who publishes: the reporting-org, the prefix of each iati-identifier, the default language."""

    org_id: str
    name: str
    org_type: str
    language: str

    @classmethod
    def of(cls, settings: Settings) -> "Publisher":
        if not settings.iati_org_id:
            raise OrgIdMissing(
                "No IATI organisation identifier is set up, and every iati-identifier starts with it: the "
                "operator sets WORKPLAN_IATI_ORG_ID (such as XM-DAC-12345 or GB-CHC-1234567) to publish."
            )
        return cls(settings.iati_org_id, settings.iati_org_name, settings.iati_org_type, settings.iati_language)

    def identifier(self, code: str) -> str:
        return f"{self.org_id}-{code}"


def _live(work_plan_id: uuid.UUID) -> ColumnElement[bool]:
    return and_(_ACTIVITY.c.work_plan_id == work_plan_id, _ACTIVITY.c.deleted_at.is_(None))


def problems(session: Session, work_plan_id: uuid.UUID, today: date) -> tuple[int, list[ErrorItem]]:
    """The activities IATI would refuse as they stand: how many, and (the first PROBLEMS_LISTED, by
    code) each with what it lacks; for a plan with no activity at all, 0 and an item saying so.
    One query over the plan's rows, which returns only the faulty ones."""
    a = _ACTIVITY.c
    checks: dict[str, ColumnElement[bool]] = {
        "no_start": and_(a.planned_start.is_(None), a.actual_start.is_(None)),
        "no_description": or_(a.description.is_(None), func.trim(a.description) == ""),
        "started_later": a.actual_start > today,
        "ended_later": a.actual_end > today,
        "planned_order": a.planned_end < a.planned_start,
        "actual_order": a.actual_end < a.actual_start,
    }
    flags = [func.coalesce(check, False).label(name) for name, check in checks.items()]
    faulty = or_(*(func.coalesce(check, False) == true() for check in checks.values()))
    rows = session.execute(
        select(a.id, a.code, a.actual_start, a.actual_end, *flags).where(_live(work_plan_id), faulty).order_by(a.code)
    ).mappings()
    count, items = 0, []
    for row in rows:
        count += 1
        if count <= PROBLEMS_LISTED:
            items += _activity_problems(row)
    if count == 0 and session.execute(select(a.id).where(_live(work_plan_id)).limit(1)).first() is None:
        return 0, [_item("/activities", "The work plan has no activities, and an IATI file holds at least one")]
    return count, items


def _item(pointer: str, message: str) -> ErrorItem:
    return ErrorItem.model_validate({"in": "record", "pointer": pointer, "message": message})


def _activity_problems(row: Any) -> list[ErrorItem]:
    where, code = f"/activities/{row['id']}", row["code"]
    found: list[tuple[str, str]] = []
    if row["no_start"]:
        found.append(("planned_start", "has neither planned_start nor actual_start: IATI needs a start date"))
    if row["no_description"]:
        found.append(("description", "has no description: IATI needs one"))
    if row["started_later"]:
        found.append(("actual_start", f"has an actual_start still to come ({row['actual_start']})"))
    if row["ended_later"]:
        found.append(("actual_end", f"has an actual_end still to come ({row['actual_end']})"))
    if row["planned_order"]:
        found.append(("planned_end", "ends (planned_end) before it starts (planned_start)"))
    if row["actual_order"]:
        found.append(("actual_end", "ends (actual_end) before it starts (actual_start)"))
    return [_item(f"{where}/{field}", f"Activity {code} {message}") for field, message in found]


def etag(session: Session, work_plan_id: uuid.UUID, publisher: Publisher) -> str:
    """A weak ETag of the file, from what it is made of and without writing it: the highest
    change_seq of all activities and of all partners, the count and the sum of the versions of the
    plan's live activities and of all partners, and the publisher's settings.

    Every write that can change the file moves one of them: an activity created, changed (its
    participants and countries too: its version goes up), deleted or moved between plans, a partner
    renamed. The change stamps alone would miss a write whose transaction took its stamp before
    another's and committed after it (or one in the same transaction): the versions catch those.
    Writes elsewhere can change the tag too, at the cost of a download; no change to the file
    leaves it as it was.

    Weak: the file is read a batch at a time, each in its own transaction (no snapshot held over a
    long download), so a write during a download can make one file no single state of the plan
    gave; a strong tag would vouch for its bytes."""
    a, p = _ACTIVITY.c, _PARTNER.c
    values = (
        *session.execute(select(func.count(), func.sum(a.version)).where(_live(work_plan_id))).one(),
        session.execute(select(func.max(a.change_seq))).scalar_one(),
        *session.execute(select(func.max(p.change_seq), func.count(), func.sum(p.version))).one(),
    )
    basis = "|".join(map(str, (IATI_VERSION, work_plan_id, *values, *vars(publisher).values())))
    return 'W/"iati-' + hashlib.sha256(basis.encode()).hexdigest()[:32] + '"'


def work_plan_code(session: Session, work_plan_id: uuid.UUID) -> str | None:
    """The live plan's code, or None when there is no such plan."""
    statement = select(_WORK_PLAN.c.code).where(_WORK_PLAN.c.id == work_plan_id, _WORK_PLAN.c.deleted_at.is_(None))
    return session.execute(statement).scalar_one_or_none()


def work_plan_by_code(session: Session, code: str) -> uuid.UUID | None:
    statement = select(_WORK_PLAN.c.id).where(_WORK_PLAN.c.code == code, _WORK_PLAN.c.deleted_at.is_(None))
    return session.execute(statement).scalar_one_or_none()


def _day(value: Any) -> str:
    return value if isinstance(value, str) else value.isoformat()  # SQLite keeps ISO text already


def _stamp(value: Any) -> str:
    # SQLite keeps '2026-11-28 17:46:14.123000' (UTC); PostgreSQL gives a datetime.
    if isinstance(value, str):
        if len(value) == 26 and value[10] == " ":
            return f"{value[:10]}T{value[11:23]}Z"
        value = datetime.fromisoformat(value)
    return format_timestamp(value)


def _alpha_2(alpha_3: str) -> str:
    country = pycountry.countries.get(alpha_3=alpha_3)
    assert country is not None, alpha_3  # the service takes only codes pycountry knows
    return str(country.alpha_2)


_ALPHA_2: dict[str, str] = {}
_STATUS = {status.value: code for status, code in codes.ACTIVITY_STATUS.items()}
_ROLE = {role.value: code for role, code in codes.PARTICIPANT_ROLE.items()}
_DATES = [(kind, field) for kind, field in codes.DATE_FIELDS.items()]


def write_batch(
    session: Session, work_plan_id: uuid.UUID, publisher: Publisher, after: str | None
) -> tuple[bytes, str | None]:
    """The `<iati-activity>` elements of the next BATCH activities by code after `after` (the file's
    head first when `after` is None, its tail after the last), and the code to go on after."""
    a = _ACTIVITY.c
    dialect = session.connection().dialect
    statement = (
        select(
            raw(a.id),
            a.code,
            a.title,
            a.description,
            a.status,
            *(raw(a[field]) for _kind, field in _DATES),
            raw(a.updated_at),
        )
        .where(_live(work_plan_id))
        .order_by(a.code)
        .limit(BATCH)
    )
    if after is not None:
        statement = statement.where(a.code > after)
    rows = session.execute(statement).all()
    parts = [HEAD] if after is None else []
    if rows:
        ids = among_value([row[0] for row in rows], dialect)
        participants: dict[Any, list[tuple[str, str]]] = defaultdict(list)
        for activity_id, role, name in session.execute(
            select(raw(_PARTICIPANT.c.activity_id), _PARTICIPANT.c.role, _PARTNER.c.name)
            .join(_PARTNER, _PARTNER.c.id == _PARTICIPANT.c.partner_id)
            .where(among(_PARTICIPANT.c.activity_id, dialect))
            .order_by(_PARTICIPANT.c.activity_id, _PARTICIPANT.c.position),
            {"among": ids},
        ):
            participants[activity_id].append((role, name))
        countries: dict[Any, list[str]] = defaultdict(list)
        for activity_id, country in session.execute(
            select(raw(_COUNTRY.c.activity_id), _COUNTRY.c.country)
            .where(among(_COUNTRY.c.activity_id, dialect))
            .order_by(_COUNTRY.c.activity_id, _COUNTRY.c.country),
            {"among": ids},
        ):
            countries[activity_id].append(country)
        parts.append(
            "".join(activity_element(row, participants[row[0]], countries[row[0]], publisher) for row in rows).encode()
        )
    last = rows[-1][1] if len(rows) == BATCH else None
    if last is None:
        parts.append(TAIL)
    return b"".join(parts), last


def _escape(text: str) -> str:
    """Text as XML character data (and attribute values, which are always quoted with `"`): the
    markup characters escaped, a carriage return kept as a reference (a parser would turn a bare
    one into a line feed), and what XML cannot carry at all replaced (`_NOT_XML`)."""
    if _NEEDS_ESCAPING.search(text) is None:
        return text
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return _NOT_XML.sub("\ufffd", text.replace("\r", "&#13;"))


_NEEDS_ESCAPING = re.compile('[&<>"\r\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]')


def activity_element(
    row: Sequence[Any], participants: list[tuple[str, str]], countries: list[str], publisher: Publisher
) -> str:
    """One `<iati-activity>`, its elements in the order the 2.03 schema sets, indented.

    Written as text: building it as lxml elements cost four times as much, which made a file of
    100,000 activities take four times its NDJSON export on PostgreSQL (bench/README.md). Every
    value goes through `_escape`; the tests validate the output against the 2.03 schema."""
    _id, code, title, description, status, *days, updated_at = row
    org = _escape(publisher.org_id)
    name = _escape(publisher.name)
    org_type = _escape(publisher.org_type)
    parts = [
        f'<iati-activity xml:lang="{_escape(publisher.language)}" last-updated-datetime="{_stamp(updated_at)}">\n'
        f"  <iati-identifier>{org}-{_escape(code)}</iati-identifier>\n"
        f'  <reporting-org ref="{org}" type="{org_type}">\n    <narrative>{name}</narrative>\n  </reporting-org>\n'
        f"  <title>\n    <narrative>{_escape(title)}</narrative>\n  </title>\n"
        f'  <description type="{GENERAL_DESCRIPTION}">\n    <narrative>{_escape(description or "")}</narrative>\n'
        "  </description>\n"
        f'  <participating-org ref="{org}" type="{org_type}" role="{codes.REPORTING_ORG_ROLE}">\n'
        f"    <narrative>{name}</narrative>\n  </participating-org>\n"
    ]
    seen = set()
    for role, partner in participants:
        iati_role = _ROLE.get(role)
        if iati_role is None or (partner, iati_role) in seen:
            continue  # a target takes no part; two roles of one code say it once
        seen.add((partner, iati_role))
        parts.append(
            f'  <participating-org role="{iati_role}">\n    <narrative>{_escape(partner)}</narrative>\n'
            "  </participating-org>\n"
        )
    parts.append(f'  <activity-status code="{_STATUS[status]}"/>\n')
    for (kind, _field), day in zip(_DATES, days, strict=True):
        if day is not None:
            parts.append(f'  <activity-date type="{kind}" iso-date="{_day(day)}"/>\n')
    for country in countries:
        alpha_2 = _ALPHA_2.get(country) or _ALPHA_2.setdefault(country, _alpha_2(country))
        parts.append(f'  <recipient-country code="{alpha_2}"/>\n')
    if not countries:
        parts.append(
            f'  <recipient-region code="{codes.UNSPECIFIED_REGION}" vocabulary="{codes.REGION_VOCABULARY}"/>\n'
        )
    parts.append(
        f'  <sector vocabulary="{codes.SECTOR_VOCABULARY}" code="{codes.SECTOR_CODE}" percentage="100"/>\n'
        "</iati-activity>\n"
    )
    return "".join(parts)
