"""`workplan import iati`: a partner's IATI activities as the plan's, updated by their identifier,
every problem placed at its line and field, nothing written unless all is well."""

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from app.activities.service import update_activity
from app.cli import app
from app.config import get_settings
from app.db import create_db_engine, get_engine
from app.iati import export as iati_export
from app.iati.importing import _level, _read, find_objective, import_iati
from app.models.activities import Activity, ActivityUpdate
from app.models.objectives import Objective
from app.models.partners import Partner
from app.transfer import ImportFailed, ImportReport
from app.vocabularies import ActivityType
from tests.conftest import DATABASES, fresh_database_url, migrate
from tests.factories import make_activity, make_objective, make_partner, make_report, make_work_plan

ORG = "XM-DAC-47066"  # the partner's own organisation identifier, as its reporting-org ref

# Shaped as the export writes a file (and a partner's system would): each activity's identifier is
# <reporting-org ref>-<code>; a second activity with narratives in two languages, French first.
PARTNER_FILE = f"""<?xml version="1.0" encoding="UTF-8"?>
<iati-activities version="2.03" generated-datetime="2026-12-01T10:00:00Z">
 <iati-activity last-updated-datetime="2026-11-30T09:00:00Z" xml:lang="en" default-currency="EUR">
  <iati-identifier>{ORG}-KEN-01</iati-identifier>
  <reporting-org ref="{ORG}" type="21"><narrative>ECPAT International</narrative></reporting-org>
  <title><narrative>Hotline for children in Kenya</narrative></title>
  <description type="1"><narrative>A national hotline.</narrative></description>
  <description type="2"><narrative>Objectives, not the description.</narrative></description>
  <participating-org role="2"><narrative>ECPAT International</narrative></participating-org>
  <participating-org role="1" ref="XM-DAC-41122"><narrative>unicef</narrative></participating-org>
  <participating-org role="4"><narrative>ECPAT International</narrative></participating-org>
  <activity-status code="2"/>
  <activity-date type="1" iso-date="2026-01-01"/>
  <activity-date type="2" iso-date="2026-02-01Z"/>
  <activity-date type="3" iso-date="2026-12-31"/>
  <recipient-country code="KE" percentage="100"/>
  <sector vocabulary="1" code="15160"/>
  <transaction><transaction-type code="3"/><value value-date="2026-02-01">1000</value></transaction>
 </iati-activity>
 <iati-activity last-updated-datetime="2026-11-30T09:00:00Z" xml:lang="en">
  <iati-identifier>{ORG}-GLOBAL.2</iati-identifier>
  <reporting-org ref="{ORG}" type="21"><narrative>ECPAT International</narrative></reporting-org>
  <title>
   <narrative xml:lang="fr">Rapport mondial</narrative>
   <narrative xml:lang="en-GB">Global report</narrative>
  </title>
  <participating-org role="4"><narrative>ECPAT International</narrative></participating-org>
  <activity-status code="3"/>
  <activity-date type="4" iso-date="2025-06-30"/>
  <recipient-region code="998" vocabulary="1"/>
  <sector vocabulary="1" code="15160"/>
  <budget><value value-date="2025-01-01">5000</value></budget>
 </iati-activity>
 <iati-activity xml:lang="fr">
  <iati-identifier>OTHER-REF-3</iati-identifier>
  <reporting-org ref="{ORG}"><narrative>ECPAT International</narrative></reporting-org>
  <title><narrative>Atelier régional</narrative></title>
  <participating-org role="3"><narrative>UNICEF</narrative></participating-org>
  <activity-status code="1"/>
  <recipient-country code="SN"/>
  <recipient-country code="ML"/>
 </iati-activity>
</iati-activities>
"""


@pytest.fixture
def plan(session: Session) -> dict[str, Any]:
    work_plan = make_work_plan(session, code="2027")
    return {
        "objective": make_objective(session, work_plan_id=work_plan.id, code="3"),
        "ecpat": make_partner(session, name="ECPAT International"),
        "unicef": make_partner(session, name="UNICEF"),
    }


