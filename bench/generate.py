"""Build a benchmark database: 1 work plan, 6 objectives, 2,000 partners, 20,000 reports, 100,000 activities.

    uv run python -m bench.generate --database-url sqlite:///bench/workplan_bench.db
    uv run python -m bench.generate --database-url postgresql+psycopg://postgres@127.0.0.1:5432/workplan_bench

The database is recreated, migrated by the real migrations, then filled with Core bulk inserts.
A fixed seed makes every run produce the same rows, ids included.
"""

import argparse
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pycountry
from alembic import command
from sqlalchemy import Connection, Table, make_url, text
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table on the metadata)
from app.db import create_db_engine
from app.migrations import alembic_config
from app.vocabularies import (
    ActivityLevel,
    ActivityStatus,
    ActivityType,
    Instrument,
    ParticipantRole,
    PartnerKind,
    ReportKind,
    ReportStatus,
)

SEED = 2003
PARTNERS = 2_000
REPORTS = 20_000
ACTIVITIES = 100_000
OBJECTIVES = 6
BATCH = 5_000
EPOCH = datetime(2003, 1, 1, tzinfo=UTC)
SPAN_SECONDS = int((datetime(2026, 11, 1, tzinfo=UTC) - EPOCH).total_seconds())
COUNTRIES = sorted(country.alpha_3 for country in pycountry.countries)

# Weights chosen so that `status=planned` alone spans several hundred pages of 50.
STATUS_WEIGHTS = {
    ActivityStatus.PLANNED: 35,
    ActivityStatus.IN_PROGRESS: 25,
    ActivityStatus.COMPLETED: 30,
    ActivityStatus.CANCELLED: 5,
    ActivityStatus.SUSPENDED: 5,
}
VERBS = ["Monitor", "Analyse", "Report on", "Advocate against", "Document", "Research", "Raise awareness of", "Review"]
SUBJECTS = [
    "sexual exploitation of children",
    "trafficking of children",
    "violence against children",
    "child sex tourism",
    "online exploitation",
    "child pornography",
    "sale of children",
    "early and forced marriage",
    "child labour and exploitation",
    "commercial sexual exploitation",
]
SETTINGS = [
    "before the Committee",
    "in government reports",
    "with national partners",
    "at the regional level",
    "with the Special Rapporteur",
    "in the periodic report",
    "for the Committee session",
    "through the Focal Point",
]
FILLER_TEXT = (
    "The subgroup will follow the State party report and the concluding observations of the Committee, "
    "gather evidence from national coalitions on violence, exploitation and trafficking, and prepare an "
    "alternative report with recommendations on prevention, protection, prosecution and recovery."
)
FILLER = FILLER_TEXT.split()


def new_id(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def moment(rng: random.Random, start: datetime = EPOCH) -> datetime:
    span = max(1, SPAN_SECONDS - int((start - EPOCH).total_seconds()))
    return start + timedelta(seconds=rng.randrange(span), milliseconds=rng.randrange(1000))


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(FILLER) for _ in range(words)).capitalize() + "."


def recreate(url: str) -> None:
    """A new empty database at `url`: the SQLite files removed, or the PostgreSQL database dropped
    and created (only one named workplan_bench* or workplan_*_bench, so no other database is ever dropped)."""
    target = make_url(url)
    if target.get_backend_name() == "sqlite":
        path = Path(target.database or "")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    name = target.database or ""
    if not (name.startswith("workplan_bench") or (name.startswith("workplan_") and name.endswith("_bench"))):
        raise SystemExit(
            f"Refusing to drop '{name}': benchmark databases are named workplan_bench* or workplan_*_bench."
        )
    admin = create_db_engine(target.set(database="postgres").render_as_string(hide_password=False), pool_size=1)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def migrate(url: str) -> None:
    config = alembic_config(url)
    config.attributes["configure_logger"] = False
    command.upgrade(config, "head")


