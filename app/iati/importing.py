"""A partner's IATI activity file (IATI 2.01 to 2.03) imported as this plan's activities:
`workplan import iati FILE --objective OBJ --partner PARTNER [--type TYPE] [--dry-run]`.

Each `<iati-activity>` becomes the row an NDJSON import's activity is (ActivityCreate's fields),
fed to the transfer import (app/transfer/importing.py): all or nothing, every problem reported
with its line and field, a dry run writing nothing. The mapping is app/iati/codes.py's.

Identity. The activities belong to `--partner` (owner_partner_id) and carry their
`iati-identifier` as external_ref: (owner, external_ref) names a record as by-ref writes name it
(app/writes/by_ref.py). A live activity of that owner with that reference is updated, in place
(its id, its code); any other is created. The owner is required: a reference is unique per owner
only (a record cannot hold external_ref without owner_partner_id), and the reporting-org's name
would be no stable owner: spelt otherwise in the next file, it would duplicate every activity.

What each field becomes:
- objective_id: `--objective` (its id, `PLAN/CODE`, or a code that only one plan uses); an updated
  activity under another objective moves to it.
- code: an updated activity keeps its own. A new one takes its iati-identifier without the
  reporting-org's `ref-` prefix (the export writes `<ORG_ID>-<code>`), else the whole identifier.
  One that is no code (40 letters, digits and `._-` at most), or one that another activity of the
  plan holds, is a problem: a code is never made up.
- title, description: the narrative in the plan's language (WORKPLAN_IATI_LANGUAGE, `en` unless
  set; a narrative's is its xml:lang, else the activity's, else that), else the first. The
  description is the general one (type 1, or no type). A missing title is a problem.
- status: activity-status through STATUS_FROM_IATI; missing (IATI requires it) or unknown: a problem.
- planned/actual start/end: activity-date types 1 to 4 (DATE_FIELDS); the date part of iso-date.
- countries: recipient-country codes (ISO alpha-2) as alpha-3; an unknown code is a problem.
- level, which IATI has not: one country national; several regional; none international, or
  regional when a recipient-region other than 998 (developing countries, unspecified) is named.
- type, which IATI has not either: `--type`; without it a new activity is a partnership (it comes
  from a partner's own system) and an updated one keeps its type.
- participants: each participating-org matched by name to one live partner (ignoring case, exactly,
  any of its narratives), its role through ROLE_FROM_IATI; an organisation that matches none is a
  problem (create the partner first): a partner is never made up. A partner named with two roles
  keeps both.
- What IATI cannot say stays as it is on an updated activity: its `target` participants (after the
  file's) and its government reports.
Everything else in the file (transactions, budgets, results, sectors...) has no place here and is
ignored.

The file is read as a stream (`iterparse`), an activity at a time, and safely: no DTD, no entity is
resolved, nothing fetched from the network, no huge tree (XXE and billion laughs). A file that
declares a document type is refused; a file that is not well-formed XML is one problem with its line.
"""

import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import pycountry
from lxml import etree
from sqlmodel import Session, col, select

from app.config import get_settings
from app.iati.codes import DATE_FIELDS, ROLE_FROM_IATI, STATUS_FROM_IATI, UNSPECIFIED_REGION
from app.models.activities import Activity, ActivityGovernmentReport, ActivityParticipant
from app.models.objectives import Objective
from app.models.partners import Partner
from app.models.work_plans import WorkPlan
from app.transfer.formats import Source
from app.transfer.importing import IMPORT_CHUNK_SIZE, import_sources
from app.transfer.report import ImportProblem, ImportReport
from app.transfer.specs import BY_RESOURCE
from app.vocabularies import ActivityLevel, ActivityType, ParticipantRole

DEFAULT_TYPE = ActivityType.PARTNERSHIP
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
ACTIVITIES = BY_RESOURCE["activities"]
# An xsd:date: the day, and maybe its time zone (which does not change the day).
_ISO_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(Z|[+-]\d{2}:\d{2})?")

# Where a field comes from, named after each problem the API's own checks find in it.
ELEMENT_OF = {
    "/objective_id": "--objective",
    "/owner_partner_id": "--partner",
    "/type": "--type",
    "/external_ref": "iati-identifier",
    "/code": "iati-identifier",
    "/title": "title/narrative",
    "/description": "description/narrative",
    "/status": "activity-status",
    **{f"/{name}": f"activity-date type={code}" for code, name in DATE_FIELDS.items()},
    "/countries": "recipient-country",
    "/participants": "participating-org",
}