def write(tmp_path: Path, text: str, name: str = "activities.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run(session: Session, path: Path, plan: dict[str, Any], **options: Any) -> ImportReport:
    return import_iati(session, path, objective="2027/3", partner="ECPAT International", **options)


def activities(session: Session) -> dict[str, Activity]:
    session.expire_all()
    live = select(Activity).where(col(Activity.deleted_at).is_(None), col(Activity.external_ref).is_not(None))
    return {str(a.external_ref): a for a in session.exec(live)}


def line_of(text: str, marker: str, occurrence: int = 1) -> int:
    lines = [n for n, line in enumerate(text.splitlines(), 1) if marker in line]
    return lines[occurrence - 1]


def counts(report: ImportReport) -> tuple[int, int, int]:
    c = report.counts["activities"]
    return c.created, c.updated, c.unchanged


def test_a_partner_file_becomes_the_plans_activities(session: Session, tmp_path: Path, plan: dict[str, Any]) -> None:
    report = run(session, write(tmp_path, PARTNER_FILE), plan)
    assert counts(report) == (3, 0, 0)
    found = activities(session)
    assert set(found) == {f"{ORG}-KEN-01", f"{ORG}-GLOBAL.2", "OTHER-REF-3"}
    ecpat, unicef = plan["ecpat"].id, plan["unicef"].id
    kenya = found[f"{ORG}-KEN-01"]
    assert (kenya.objective_id, kenya.work_plan_id) == (plan["objective"].id, plan["objective"].work_plan_id)
    assert (kenya.owner_partner_id, kenya.code) == (ecpat, "KEN-01")  # the reporting-org's prefix dropped
    assert (kenya.title, kenya.description) == ("Hotline for children in Kenya", "A national hotline.")
    assert (kenya.status, kenya.type, kenya.level) == ("in_progress", "partnership", "national")
    assert (kenya.planned_start, kenya.actual_start, kenya.planned_end, kenya.actual_end) == (
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 12, 31),
        None,
    )
    assert [c.country for c in kenya.countries] == ["KEN"]
    # A partner with two roles keeps both; names match ignoring case; file order kept.
    assert [(p.partner_id, p.role) for p in kenya.participants] == [
        (ecpat, "lead"),
        (unicef, "funder"),
        (ecpat, "contributor"),
    ]
    world = found[f"{ORG}-GLOBAL.2"]
    assert (world.code, world.title, world.description) == ("GLOBAL.2", "Global report", None)  # English first
    assert (world.status, world.level, world.actual_end) == ("completed", "international", date(2025, 6, 30))
    assert world.countries == []
    other = found["OTHER-REF-3"]
    assert (other.code, other.status, other.level) == ("OTHER-REF-3", "planned", "regional")  # no prefix to drop
    assert [c.country for c in other.countries] == ["MLI", "SEN"]
    assert [(p.partner_id, p.role) for p in other.participants] == [(unicef, "funder")]  # 3 Extending


def test_a_second_import_updates_and_an_unchanged_one_changes_nothing(
    session: Session, tmp_path: Path, plan: dict[str, Any]
) -> None:
    path = write(tmp_path, PARTNER_FILE)
    run(session, path, plan)
    first = {ref: (a.id, a.version, a.updated_at) for ref, a in activities(session).items()}
    assert counts(run(session, path, plan)) == (0, 0, 3)
    assert {ref: (a.id, a.version, a.updated_at) for ref, a in activities(session).items()} == first

    # The plan's own edits to what IATI cannot say survive; the file's fields are the file's.
    kenya = activities(session)[f"{ORG}-KEN-01"]
    report_id = make_report(session).id
    committee = make_partner(session, name="Committee on the Rights of the Child")
    participants = [{"partner_id": p.partner_id, "role": p.role} for p in kenya.participants]
    patch = {
        "code": "ECPAT-KE",
        "type": "monitoring",
        "title": "Edited here",
        "participants": [*participants, {"partner_id": committee.id, "role": "target"}],
        "government_report_ids": [report_id],
    }
    update_activity(session, kenya, ActivityUpdate.model_validate(patch))
    changed = PARTNER_FILE.replace("Rapport mondial", "Rapport global").replace("Global report", "World report")
    report = run(session, write(tmp_path, changed), plan)
    assert counts(report) == (0, 2, 1)
    found = activities(session)
    assert len(found) == 3
    kenya = found[f"{ORG}-KEN-01"]
    assert kenya.id == first[f"{ORG}-KEN-01"][0]
    assert (kenya.code, kenya.type, kenya.title) == ("ECPAT-KE", "monitoring", "Hotline for children in Kenya")
    assert [(p.partner_id, p.role) for p in kenya.participants][-1] == (committee.id, "target")
    assert [g.government_report_id for g in kenya.government_reports] == [report_id]
    world = found[f"{ORG}-GLOBAL.2"]
    assert (world.title, world.version) == ("World report", first[f"{ORG}-GLOBAL.2"][1] + 1)
    # --type sets the type of every activity, an updated one's too.
    assert counts(run(session, write(tmp_path, changed), plan, activity_type=ActivityType.ADVOCACY)) == (0, 3, 0)
    assert {a.type for a in activities(session).values()} == {"advocacy"}


