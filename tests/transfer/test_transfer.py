"""Export and import: exact round trips, updates by id, every problem reported, nothing half written."""

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, select, text
from sqlmodel import Session, SQLModel

from app.activities.service import delete_activity, update_activity
from app.csv_cells import neutralise, restore
from app.db import create_db_engine
from app.models.activities import ActivityUpdate
from app.models.partners import PartnerUpdate
from app.models.work_plans import WorkPlanUpdate
from app.partners.service import delete_partner, update_partner
from app.seed.ratifications import load_ratifications
from app.transfer import RESOURCES, ImportFailed, ImportProblem, export_records, import_records, importing
from app.vocabularies import WorkPlanStatus
from app.work_plans.service import update_work_plan
from tests.conftest import fresh_database_url, migrate
from tests.factories import make_activity, make_objective, make_partner, make_ratification, make_report, make_work_plan

Rows = dict[str, list[dict[str, Any]]]


def build_data_set(session: Session) -> None:
    """Every field set, private fields, children, text that looks like formulas, a change, a deletion."""
    plan = make_work_plan(
        session,
        code="2003",
        title="=2003 Work Plan",
        group_name="NGO Group for the CRC, Subgroup against the Sexual Exploitation of Children",
        period_start="2003-01-01",
        period_end="2003-12-31",
        status="draft",
        description="+Plan of the year\nsecond line, with \"quotes\", commas; and 'apostrophes'",
    )
    update_work_plan(session, plan, WorkPlanUpdate(status=WorkPlanStatus.ADOPTED))  # version 2
    rapporteur = make_partner(
        session,
        name='=HYPERLINK("http://evil")',
        acronym="@SR",
        kind="special_procedure",
        country="URY",
        website="https://www.ohchr.org",
        description="-Mandate on the sale of children",
        active_from="1990-03-07",
        active_to="2030-12-31",
        mandate_holder="Dr. Juan Miguel Petit",
        contact_name="'=already quoted",
        contact_email="petit@example.org",
        notes="\tinternal note",
    )
    caucus = make_partner(session, name="Child Rights Caucus", kind="caucus")
    unused = make_partner(session, name="Commission on Human Rights", kind="charter_body")
    delete_partner(session, unused)
    make_ratification(
        session,
        country="MEX",
        instrument="OPSC",
        deposited_on="2002-03-15",
        entry_into_force_override="2002-04-15",
        reservations="=Declaration",
        source="United Nations Treaty Collection",
    )
    report = make_report(
        session,
        country="MEX",
        instrument="OPSC",
        kind="combined_periodic",
        cycle_from=3,
        cycle_to=4,
        symbol="CRC/C/OPSC/MEX/1",
        due_date="2004-05-15",
        submitted_date="2004-09-01",
        committee_session=42,
        review_date="2005-01-10",
        concluding_observations_symbol="CRC/C/OPSC/MEX/CO/1",
        concluding_observations_date="2005-02-01",
        status="concluding_observations_adopted",
        analysis="\rAnalysis against the OPSC",
        articles=[
            {"instrument": "CRC", "article": 34, "assessment": "partially_compliant", "note": "=note"},
            {"instrument": "OPSC", "article": 2, "assessment": "compliant", "note": None},
        ],
        monitored_by=[rapporteur.id, caucus.id],
        notes="Private: from the Focal Point",
    )
    objective = make_objective(
        session, work_plan_id=plan.id, code="5", title="Committee", description="Monitoring", position=5
    )
    make_activity(
        session,
        objective_id=objective.id,
        code="SEC-2003-5.1",
        title="Monitoring of government reports",
        description="-Ongoing",
        status="in_progress",
        type="monitoring",
        level="international",
        countries=["MEX", "KEN", "FRA"],
        planned_start="2003-01-01",
        planned_end="2003-12-31",
        actual_start="2003-02-01",
        actual_end="2003-11-30",
        participants=[
            {"partner_id": str(caucus.id), "role": "focal_point"},
            {"partner_id": str(rapporteur.id), "role": "target"},
            {"partner_id": str(caucus.id), "role": "lead"},
        ],
        government_report_ids=[report.id],
    )
    gone = make_activity(
        session,
        objective_id=objective.id,
        code="SEC-2003-5.2",
        title="Cancelled",
        type="research",
        participants=[{"partner_id": str(caucus.id), "role": "partner"}],
    )
    delete_activity(session, gone)


