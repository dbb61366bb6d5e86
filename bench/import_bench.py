"""`workplan import` against a bare Core `executemany` of the same rows, and its memory.

    uv run python -m bench.import_bench --database-url URL [--rows 100000]

Without `--database-url`, SQLite files in a temporary directory. A PostgreSQL URL names a database
that is dropped and created again, with `_baseline` and `_quarter` siblings beside it. Every
database is migrated and seeded with the 2003 plan; the file holds N new activities in the export
format, each with countries and participants. The goal (issue): import < 3x the baseline, with
memory that does not grow with the file, which the N/4 import shows.

Each phase runs in a fresh process: `ru_maxrss` is a high-water mark, so a phase that follows
another one in the same process would hide its own growth below the earlier peak.
"""

import argparse
import json
import random
import resource
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Engine, insert, make_url, text
from sqlmodel import Session, SQLModel, select

import app.models  # noqa: F401  (every table on the metadata)
from app.db import create_db_engine, write_engine
from app.migrations import alembic_config
from app.models.activities import Activity, ActivityCountry, ActivityParticipant
from app.models.objectives import Objective
from app.models.partners import Partner
from app.seed.service import load_seed
from app.transfer import export_records, import_records
from app.vocabularies import ActivityLevel, ActivityStatus, ActivityType, ParticipantRole
from bench.generate import recreate

COUNTRIES = ("KEN", "FRA", "MEX", "URY", "THA", "PHL", "BRA", "IND", "ZAF", "SWE", "CAN", "JPN")
TIMESTAMP = "2024-03-04T05:06:07.890Z"


@dataclass(frozen=True)
class Measure:
    seconds: float
    rss_growth_mib: float
    note: str = ""


def prepare_database(url: str) -> None:
    """Recreated, migrated to head and seeded with the 2003 plan."""
    recreate(url)
    engine = create_db_engine(url, pool_size=1)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["configure_logger"] = False
        command.upgrade(config, "head")
    with Session(write_engine(engine)) as session, session.begin():
        load_seed(session)
    engine.dispose()