@dataclass
class IatiSource(Source):
    """An activity of the file; a problem is placed at the line of the element its field came from."""

    lines: dict[str, int] = field(default_factory=dict)
    explain: dict[str, str] = field(default_factory=dict)  # what a problem with a field is to start with

    def problem(self, pointer: str, message: str) -> ImportProblem:
        parts = pointer.split("/")
        prefixes = ["/".join(parts[:n]) for n in range(len(parts), 1, -1)]
        line = next((self.lines[p] for p in prefixes if p in self.lines), self.line)
        element = next((ELEMENT_OF[p] for p in reversed(prefixes) if p in ELEMENT_OF), None)
        if pointer in self.explain:
            message = f"{self.explain[pointer]}: {message}"
        elif element:
            message = f"{message} ({element})"
        return ImportProblem(line, None, ACTIVITIES.resource, pointer, message)


@dataclass
class _Org:
    names: list[str]  # its narratives, the preferred language's first
    role: str | None
    line: int


@dataclass
class _Activity:
    """An <iati-activity> as read, before anything is looked up."""

    line: int
    identifier: str | None = None
    reporting_ref: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    countries: list[tuple[str, int]] = field(default_factory=list)  # alpha-2, line
    named_region: bool = False  # a recipient-region other than "unspecified"
    orgs: list[_Org] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # line, pointer, message

    def problem(self, line: int, pointer: str, message: str) -> None:
        self.problems.append((line, pointer, message))


@dataclass(frozen=True)
class _Existing:
    id: uuid.UUID
    code: str
    type: str
    targets: list[uuid.UUID]
    report_ids: list[uuid.UUID]