BROKEN = f"""<?xml version="1.0" encoding="UTF-8"?>
<iati-activities version="2.03">
 <iati-activity xml:lang="en">
  <iati-identifier>{ORG}-A</iati-identifier>
  <reporting-org ref="{ORG}"/>
  <title><narrative>Fine apart from its partner and its country</narrative></title>
  <participating-org role="2"><narrative>Nobody We Know</narrative></participating-org>
  <participating-org role="9"><narrative>UNICEF</narrative></participating-org>
  <activity-status code="2"/>
  <recipient-country code="QQ"/>
 </iati-activity>
 <iati-activity xml:lang="en">
  <iati-identifier>{ORG}-B</iati-identifier>
  <reporting-org ref="{ORG}"/>
  <title/>
  <activity-status code="2"/>
  <activity-date type="1" iso-date="2026-03-01"/>
  <activity-date type="3" iso-date="2026-02-01"/>
 </iati-activity>
 <iati-activity xml:lang="en">
  <iati-identifier>{ORG}-A</iati-identifier>
  <reporting-org ref="{ORG}"/>
  <title><narrative>The same identifier again</narrative></title>
  <activity-status code="2"/>
 </iati-activity>
 <iati-activity xml:lang="en">
  <iati-identifier>{ORG}-C</iati-identifier>
  <reporting-org ref="{ORG}"/>
  <title><narrative>No status, and a date that is none</narrative></title>
  <activity-date type="2" iso-date="2026-02-30"/>
 </iati-activity>
 <iati-activity xml:lang="en">
  <iati-identifier>{ORG}-a code that cannot be one</iati-identifier>
  <reporting-org ref="{ORG}"/>
  <title><narrative>A bad identifier</narrative></title>
  <activity-status code="7"/>
 </iati-activity>
 <iati-activity xml:lang="en">
  <title><narrative>No identifier</narrative></title>
  <activity-status code="2"/>
 </iati-activity>
</iati-activities>
"""


def test_every_problem_is_placed_at_its_line_and_field_and_nothing_is_written(
    session: Session, tmp_path: Path, plan: dict[str, Any]
) -> None:
    with pytest.raises(ImportFailed) as failed:
        run(session, write(tmp_path, BROKEN), plan)
    found = [(p.line, p.resource, p.pointer) for p in failed.value.report.errors]
    at = BROKEN
    assert found == [
        (line_of(at, "Nobody We Know"), "activities", "/participants/0/partner_id"),
        (line_of(at, 'role="9"'), "activities", "/participants/0/role"),
        (line_of(at, 'code="QQ"'), "activities", "/countries/0"),
        (line_of(at, "<title/>"), "activities", "/title"),
        (line_of(at, 'iso-date="2026-02-01"'), "activities", "/planned_end"),
        (line_of(at, f"{ORG}-A<", 2), "activities", "/external_ref"),
        (line_of(at, f"{ORG}-C<") - 1, "activities", "/status"),  # no element: the activity's line
        (line_of(at, "2026-02-30"), "activities", "/actual_start"),
        (line_of(at, "cannot be one"), "activities", "/code"),
        (line_of(at, "cannot be one"), "activities", "/external_ref"),
        (line_of(at, 'code="7"'), "activities", "/status"),
        (line_of(at, "No identifier") - 1, "activities", "/external_ref"),
    ]
    messages = [str(p) for p in failed.value.report.errors]
    assert "'Nobody We Know' is no partner's name: create the partner first" in messages[0]
    assert "'QQ' is not an ISO 3166-1 alpha-2 code" in messages[2]
    assert messages[3].endswith("/title: Field required (title/narrative)")
    assert "must not be before planned_start (2026-03-01) (activity-date type=3)" in messages[4]
    assert f"appears twice in the file (first at line {line_of(at, '<iati-activity', 1)})" in messages[5]
    assert activities(session) == {}