def sibling(url: str, suffix: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        assert parsed.database
        stem = Path(parsed.database)
        return parsed.set(database=str(stem.with_name(f"{stem.stem}{suffix}{stem.suffix}"))).render_as_string(False)
    return parsed.set(database=f"{parsed.database}{suffix}").render_as_string(hide_password=False)


def write_activities(url: str, path: Path, rows: int) -> None:
    """`rows` new activities, one NDJSON line each, as `workplan export` writes them."""
    engine = create_db_engine(url, pool_size=1)
    with Session(engine) as session:
        objectives = [(str(o.id), str(o.work_plan_id)) for o in session.exec(select(Objective)).all()]
        partners = [str(p.id) for p in session.exec(select(Partner)).all()]
    engine.dispose()
    rng = random.Random(2003)  # noqa: S311  (test data, not secrets)
    with path.open("w", encoding="utf-8") as out:
        for n in range(rows):
            objective_id, work_plan_id = objectives[n % len(objectives)]
            start = date(2003, 1 + n % 12, 1 + n % 28)
            data = {
                "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "version": 1,
                "created_at": TIMESTAMP,
                "updated_at": TIMESTAMP,
                "objective_id": objective_id,
                "code": f"BENCH-{n:07d}",
                "title": f"Benchmark activity {n}",
                "description": "Monitoring of government reports, through the Focal Point and subgroup members.",
                "status": rng.choice(list(ActivityStatus)).value,
                "type": rng.choice(list(ActivityType)).value,
                "level": rng.choice(list(ActivityLevel)).value,
                "countries": sorted(rng.sample(COUNTRIES, 2)),
                "planned_start": start.isoformat(),
                "planned_end": date(2003, 12, 31).isoformat(),
                "actual_start": None,
                "actual_end": None,
                "participants": [
                    {"partner_id": partner, "role": rng.choice(list(ParticipantRole)).value}
                    for partner in rng.sample(partners, 2)
                ],
                "government_report_ids": [],
                "work_plan_id": work_plan_id,
            }
            out.write(json.dumps({"type": "activity", "data": data}, ensure_ascii=False) + "\n")


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _plain_rows(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The file's rows as the Core tables take them: typed values, no validation."""
    rows: dict[str, list[dict[str, Any]]] = {"activity": [], "activity_country": [], "activity_participant": []}
    stamp = datetime.fromisoformat(TIMESTAMP)
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            data = json.loads(line)["data"]
            record_id = uuid.UUID(data["id"])
            rows["activity"].append(
                {
                    "id": record_id,
                    "version": data["version"],
                    "created_at": stamp,
                    "updated_at": stamp,
                    "deleted_at": None,
                    "objective_id": uuid.UUID(data["objective_id"]),
                    "work_plan_id": uuid.UUID(data["work_plan_id"]),
                    "code": data["code"],
                    "title": data["title"],
                    "description": data["description"],
                    "status": data["status"],
                    "type": data["type"],
                    "level": data["level"],
                    "planned_start": date.fromisoformat(data["planned_start"]),
                    "planned_end": date.fromisoformat(data["planned_end"]),
                    "actual_start": None,
                    "actual_end": None,
                }
            )
            rows["activity_country"] += [{"activity_id": record_id, "country": c} for c in data["countries"]]
            rows["activity_participant"] += [
                {"activity_id": record_id, "partner_id": uuid.UUID(p["partner_id"]), "role": p["role"], "position": i}
                for i, p in enumerate(data["participants"])
            ]
    return rows


def _warm_engine(url: str) -> Engine:
    engine = create_db_engine(url, pool_size=1)
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return engine


def run_baseline(url: str, path: Path) -> Measure:
    engine = _warm_engine(url)
    rows = _plain_rows(path)
    tables = SQLModel.metadata.tables
    before = _rss_mib()
    start = time.perf_counter()
    with write_engine(engine).begin() as connection:
        for table in (Activity, ActivityCountry, ActivityParticipant):
            name = str(table.__tablename__)
            connection.execute(insert(tables[name]), rows[name])
    seconds = time.perf_counter() - start
    engine.dispose()
    return Measure(seconds, _rss_mib() - before, "rows held in memory beforehand")


def run_import(url: str, path: Path) -> Measure:
    engine = _warm_engine(url)
    before = _rss_mib()
    start = time.perf_counter()
    with Session(write_engine(engine)) as session, session.begin():
        report = import_records(session, path)
    seconds = time.perf_counter() - start
    engine.dispose()
    counts = report.counts["activities"]
    return Measure(seconds, _rss_mib() - before, f"{counts.created} created, {counts.unchanged} unchanged")


def run_export(url: str, path: Path) -> Measure:
    engine = _warm_engine(url)
    before = _rss_mib()
    start = time.perf_counter()
    with Session(engine) as session, session.begin(), path.open("w", encoding="utf-8") as out:
        written = export_records(session, ["activities"], "ndjson", out)
    seconds = time.perf_counter() - start
    engine.dispose()
    return Measure(seconds, _rss_mib() - before, f"{written} written")


def in_fresh_process(phase: Callable[[str, Path], Measure], url: str, path: Path) -> Measure:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(phase, url, path).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="PostgreSQL or SQLite URL; SQLite in a temporary directory if omitted.")
    parser.add_argument("--rows", type=int, default=100_000, help="Activities in the file (default 100000).")
    args = parser.parse_args()
    rows: int = args.rows
    with tempfile.TemporaryDirectory(prefix="workplan-bench-") as tmp:
        directory = Path(tmp)
        url: str = args.database_url or f"sqlite:///{directory / 'bench.db'}"
        baseline_url, quarter_url = sibling(url, "_baseline"), sibling(url, "_quarter")
        for each in (url, baseline_url, quarter_url):
            prepare_database(each)
        full, quarter = directory / "activities.ndjson", directory / "quarter.ndjson"
        write_activities(url, full, rows)
        write_activities(url, quarter, rows // 4)

        baseline = in_fresh_process(run_baseline, baseline_url, full)
        results = [
            (f"baseline: Core executemany of {rows}", baseline),
            (f"import {rows} new", in_fresh_process(run_import, url, full)),
            (f"import {rows // 4} new", in_fresh_process(run_import, quarter_url, quarter)),
            (f"re-import {rows} unchanged", in_fresh_process(run_import, url, full)),
            ("export activities (ndjson)", in_fresh_process(run_export, url, directory / "export.ndjson")),
        ]
        print(f"\n{make_url(url).get_backend_name()}, {rows} activities (2 countries, 2 participants each)\n")
        print(f"{'phase':<36} {'seconds':>8} {'x baseline':>10} {'peak RSS growth':>16}  note")
        for name, measure in results:
            ratio = measure.seconds / baseline.seconds
            growth = f"{measure.rss_growth_mib:.0f} MiB"
            print(f"{name:<36} {measure.seconds:>8.2f} {ratio:>10.2f} {growth:>16}  {measure.note}")
        if not args.database_url:
            return
        for each in (baseline_url, quarter_url):
            recreate(each)  # leave no 100k-row siblings behind


if __name__ == "__main__":
    main()