def import_iati(
    session: Session,
    path: Path,
    *,
    objective: str,
    partner: str,
    activity_type: ActivityType | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Import the activities of the IATI file at `path` under `objective`, owned by `partner`.

    Raises ValueError when the objective or the partner is not found, ImportFailed with every
    problem of the file having written nothing; with `dry_run`, returns the report having written
    nothing. Runs in a savepoint of the caller's transaction, as `import_records` does."""
    target = find_objective(session, objective)
    owner = find_partner(session, partner)
    report = ImportReport(dry_run=dry_run)
    builder = _Builder(session, target, owner.id, activity_type, report)
    return import_sources(session, report, builder.sources(_read(path, report)))


def find_objective(session: Session, text: str) -> Objective:
    """A live objective by id, by `PLAN/CODE`, or by a code that only one plan's objectives use."""
    live = select(Objective).where(col(Objective.deleted_at).is_(None))
    try:
        found = list(session.exec(live.where(col(Objective.id) == uuid.UUID(text))))
    except ValueError:
        plan_code, _, code = text.rpartition("/")
        statement = live.where(col(Objective.code) == code)
        if plan_code:
            statement = statement.join(WorkPlan, col(WorkPlan.id) == col(Objective.work_plan_id)).where(
                col(WorkPlan.code) == plan_code, col(WorkPlan.deleted_at).is_(None)
            )
        found = list(session.exec(statement))
    if not found:
        raise ValueError(f"No objective '{text}': give its id, PLAN/CODE, or its code.")
    if len(found) > 1:
        plans = session.exec(select(WorkPlan.code).where(col(WorkPlan.id).in_({o.work_plan_id for o in found})))
        raise ValueError(
            f"Objective code '{text}' is used in several plans ({', '.join(sorted(plans))}): write PLAN/{text}."
        )
    return found[0]


def find_partner(session: Session, text: str) -> Partner:
    """A live partner by id, or by name (ignoring case, exactly)."""
    try:
        partner_id = uuid.UUID(text)
    except ValueError:
        matches = _partner_names(session).get(text.strip().casefold(), [])
        if len(matches) == 1:
            return session.get_one(Partner, matches[0])
        if matches:
            raise ValueError(f"Several partners are named '{text}': give the partner's id.") from None
        raise ValueError(f"No partner named '{text}': give its name or its id.") from None
    partner = session.get(Partner, partner_id)
    if partner is None or partner.deleted_at is not None:
        raise ValueError(f"No partner with id {text}.")
    return partner


def _partner_names(session: Session) -> dict[str, list[uuid.UUID]]:
    """Every live partner's id under its name, case folded (in Python: SQLite's lower() is ASCII only)."""
    names: dict[str, list[uuid.UUID]] = {}
    for partner_id, name in session.exec(select(Partner.id, Partner.name).where(col(Partner.deleted_at).is_(None))):
        names.setdefault(name.casefold(), []).append(partner_id)
    return names


# --- reading the file ----------------------------------------------------------------------------


def _read(path: Path, report: ImportReport) -> Iterator[_Activity]:
    """The file's activities one at a time, each element dropped once read; what cannot be read
    goes to the report."""
    root = None
    try:
        with path.open("rb") as binary:
            events = etree.iterparse(
                binary,
                events=("start", "end"),
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                huge_tree=False,
                remove_comments=True,
                remove_pis=True,
            )
            for event, element in events:
                if root is None:  # the first event: the root's start, after any DOCTYPE
                    root = element
                    if problem := _refuse_root(path, root):
                        report.errors.append(problem)
                        return
                elif event == "end" and element.tag == "iati-activity" and element.getparent() is root:
                    yield _activity(element, root.get(XML_LANG))
                    element.clear()
                    while element.getprevious() is not None:
                        del root[0]
    except etree.XMLSyntaxError as exc:
        report.errors.append(
            ImportProblem(exc.lineno or 1, None, None, "", f"The file is not well-formed XML: {exc.msg}")
        )
    except OSError as exc:
        report.errors.append(ImportProblem(None, None, None, "", f"The file cannot be read: {exc}"))


def _refuse_root(path: Path, root: etree._Element) -> ImportProblem | None:
    if root.getroottree().docinfo.doctype:
        # Before the root: the line it starts on, for the report.
        with path.open("rb") as binary:
            lines = islice(enumerate(binary, 1), root.sourceline or 1)
            line = next((n for n, text in lines if b"<!DOCTYPE" in text), None)
        return ImportProblem(
            line,
            None,
            None,
            "",
            "The file declares a document type (<!DOCTYPE>): an IATI file has none, "
            "and its entities are not read. Remove it.",
        )
    if root.tag != "iati-activities":
        return ImportProblem(
            root.sourceline,
            None,
            None,
            "",
            f"The root element is <{etree.QName(root).text}>: an IATI activity file's is <iati-activities>.",
        )
    version = root.get("version")
    if version is not None and not version.startswith("2."):
        return ImportProblem(
            root.sourceline, None, None, "", f"IATI version {version} is not read: this import reads 2.01 to 2.03."
        )
    return None


def _narratives(element: etree._Element, default_lang: str) -> list[str]:
    """The element's narratives, the preferred language's first; empty ones left out."""
    texts = [
        (child.get(XML_LANG, default_lang).lower().split("-")[0], text)  # en-GB is English
        for child in element
        if child.tag == "narrative" and (text := "".join(child.itertext()).strip())
    ]
    plans = get_settings().iati_language  # what the plan is written in, as its export says
    return [text for lang, text in texts if lang == plans] + [text for lang, text in texts if lang != plans]


def _activity(element: etree._Element, file_lang: str | None) -> _Activity:
    activity = _Activity(element.sourceline or 0)
    lang = (element.get(XML_LANG) or file_lang or get_settings().iati_language).lower()
    data, lines = activity.data, activity.lines
    for child in element:
        tag, line = child.tag, child.sourceline or activity.line
        if tag == "iati-identifier" and activity.identifier is None:
            activity.identifier = (child.text or "").strip()
            lines["/external_ref"] = lines["/code"] = line
        elif tag == "reporting-org":
            activity.reporting_ref = child.get("ref")
        elif tag == "title" and "title" not in data:
            lines["/title"] = line
            if names := _narratives(child, lang):
                data["title"] = names[0]
        elif tag == "description" and child.get("type", "1") == "1" and "description" not in data:
            lines["/description"] = line
            data["description"] = next(iter(_narratives(child, lang)), None)
        elif tag == "activity-status":
            lines["/status"] = line
            code = child.get("code")
            if code in STATUS_FROM_IATI:
                data["status"] = STATUS_FROM_IATI[code]
            else:
                activity.problem(line, "/status", f"activity-status code {code!r} is not an IATI ActivityStatus code")
        elif tag == "activity-date":
            _date(activity, child, line)
        elif tag == "recipient-country":
            activity.countries.append(((child.get("code") or "").strip(), line))
        elif tag == "recipient-region":
            activity.named_region |= child.get("code") != UNSPECIFIED_REGION
        elif tag == "participating-org":
            # The publisher naming itself (as this service's export does, role 2 first, since IATI
            # needs a participating-org): the file's source, which --partner names, not a partner.
            if activity.reporting_ref and child.get("ref") == activity.reporting_ref:
                continue
            activity.orgs.append(_Org(_narratives(child, lang), child.get("role"), line))
    if not activity.identifier:
        activity.problem(activity.line, "/external_ref", "iati-activity has no iati-identifier")
    if "status" not in data and "/status" not in lines:
        activity.problem(
            activity.line, "/status", "is required: the activity has no activity-status (IATI requires one)"
        )
    return activity


def _date(activity: _Activity, element: etree._Element, line: int) -> None:
    kind, value = element.get("type"), (element.get("iso-date") or "").strip()
    name = DATE_FIELDS.get(kind or "")
    if name is None:
        activity.problem(line, "", f"activity-date type {kind!r} is not an IATI ActivityDateType code (1 to 4)")
        return
    if name in activity.data:
        activity.problem(
            line, f"/{name}", f"activity-date type={kind} appears twice (first at line {activity.lines[f'/{name}']})"
        )
        return
    activity.lines[f"/{name}"] = line
    match = _ISO_DATE.fullmatch(value)
    activity.data[name] = match.group(1) if match else value  # the model says what is wrong with it


def _level(countries: list[str], named_region: bool) -> ActivityLevel:
    """What IATI has no field for, from where the work is: one country, several, or none."""
    if len(countries) == 1:
        return ActivityLevel.NATIONAL
    if countries or named_region:
        return ActivityLevel.REGIONAL
    return ActivityLevel.INTERNATIONAL


# --- building the rows ---------------------------------------------------------------------------


class _Builder:
    """The file's activities as import rows: partners, countries and existing activities looked up."""

    def __init__(
        self,
        session: Session,
        objective: Objective,
        owner_id: uuid.UUID,
        activity_type: ActivityType | None,
        report: ImportReport,
    ) -> None:
        self.session, self.objective, self.owner_id = session, objective, owner_id
        self.activity_type, self.report = activity_type, report
        self.partners = _partner_names(session)
        self.seen: dict[str, int] = {}  # each identifier's first line

    def sources(self, activities: Iterable[_Activity]) -> Iterator[IatiSource]:
        iterator = iter(activities)
        while batch := list(islice(iterator, IMPORT_CHUNK_SIZE)):
            batch = [activity for activity in batch if self._first(activity)]
            existing = self._existing({str(a.identifier) for a in batch})
            for activity in batch:
                yield self._source(activity, existing.get(str(activity.identifier)))

    def _fail(self, line: int, pointer: str, message: str) -> None:
        self.report.errors.append(ImportProblem(line, None, ACTIVITIES.resource, pointer, message))

    def _first(self, activity: _Activity) -> bool:
        """False for an activity without an identifier (reported), or with one already seen (a problem)."""
        if not activity.identifier:
            for line, pointer, message in activity.problems:
                self._fail(line, pointer, message)
            return False
        first = self.seen.setdefault(activity.identifier, activity.line)
        if first != activity.line:
            line = activity.lines["/external_ref"]
            message = f"iati-identifier '{activity.identifier}' appears twice in the file (first at line {first})"
            self._fail(line, "/external_ref", message)
            return False
        return True

    def _existing(self, identifiers: set[str]) -> dict[str, _Existing]:
        """The owner's live activities with these references, and what of them the file cannot say."""
        if not identifiers:
            return {}
        rows = self.session.exec(
            select(Activity.id, Activity.external_ref, Activity.code, Activity.type).where(
                col(Activity.owner_partner_id) == self.owner_id,
                col(Activity.external_ref).in_(identifiers),
                col(Activity.deleted_at).is_(None),
            )
        ).all()
        ids = [row[0] for row in rows]
        targets: dict[uuid.UUID, list[uuid.UUID]] = {}
        reports: dict[uuid.UUID, list[uuid.UUID]] = {}
        if ids:
            participants = select(ActivityParticipant.activity_id, ActivityParticipant.partner_id).where(
                col(ActivityParticipant.activity_id).in_(ids), col(ActivityParticipant.role) == ParticipantRole.TARGET
            )
            for activity_id, partner_id in self.session.exec(participants.order_by(col(ActivityParticipant.position))):
                targets.setdefault(activity_id, []).append(partner_id)  # type: ignore[arg-type]
            links = select(ActivityGovernmentReport.activity_id, ActivityGovernmentReport.government_report_id).where(
                col(ActivityGovernmentReport.activity_id).in_(ids)
            )
            for activity_id, report_id in self.session.exec(
                links.order_by(col(ActivityGovernmentReport.government_report_id))
            ):
                reports.setdefault(activity_id, []).append(report_id)  # type: ignore[arg-type]
        return {
            str(ref): _Existing(record_id, code, str(kind), targets.get(record_id, []), reports.get(record_id, []))
            for record_id, ref, code, kind in rows
        }

    def _source(self, activity: _Activity, existing: _Existing | None) -> IatiSource:
        for line, pointer, message in activity.problems:
            self._fail(line, pointer, message)
        data = dict(activity.data)
        lines = dict(activity.lines)
        data |= {
            "id": existing.id if existing else uuid.uuid4(),
            "objective_id": self.objective.id,
            "owner_partner_id": self.owner_id,
            "type": self.activity_type or (existing.type if existing else DEFAULT_TYPE),
            "countries": self._countries(activity, lines),
            "participants": self._participants(activity, lines, existing),
            "government_report_ids": existing.report_ids if existing else [],
        }
        data["level"] = _level(data["countries"], activity.named_region)
        explain: dict[str, str] = {}
        data["external_ref"] = activity.identifier
        data["code"] = existing.code if existing else self._code(activity, explain)
        return IatiSource(activity.line, None, ACTIVITIES, data, lines, explain)

    @staticmethod
    def _code(activity: _Activity, explain: dict[str, str]) -> str:
        """A new activity's code: its identifier without the reporting-org's prefix. The model
        checks it; a problem with it says where it came from, and is never mended."""
        identifier = str(activity.identifier)
        prefix = f"{activity.reporting_ref}-" if activity.reporting_ref else None
        code = identifier[len(prefix) :] if prefix and identifier.startswith(prefix) else identifier
        explain["/code"] = f"'{code}', from iati-identifier '{identifier}', cannot be the activity's code"
        return code

    def _countries(self, activity: _Activity, lines: dict[str, int]) -> list[str]:
        codes: list[str] = []
        for code, line in activity.countries:
            country = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
            if country is None:
                self._fail(
                    line, f"/countries/{len(codes)}", f"recipient-country {code!r} is not an ISO 3166-1 alpha-2 code"
                )
            elif country.alpha_3 not in codes:
                lines[f"/countries/{len(codes)}"] = line
                codes.append(country.alpha_3)
        return codes

    def _participants(
        self, activity: _Activity, lines: dict[str, int], existing: _Existing | None
    ) -> list[dict[str, Any]]:
        participants: list[dict[str, Any]] = []
        for org in activity.orgs:
            pointer = f"/participants/{len(participants)}"
            role = ROLE_FROM_IATI.get(org.role or "")
            if role is None:
                self._fail(
                    org.line,
                    f"{pointer}/role",
                    f"participating-org role {org.role!r} is not an IATI OrganisationRole code (1 to 4)",
                )
            partner_id = self._partner(org, pointer)
            if role is None or partner_id is None:
                continue
            participant = {"partner_id": partner_id, "role": role}
            if participant not in participants:
                lines[pointer] = org.line
                participants.append(participant)
        for partner_id in existing.targets if existing else []:
            participants.append({"partner_id": partner_id, "role": ParticipantRole.TARGET})
        return participants

    def _partner(self, org: _Org, pointer: str) -> uuid.UUID | None:
        if not org.names:
            self._fail(
                org.line,
                f"{pointer}/partner_id",
                "participating-org has no narrative: its name is what finds the partner",
            )
            return None
        for name in org.names:
            matches = self.partners.get(name.casefold(), [])
            if len(matches) == 1:
                return matches[0]
            if matches:
                self._fail(
                    org.line,
                    f"{pointer}/partner_id",
                    f"participating-org '{name}' names {len(matches)} partners: rename one",
                )
                return None
        self._fail(
            org.line,
            f"{pointer}/partner_id",
            f"participating-org '{org.names[0]}' is no partner's name: create the partner first",
        )
        return None