def test_a_code_another_activity_holds_is_a_problem_not_a_new_code(
    session: Session, tmp_path: Path, plan: dict[str, Any]
) -> None:
    make_activity(session, objective_id=plan["objective"].id, code="KEN-01")
    with pytest.raises(ImportFailed) as failed:
        run(session, write(tmp_path, PARTNER_FILE), plan)
    (problem,) = failed.value.report.errors
    assert (problem.line, problem.pointer) == (line_of(PARTNER_FILE, f"{ORG}-KEN-01"), "/code")
    assert "KEN-01" in problem.message
    assert "already taken" in problem.message
    assert activities(session) == {}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('<iati-activities version="2.03">\n<iati-activity>\n<title>\n</iati-activities>\n', 4, "not well-formed"),
        (
            PARTNER_FILE.removesuffix("</iati-activities>\n"),
            PARTNER_FILE.count("\n"),
            "Premature end of data",
        ),  # after 3 fine activities
        ("", 1, "not well-formed"),
        ('<?xml version="1.0"?>\n<iati-organisations version="2.03"/>\n', 2, "<iati-activities>"),
        ('<iati-activities version="1.05"/>', 1, "1.05 is not read"),
    ],
)
def test_a_file_that_is_no_iati_activity_file_is_one_problem_with_its_line(
    session: Session, tmp_path: Path, plan: dict[str, Any], text: str, line: int, message: str
) -> None:
    with pytest.raises(ImportFailed) as failed:
        run(session, write(tmp_path, text), plan)
    (problem,) = failed.value.report.errors
    assert problem.line == line
    assert message in problem.message


def test_entities_are_never_resolved(session: Session, tmp_path: Path, plan: dict[str, Any]) -> None:
    secret = write(tmp_path, "TOP-SECRET-CONTENT", "secret.txt")
    xxe = f"""<?xml version="1.0"?>
<!DOCTYPE iati-activities [
 <!ENTITY xxe SYSTEM "file://{secret}">
 <!ENTITY lol "lollollollollollollollol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<iati-activities version="2.03">
 <iati-activity xml:lang="en">
  <iati-identifier>{ORG}-X</iati-identifier>
  <title><narrative>&xxe;&lol3;</narrative></title>
  <activity-status code="2"/>
 </iati-activity>
</iati-activities>
"""
    with pytest.raises(ImportFailed) as failed:
        run(session, write(tmp_path, xxe), plan)
    (problem,) = failed.value.report.errors
    assert problem.line == 2
    assert "document type" in problem.message
    assert "TOP-SECRET" not in str(problem)
    assert "lollol" not in str(problem)
    assert activities(session) == {}
    # Read anyway, the entities stay unexpanded references: the reader itself never resolves them.
    report = ImportReport()
    read = list(_read(write(tmp_path, xxe.replace("<!DOCTYPE", "<!-- no -->\n<!DOCTYPE")), report))
    assert read == []
    assert "document type" in report.errors[0].message