def live_rows(connection: Connection) -> Rows:
    """Every table's rows, without deleted records or their children, in a stable order."""
    tables = SQLModel.metadata.sorted_tables
    deleted: set[Any] = set()
    for table in tables:
        if "deleted_at" in table.c:
            deleted |= set(connection.execute(select(table.c.id).where(table.c.deleted_at.is_not(None))).scalars())
    rows: Rows = {}
    for table in tables:
        if table.name in ("sync_state", "idempotency_key", "api_key", "audit_entry"):
            continue  # each database's own bookkeeping (its epoch, its change counter, its keys and log)
        # change_seq is this database's stamp of the write, not part of the record.
        found = [
            {k: v for k, v in row._mapping.items() if k != "change_seq"} for row in connection.execute(select(table))
        ]
        kept = [
            row
            for row in found
            if not deleted & {v for v in row.values() if not isinstance(v, dict)} and row.get("deleted_at") is None
        ]
        rows[table.name] = sorted(kept, key=lambda row: [str(row[c.name]) for c in table.primary_key])
    return rows


@pytest.fixture
def empty_engine(session: Session, tmp_path: Path) -> Iterator[Engine]:
    """A second, migrated, empty database of the same kind as the one under test."""
    kind = session.get_bind().dialect.name
    engine = create_db_engine(fresh_database_url(kind, tmp_path, "_transfer"), pool_size=2)
    migrate(engine)
    yield engine
    engine.dispose()


def export_to(session: Session, directory: Path, fmt: str) -> list[Path]:
    if fmt == "csv":
        paths = []
        for resource in RESOURCES:
            path = directory / f"{resource}.csv"
            with path.open("w", encoding="utf-8", newline="") as out:
                export_records(session, [resource], "csv", out)
            paths.append(path)
        return paths
    path = directory / f"backup.{fmt}"
    with path.open("w", encoding="utf-8") as out:
        export_records(session, RESOURCES, fmt, out)  # type: ignore[arg-type]
    return [path]


def write_ndjson(path: Path, records: list[tuple[str, dict[str, Any]]]) -> Path:
    path.write_text("".join(json.dumps({"type": kind, "data": data}) + "\n" for kind, data in records))
    return path


def problems(exc: pytest.ExceptionInfo[ImportFailed]) -> list[tuple[int | None, str | None, str | None, str]]:
    return [(p.line, p.index, p.resource, p.pointer) for p in exc.value.report.errors]


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_export_imported_into_an_empty_database_reproduces_it_row_for_row(
    session: Session, empty_engine: Engine, tmp_path: Path, fmt: str
) -> None:
    build_data_set(session)
    paths = export_to(session, tmp_path, fmt)
    with Session(empty_engine) as target, target.begin():
        for path, resource in zip(paths, RESOURCES if fmt == "csv" else [None], strict=True):
            import_records(target, path, resource=resource)
    with empty_engine.connect() as connection:
        imported = live_rows(connection)
    original = live_rows(session.connection())
    assert imported == original
    assert len(imported["activity_participant"]) == 3
    assert imported["partner"][0]["notes"] is not None or imported["partner"][1]["notes"] is not None


def test_json_export_is_one_object_with_a_list_per_resource(session: Session) -> None:
    build_data_set(session)
    out = io.StringIO()
    batches: list[int] = []
    count = export_records(session, ["partners", "work_plans"], "json", out, on_progress=batches.append)
    document = json.loads(out.getvalue())
    assert list(document) == ["work_plans", "partners"]
    assert count == sum(batches) == 3
    rapporteur = next(p for p in document["partners"] if p["acronym"] == "@SR")
    assert rapporteur["contact_email"] == "petit@example.org"
    assert rapporteur["notes"] == "\tinternal note"


def test_ndjson_lines_carry_their_type_beside_the_data(session: Session) -> None:
    build_data_set(session)
    out = io.StringIO()
    export_records(session, ["activities"], "ndjson", out)
    (line,) = [json.loads(text) for text in out.getvalue().splitlines()]
    assert line["type"] == "activity"
    assert line["data"]["type"] == "monitoring"
    assert line["data"]["countries"] == ["FRA", "KEN", "MEX"]


def test_csv_export_of_several_resources_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="one resource"):
        export_records(session, ["partners", "activities"], "csv", io.StringIO())


