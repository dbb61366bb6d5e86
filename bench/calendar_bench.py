"""The reporting calendar against a list of as many report records, in the same run.

    uv run python -m bench.calendar_bench --database-url sqlite:///bench/data/workplan_bench_calendar.db
    uv run python -m bench.calendar_bench \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/workplan_bench_calendar

Recreates the database (PostgreSQL: only one named workplan_bench*), fills it with the synthetic
data of `workplan demo` for 196 States and the three instruments over 35 years (1990-09-02 to
2025-09-02), starts `workplan serve` (one worker) on it, and times, `--repeat` times each:

1. `GET /v1/reporting-calendar?as_of=2025-09-02`: every expected report of every State, and
2. `GET /v1/government-reports?format=ndjson`: every report record, streamed whole;

then prints the median of each and their ratio (target: the calendar under 3x the list). The
calendar has more items than there are records (combined reports cover several cycles; cycles not
yet reported have no record), so the ratio is, if anything, harsher than "the same number".
"""

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table on the metadata)
from app.calendar.demo import demo_countries, generate
from app.db import create_db_engine
from bench.generate import migrate, recreate
from bench.run import server, service_env

AS_OF = date(2025, 9, 2)
STATES = 196
CALENDAR = f"/v1/reporting-calendar?as_of={AS_OF.isoformat()}"
LIST = "/v1/government-reports?format=ndjson"


def fill(engine: Engine) -> dict[str, int]:
    """Insert the demo's ratifications and reports in bulk (validated by their Create models)."""
    rng = random.Random(35)  # noqa: S311 - synthetic data
    stamp = datetime(2025, 9, 2, tzinfo=UTC)
    ratifications: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    articles: list[dict[str, Any]] = []
    for state in generate(rng, demo_countries(STATES), AS_OF, every_instrument=True):
        for ratification in state.ratifications:
            ratifications.append(_record(ratification.model_dump(), stamp))
        for report in state.reports:
            row = _record(report.model_dump(exclude={"articles", "monitored_by"}), stamp)
            reports.append(row)
            articles += [
                {
                    "government_report_id": row["id"],
                    "instrument": a.instrument.value,
                    "article": a.article,
                    "assessment": a.assessment.value,
                    "note": None,
                    "position": i,
                }
                for i, a in enumerate(report.articles)
            ]
    tables = SQLModel.metadata.tables
    with engine.begin() as connection:
        for name, rows in (
            ("ratification", ratifications),
            ("government_report", reports),
            ("report_article", articles),
        ):
            for start in range(0, len(rows), 2000):
                connection.execute(tables[name].insert(), rows[start : start + 2000])
    return {"ratifications": len(ratifications), "reports": len(reports), "articles": len(articles)}


def _record(values: dict[str, Any], stamp: datetime) -> dict[str, Any]:
    return {**values, "id": uuid.uuid4(), "version": 1, "created_at": stamp, "updated_at": stamp, "deleted_at": None}


def timed(client: httpx.Client, url: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get(url, timeout=600)
    response.raise_for_status()
    elapsed = time.perf_counter() - started
    if url.endswith("ndjson"):
        return elapsed, response.content.count(b"\n")
    return elapsed, len(response.json()["items"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    recreate(args.database_url)
    migrate(args.database_url)
    engine = create_db_engine(args.database_url, pool_size=1)
    started = time.perf_counter()
    counts = fill(engine)
    engine.dispose()
    print(f"filled in {time.perf_counter() - started:.1f} s: {counts}")
    env = service_env(args.database_url)
    workplan = str(Path(sys.executable).parent / "workplan")
    subprocess.run([workplan, "db", "upgrade"], env=env, check=True, capture_output=True)  # noqa: S603
    calendar_times, list_times = [], []
    with server([workplan, "serve", "--workers", "1"], env, "/readyz") as (base, _pid), httpx.Client() as client:
        timed(client, base + CALENDAR)  # warm-up: imports, plans, caches
        timed(client, base + LIST)
        for _ in range(args.repeat):
            seconds, items = timed(client, base + CALENDAR)
            calendar_times.append(seconds)
            seconds, listed = timed(client, base + LIST)
            list_times.append(seconds)
    calendar_s, list_s = statistics.median(calendar_times), statistics.median(list_times)
    result = {
        "database": args.database_url.split(":")[0],
        **counts,
        "calendar_items": items,
        "listed_reports": listed,
        "calendar_seconds": round(calendar_s, 3),
        "list_seconds": round(list_s, 3),
        "calendar_over_list": round(calendar_s / list_s, 2),
    }
    print(json.dumps(result, indent=2))
    target = "met" if result["calendar_over_list"] < 3 else "NOT met"
    print(f"calendar / list of the reports = {result['calendar_over_list']} (target < 3: {target})")


if __name__ == "__main__":
    main()