@pytest.mark.parametrize(
    ("countries", "named_region", "level"),
    [
        (["KEN"], False, "national"),
        (["KEN"], True, "national"),
        (["MLI", "SEN"], False, "regional"),
        ([], True, "regional"),  # a recipient-region other than 998, e.g. 289 South of Sahara
        ([], False, "international"),  # none, or 998 "developing countries, unspecified"
    ],
)
def test_the_level_follows_where_the_work_is(countries: list[str], named_region: bool, level: str) -> None:
    assert _level(countries, named_region) == level


def test_a_dry_run_reports_and_writes_nothing(session: Session, tmp_path: Path, plan: dict[str, Any]) -> None:
    report = run(session, write(tmp_path, PARTNER_FILE), plan, dry_run=True)
    assert report.dry_run
    assert counts(report) == (3, 0, 0)
    assert activities(session) == {}


def test_the_objective_and_the_owner_are_named_without_doubt(
    session: Session, tmp_path: Path, plan: dict[str, Any]
) -> None:
    objective = plan["objective"]
    make_objective(session, code="3")  # the same code in another plan
    assert find_objective(session, "2027/3").id == objective.id
    assert find_objective(session, str(objective.id)).id == objective.id
    with pytest.raises(ValueError, match="several plans"):
        find_objective(session, "3")
    path = write(tmp_path, PARTNER_FILE)
    with pytest.raises(ValueError, match="No partner named"):
        import_iati(session, path, objective="2027/3", partner="Nobody")
    report = import_iati(session, path, objective=str(objective.id), partner=str(plan["ecpat"].id).upper())
    assert counts(report) == (3, 0, 0)


READ_LARGE = """
import resource, sys
from pathlib import Path
from app.iati.importing import _read
from app.transfer import ImportReport
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
count = sum(1 for _ in _read(Path(sys.argv[1]), ImportReport()))
print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_the_reader_streams_a_large_file(tmp_path: Path) -> None:
    """Each activity is dropped once read: a 7 MB file's 6,000 activities, read in a process of
    their own, raise its peak memory by less than 20 MB (kept, their tree would take some 70 MB)."""
    one = PARTNER_FILE.split("<iati-activity ", 2)[1].split("</iati-activity>")[0]
    count = 6_000
    path = tmp_path / "large.xml"
    with path.open("w", encoding="utf-8") as out:
        out.write('<iati-activities version="2.03">\n')
        for n in range(count):
            out.write(f"<iati-activity {one.replace('KEN-01', f'KEN-{n}')}</iati-activity>\n")
        out.write("</iati-activities>\n")
    assert path.stat().st_size > 7_000_000
    done = subprocess.run(
        [sys.executable, "-c", READ_LARGE, str(path)], capture_output=True, text=True, check=True, timeout=120
    )
    read, grown_kib = map(int, done.stdout.split())
    assert read == count
    assert grown_kib < 20_000, grown_kib


# --- the round trip ----------------------------------------------------------------------------

PLAN_ORG = "XM-OCHA-SEC"


def exported_file(session: Session, plan_id: uuid.UUID, path: Path) -> Path:
    """The plan's activities as the IATI export writes them (app/iati/export.py), batch by batch."""
    publisher = iati_export.Publisher(PLAN_ORG, "NGO Group subgroup", "21", "en")
    with path.open("wb") as out:
        after: str | None = None
        while True:
            data, after = iati_export.write_batch(session, plan_id, publisher, after)
            out.write(data)
            if after is None:
                return path


def content(activity: Activity, names: dict[uuid.UUID, str]) -> dict[str, Any]:
    fields = ["code", "title", "description", "status", "type", "level", "planned_start", "planned_end"]
    fields += ["actual_start", "actual_end"]
    return {name: getattr(activity, name) for name in fields} | {
        "countries": [c.country for c in activity.countries],
        "participants": [(names[p.partner_id], p.role) for p in activity.participants],
    }