def test_csv_neutralises_formulas_and_import_restores_them(session: Session, tmp_path: Path) -> None:
    build_data_set(session)
    out = io.StringIO(newline="")
    export_records(session, ["partners"], "csv", out)
    text = out.getvalue()
    assert "'=HYPERLINK" in text
    assert "'@SR" in text
    assert "'-Mandate" in text
    assert "''=already quoted" in text
    assert "'\tinternal note" in text
    for value in ["=1+1", "+1", "-1", "@a", "\tx", "\rx", "'=x", "''+x", "'plain", "plain", "", "a=b"]:
        assert restore(neutralise(value)) == value
        assert not neutralise(value).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_import_updates_existing_ids_and_creates_new_ones(session: Session, tmp_path: Path) -> None:
    plan = make_work_plan(session)
    partner = make_partner(session, name="NGO Advisory Group", notes="kept private")
    old_partner = make_partner(session, name="Old partner")
    activity = make_activity(session, countries=["KEN"], participants=[{"partner_id": str(partner.id), "role": "lead"}])
    out = io.StringIO()
    export_records(session, RESOURCES, "ndjson", out)
    lines = [json.loads(text) for text in out.getvalue().splitlines()]
    new_id = uuid.uuid4()
    lines.append(
        {
            "type": "objective",
            "data": {
                "id": str(new_id),
                "version": 4,
                "created_at": "2003-01-02T03:04:05.678Z",
                "updated_at": "2003-02-02T03:04:05.678Z",
                "work_plan_id": str(plan.id),
                "code": "NEW",
                "title": "Imported objective",
                "description": None,
                "position": 9,
            },
        }
    )
    path = tmp_path / "changes.ndjson"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    update_partner(session, partner, PartnerUpdate(name="Renamed"))
    update_activity(session, activity, ActivityUpdate(countries=["FRA", "MEX"], participants=[]))
    delete_partner(session, old_partner)

    report = import_records(session, path)

    counts = {resource: vars(counts) for resource, counts in report.counts.items()}
    assert counts == {
        "work_plans": {"created": 0, "updated": 0, "unchanged": 2},
        "partners": {"created": 0, "updated": 2, "unchanged": 0},
        "ratifications": {"created": 0, "updated": 0, "unchanged": 0},
        "government_reports": {"created": 0, "updated": 0, "unchanged": 0},
        "objectives": {"created": 1, "updated": 0, "unchanged": 1},
        "activities": {"created": 0, "updated": 1, "unchanged": 0},
    }
    session.expire_all()
    assert (partner.name, partner.notes, partner.version) == ("NGO Advisory Group", "kept private", 3)
    assert (old_partner.deleted_at, old_partner.version) == (None, 3)
    assert [c.country for c in activity.countries] == ["KEN"]
    assert [(p.partner_id, p.role) for p in activity.participants] == [(partner.id, "lead")]
    assert activity.version == 3
    new = live_rows(session.connection())["objective"]
    created = next(row for row in new if row["id"] == new_id)
    assert (created["version"], created["position"]) == (4, 9)
    assert created["updated_at"].isoformat().startswith("2003-02-02T03:04:05.678")

    again = import_records(session, path)
    assert all(c.created == c.updated == 0 for c in again.counts.values())


def test_every_problem_is_reported_with_its_line_and_field_and_nothing_is_written(
    session: Session, tmp_path: Path
) -> None:
    make_work_plan(session, code="TAKEN")
    before = live_rows(session.connection())
    path = tmp_path / "bad.ndjson"
    good_plan = {"code": "NEW", "title": "New plan"}
    write_ndjson(
        path,
        [
            ("work_plan", good_plan),
            ("partner", {"name": "Wizard", "kind": "wizard"}),
            ("objective", {"work_plan_id": str(uuid.uuid4()), "code": "1", "title": "Orphan"}),
            ("work_plan", {"code": "TAKEN", "title": "Duplicate of the database"}),
            ("work_plan", {"code": "NEW", "title": "Duplicate of line 1"}),
        ],
    )
    with path.open("a") as f:
        f.write('{"type": "partner", "data": {"name": "Broken"\n')
        f.write('{"type": "spaceship", "data": {}}\n')

    with pytest.raises(ImportFailed) as failed:
        import_records(session, path)

    assert problems(failed) == [
        (2, None, "partners", "/kind"),
        (3, None, "objectives", "/work_plan_id"),
        (4, None, "work_plans", "/code"),
        (5, None, "work_plans", "/code"),
        (6, None, None, ""),
        (7, None, None, ""),
    ]
    messages = [p.message for p in failed.value.report.errors]
    assert messages[1].startswith("No work plan with id ")
    assert messages[2].startswith("Work plan code 'TAKEN' is already taken")
    assert messages[3] == "Work plan code 'NEW' is already taken (by the record at line 1)"
    assert messages[4].startswith("Not valid JSON")
    assert str(failed.value.report.errors[0]).startswith("line 2 partners /kind: Input should be 'ngo'")
    assert live_rows(session.connection()) == before