def batches(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def insert(connection: Connection, name: str, rows: Sequence[dict[str, Any]]) -> None:
    table: Table = SQLModel.metadata.tables[name]
    for chunk in batches(rows):
        connection.execute(table.insert(), list(chunk))


def record(rng: random.Random) -> dict[str, Any]:
    created = moment(rng)
    return {"id": new_id(rng), "version": 1, "created_at": created, "updated_at": created, "deleted_at": None}


def plan_and_objectives(rng: random.Random) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    plan = record(rng) | {
        "code": "BENCH",
        "title": "Benchmark work plan",
        "group_name": "Subgroup against the Sexual Exploitation of Children",
        "period_start": date(2003, 1, 1),
        "period_end": date(2026, 12, 31),
        "status": "adopted",
        "description": "Generated by bench/generate.py.",
    }
    objectives = [
        record(rng)
        | {
            "work_plan_id": plan["id"],
            "code": str(n),
            "title": f"Objective {n}: {SUBJECTS[n]}",
            "description": sentence(rng, 25),
            "position": n,
        }
        for n in range(1, OBJECTIVES + 1)
    ]
    return plan, objectives


def partners(rng: random.Random) -> list[dict[str, Any]]:
    kinds = list(PartnerKind)
    return [
        record(rng)
        | {
            "name": f"Coalition against {rng.choice(SUBJECTS)} no. {n}",
            "acronym": f"CA{n}",
            "kind": rng.choice(kinds).value,
            "country": rng.choice(COUNTRIES),
            "website": f"https://partner{n}.example.org",
            "description": sentence(rng, 20),
            "active_from": date(1990 + rng.randrange(30), 1, 1),
            "active_to": None,
            "mandate_holder": None,
            "contact_name": f"Contact {n}",
            "contact_email": f"contact{n}@example.org",
            "notes": None,
        }
        for n in range(PARTNERS)
    ]


def reports(rng: random.Random) -> list[dict[str, Any]]:
    instruments, kinds, statuses = list(Instrument), list(ReportKind), list(ReportStatus)
    rows = []
    for n in range(REPORTS):
        country, instrument = rng.choice(COUNTRIES), rng.choice(instruments)
        cycle = rng.randrange(1, 7)
        due = date(1995, 1, 1) + timedelta(days=rng.randrange(11_000))
        rows.append(
            record(rng)
            | {
                "country": country,
                "instrument": instrument.value,
                "kind": rng.choice(kinds).value,
                "cycle_from": cycle,
                "cycle_to": cycle + rng.randrange(2),
                "symbol": f"CRC/C/{instrument.value}/{country}/{cycle}/{n}",
                "due_date": due,
                "submitted_date": due + timedelta(days=rng.randrange(400)),
                "committee_session": rng.randrange(1, 100),
                "review_date": None,
                "concluding_observations_symbol": None,
                "concluding_observations_date": None,
                "status": rng.choice(statuses).value,
                "analysis": sentence(rng, 30),
                "notes": None,
            }
        )
    return rows


def activities(
    rng: random.Random,
    plan: dict[str, Any],
    objectives: list[dict[str, Any]],
    partner_ids: list[uuid.UUID],
    report_ids: list[uuid.UUID],
) -> tuple[list[dict[str, Any]], ...]:
    statuses, weights = [s.value for s in STATUS_WEIGHTS], list(STATUS_WEIGHTS.values())
    types, roles = [t.value for t in ActivityType], [r.value for r in ParticipantRole]
    levels: list[str | None] = [level.value for level in ActivityLevel] + [None]
    rows, participants, countries, links = [], [], [], []
    for n in range(ACTIVITIES):
        row = record(rng)
        row["updated_at"] = moment(rng, row["created_at"])
        start = date(2003, 1, 1) + timedelta(days=rng.randrange(8_500))
        objective = rng.choice(objectives)
        subject = rng.choice(SUBJECTS)
        rows.append(
            row
            | {
                "objective_id": objective["id"],
                "work_plan_id": plan["id"],
                "code": f"SEC-{objective['code']}.{n:06d}",
                "title": f"{rng.choice(VERBS)} {subject} {rng.choice(SETTINGS)}",
                "description": f"{sentence(rng, rng.randrange(15, 60))} Focus: {subject}.",
                "status": rng.choices(statuses, weights)[0],
                "type": rng.choice(types),
                "level": rng.choice(levels),
                "planned_start": start,
                "planned_end": start + timedelta(days=rng.randrange(30, 400)),
                "actual_start": None,
                "actual_end": None,
            }
        )
        for position, partner_id in enumerate(rng.sample(partner_ids, rng.randrange(1, 4))):
            role = rng.choice(roles)
            participants.append(
                {"activity_id": row["id"], "partner_id": partner_id, "role": role, "position": position}
            )
        countries += [{"activity_id": row["id"], "country": c} for c in rng.sample(COUNTRIES, rng.randrange(4))]
        links += [
            {"activity_id": row["id"], "government_report_id": r} for r in rng.sample(report_ids, rng.randrange(3))
        ]
    return rows, participants, countries, links


def fill(url: str) -> dict[str, int]:
    rng = random.Random(SEED)  # noqa: S311 (reproducible data, not secrets)
    plan, objectives = plan_and_objectives(rng)
    partner_rows = partners(rng)
    report_rows = reports(rng)
    activity_rows, participant_rows, country_rows, link_rows = activities(
        rng, plan, objectives, [row["id"] for row in partner_rows], [row["id"] for row in report_rows]
    )
    tables = [
        ("work_plan", [plan]),
        ("objective", objectives),
        ("partner", partner_rows),
        ("government_report", report_rows),
        ("activity", activity_rows),
        ("activity_participant", participant_rows),
        ("activity_country", country_rows),
        ("activity_government_report", link_rows),
    ]
    engine = create_db_engine(url, pool_size=1)
    with engine.begin() as connection:
        for name, rows in tables:
            insert(connection, name, rows)
    # Fresh statistics, so both databases plan the queries as they would after autovacuum.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))
    engine.dispose()
    return {name: len(rows) for name, rows in tables}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url", required=True, help="A SQLite file, or a PostgreSQL database workplan_bench*."
    )
    args = parser.parse_args()
    started = time.perf_counter()
    recreate(args.database_url)
    migrate(args.database_url)
    counts = fill(args.database_url)
    summary = ", ".join(f"{count:,} {name}" for name, count in counts.items())
    print(f"{summary} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