def test_the_import_of_the_export_reproduces_the_activities(session: Session, tmp_path: Path) -> None:
    """What IATI says of an activity comes back as it was: into another plan, owned by a partner."""
    source = make_objective(session, work_plan_id=make_work_plan(session, code="SOURCE").id)
    lead, funder, member = (make_partner(session, name=n) for n in ("ECPAT International", "UNICEF", "Caucus"))
    common = {"objective_id": source.id, "type": "research"}
    make_activity(
        session,
        **common,
        code="SEC-1.1",
        title="Study of the sale of children",
        description="A study, with <markup> & ampersands.",
        status="in_progress",
        level="regional",
        countries=["KEN", "UGA"],
        planned_start="2027-01-01",
        planned_end="2027-12-31",
        actual_start="2027-02-01",
        participants=[
            {"partner_id": lead.id, "role": "lead"},
            {"partner_id": funder.id, "role": "funder"},
            {"partner_id": member.id, "role": "contributor"},
        ],
    )
    make_activity(session, **common, code="SEC-1.2", title="Global review", status="completed", level="international")
    make_activity(session, **common, code="SEC-1.3", title="In Brazil", status="suspended", level="national",
                  countries=["BRA"], actual_end="2027-03-01")  # fmt: skip
    make_activity(session, **common, code="SEC-1.4", title="Dropped", status="cancelled", level="international")
    make_activity(session, **common, code="SEC-1.5", title="Next year", status="planned", level="international")
    target = make_objective(session, work_plan_id=make_work_plan(session, code="TARGET").id, code="1")
    path = exported_file(session, source.work_plan_id, tmp_path / "export.xml")

    report = import_iati(session, path, objective="TARGET/1", partner="UNICEF", activity_type=ActivityType.RESEARCH)
    assert counts(report) == (5, 0, 0)
    names = {p.id: p.name for p in session.exec(select(Partner))}
    session.expire_all()

    def plan_activities(objective: Objective) -> list[dict[str, Any]]:
        live = select(Activity).where(col(Activity.objective_id) == objective.id, col(Activity.deleted_at).is_(None))
        return [content(a, names) for a in session.exec(live.order_by(col(Activity.code)))]

    assert plan_activities(target) == plan_activities(source)
    assert counts(import_iati(session, path, objective="TARGET/1", partner="UNICEF")) == (0, 0, 5)


# --- the command ---------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url = fresh_database_url(request.param, tmp_path, "_iati")
    monkeypatch.setenv("WORKPLAN_DATABASE_URL", url)
    get_settings.cache_clear()
    get_engine.cache_clear()
    engine = create_db_engine(url, pool_size=1)
    migrate(engine)
    yield engine
    engine.dispose()
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


def test_the_command_imports_updates_and_reports_problems(database: Engine, tmp_path: Path) -> None:
    assert runner.invoke(app, ["seed"]).exit_code == 0
    text = PARTNER_FILE.replace("ECPAT International<", "Child Rights Caucus<").replace("unicef", "Focal Point")
    text = text.replace(">UNICEF<", ">Committee on the Rights of the Child<")
    path = write(tmp_path, text)
    command = ["import", "iati", str(path), "--objective", "2003/5", "--partner", "child rights caucus"]
    dry = runner.invoke(app, [*command, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output

    def imported() -> int:
        with Session(database) as session:
            statement = select(func.count()).select_from(Activity).where(col(Activity.external_ref).is_not(None))
            return session.exec(statement).one()

    assert imported() == 0
    first = runner.invoke(app, command)
    assert first.exit_code == 0, first.output
    assert "│ activities         │ 3       │ 0       │ 0" in first.output
    again = runner.invoke(app, command)
    assert "│ activities         │ 0       │ 0       │ 3" in again.output
    assert imported() == 3

    broken = write(tmp_path, text.replace('code="KE"', 'code="XX"'), "broken.xml")
    result = runner.invoke(app, ["import", "iati", str(broken), "--objective", "2003/5", "--partner", "Focal Point"])
    assert result.exit_code == 1
    kenya = line_of(text, 'code="KE"')
    assert f"line {kenya} activities /countries/0: recipient-country 'XX'" in result.output
    assert "nothing was imported" in result.output
    unknown = runner.invoke(app, ["import", "iati", str(path), "--objective", "9/9", "--partner", "Focal Point"])
    assert unknown.exit_code == 2
    assert "No objective '9/9'" in unknown.output