def test_json_problems_are_placed_by_index_path(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    plan = {"code": "A", "title": "A plan"}
    activity = {"objective_id": str(uuid.uuid4()), "code": "X", "title": "t", "type": "monitoring"}
    bad_role = activity | {"participants": [{"partner_id": str(uuid.uuid4()), "role": "boss"}]}
    path.write_text(json.dumps({"work_plans": [plan, plan | {"status": "wrong"}], "activities": [activity, bad_role]}))
    before = live_rows(session.connection())

    with pytest.raises(ImportFailed) as failed:
        import_records(session, path)

    assert problems(failed) == [
        (None, "/work_plans/1", "work_plans", "/status"),
        (None, "/activities/0", "activities", "/objective_id"),
        (None, "/activities/1", "activities", "/participants/0/role"),
    ]
    assert live_rows(session.connection()) == before


def test_broken_json_file_reports_its_line(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"work_plans": [\n{"code": "A", "title": "t"},\n{"code": \n]}\n')
    with pytest.raises(ImportFailed) as failed:
        import_records(session, path)
    assert problems(failed) == [(4, None, None, "")]


@pytest.mark.parametrize("suffix", [".ndjson", ".csv"])
def test_a_file_that_is_not_utf8_is_one_clear_error(session: Session, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"latin1{suffix}"
    if suffix == ".csv":
        path.write_bytes(b"code,title\r\nA,Plan\r\nB,Caf\xe9\r\nC,\xe9t\xe9\r\n")
    else:
        path.write_bytes(
            b'{"type": "work_plan", "data": {"code": "A", "title": "Plan"}}\n'
            b'{"type": "work_plan", "data": {"code": "B", "title": "Caf\xe9"}}\n'
        )
    before = live_rows(session.connection())
    with pytest.raises(ImportFailed) as failed:
        import_records(session, path, resource="work_plans")
    assert [(p.line, p.message) for p in failed.value.report.errors] == [
        (2 if suffix == ".ndjson" else 3, "The file is not UTF-8 text; save it as UTF-8 and import it again.")
    ]
    assert live_rows(session.connection()) == before


def test_csv_problems_carry_the_line_where_the_record_starts(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "partners.csv"
    path.write_text('name,kind,description\r\nA,ngo,"two\r\nlines"\r\nB,wizard,x\r\nC,ngo\r\n', newline="")
    with pytest.raises(ImportFailed) as failed:
        import_records(session, path, resource="partners")
    assert problems(failed) == [(4, None, "partners", "/kind"), (5, None, "partners", "")]


def test_dry_run_reports_counts_and_changes_nothing(session: Session, tmp_path: Path) -> None:
    make_work_plan(session, code="KEEP")
    before = live_rows(session.connection())
    path = write_ndjson(
        tmp_path / "plans.ndjson",
        [("work_plan", {"code": "A", "title": "A"}), ("partner", {"name": "P", "kind": "ngo"})],
    )
    report = import_records(session, path, dry_run=True)
    assert report.errors == []
    assert (report.counts["work_plans"].created, report.counts["partners"].created) == (1, 1)
    assert live_rows(session.connection()) == before


def test_problem_reads_as_a_sentence() -> None:
    problem = ImportProblem(None, "/activities/3", "activities", "/code", "is required")
    assert str(problem) == "/activities/3 activities /code: is required"


@pytest.mark.parametrize("suffix", [".ndjson", ".json"])
def test_an_id_that_appears_twice_is_refused_naming_its_first_place(
    session: Session, tmp_path: Path, suffix: str
) -> None:
    record_id = str(uuid.uuid4())
    plans = [{"id": record_id, "code": "A", "title": "A"}, {"id": record_id, "code": "B", "title": "B"}]
    path = tmp_path / f"twice{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"work_plans": plans}))
    else:
        write_ndjson(path, [("work_plan", plan) for plan in plans])
    with pytest.raises(ImportFailed) as failed:
        import_records(session, path)
    first = "line 1" if suffix == ".ndjson" else "/work_plans/0"
    assert [(p.pointer, p.message) for p in failed.value.report.errors] == [
        ("/id", f"{record_id} appears twice in the file (first at {first})")
    ]


def many_activities(session: Session, tmp_path: Path, count: int) -> tuple[uuid.UUID, Path]:
    objective = make_objective(session)
    data = {"objective_id": str(objective.id), "type": "monitoring"}
    records = [("activity", data | {"code": f"MANY-{n}", "title": f"Activity {n}"}) for n in range(count)]
    tmp_path.mkdir(exist_ok=True)
    return objective.work_plan_id, write_ndjson(tmp_path / "many.ndjson", records)


def test_postgresql_plans_the_chunk_look_ups_from_statistics_that_count_the_imported_rows(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Autovacuum cannot see the import's uncommitted rows; statistics of a near-empty table made each
    chunk's unique-key look-up read every row of the work plan (the import grew with the square of the file)."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    monkeypatch.setattr(importing, "IMPORT_CHUNK_SIZE", 50)
    # A large import that was rolled back leaves pg_class counting rows that are gone, so
    # statistics look large enough while describing none of the rows that are there.
    _other_plan, big = many_activities(session, tmp_path / "rolled-back", 3000)
    with session.begin_nested() as rolled_back:
        import_records(session, big)
        rolled_back.rollback()
    plan_id, path = many_activities(session, tmp_path, 400)

    import_records(session, path)

    explain = text("EXPLAIN (FORMAT JSON) SELECT id FROM activity WHERE work_plan_id = :plan AND deleted_at IS NULL")
    estimate = session.execute(explain, {"plan": plan_id}).scalar_one()[0]["Plan"]["Plan Rows"]
    assert estimate >= 200  # without statistics: 0.5% of the table (PostgreSQL's default for "=")


def test_a_failed_import_in_several_chunks_writes_nothing(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "IMPORT_CHUNK_SIZE", 50)
    _plan_id, path = many_activities(session, tmp_path, 400)
    with path.open("a") as out:
        out.write(json.dumps({"type": "activity", "data": {"code": "LAST"}}) + "\n")
    before = live_rows(session.connection())["activity"]

    with pytest.raises(ImportFailed) as failed:
        import_records(session, path)

    assert {p.line for p in failed.value.report.errors} == {401}
    assert live_rows(session.connection())["activity"] == before


def test_an_id_repeated_in_a_later_chunk_is_refused_and_the_next_import_starts_afresh(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ids seen so far live in a temporary table (memory flat in the file), read back per chunk."""
    monkeypatch.setattr(importing, "IMPORT_CHUNK_SIZE", 2)
    plans = [{"id": str(uuid.uuid4()), "code": f"C{n}", "title": f"Plan {n}"} for n in range(5)]
    record_id = plans[3]["id"] = plans[0]["id"]
    path = write_ndjson(tmp_path / "repeat.ndjson", [("work_plan", plan) for plan in plans])

    with pytest.raises(ImportFailed) as failed:
        import_records(session, path)
    assert [(p.line, p.pointer, p.message) for p in failed.value.report.errors] == [
        (4, "/id", f"{record_id} appears twice in the file (first at line 1)")
    ]

    del plans[3]
    report = import_records(session, write_ndjson(path, [("work_plan", plan) for plan in plans]))
    assert report.counts["work_plans"].created == 4
    again = import_records(session, path)  # the same ids again: no trace of the previous import's
    assert again.counts["work_plans"].unchanged == 4


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_backup_keeps_the_shipped_ratifications_provenance_and_disputes(
    session: Session, empty_engine: Engine, tmp_path: Path, fmt: str
) -> None:
    load_ratifications(session)
    paths = export_to(session, tmp_path, fmt)
    with Session(empty_engine) as target, target.begin():
        for path, resource in zip(paths, RESOURCES if fmt == "csv" else [None], strict=True):
            import_records(target, path, resource=resource)
    with empty_engine.connect() as connection:
        imported = live_rows(connection)["ratification"]
    assert imported == live_rows(session.connection())["ratification"]
    croatia = next(r for r in imported if (r["country"], r["instrument"]) == ("HRV", "CRC"))
    assert (croatia["origin"], croatia["disputed"]) == (
        "shipped",
        {"succession_effective_on": ["1991-10-08", "1991-10-06"]},
    )
