"""The /reports pages on every State party's ratifications: how long a coordinator waits.

    uv run python -m bench.reports_bench --database-url sqlite:///bench/data/workplan_bench_reports.db
    uv run python -m bench.reports_bench \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/workplan_bench_reports

Migrates the database to head (an existing one is kept: nothing is dropped), adds each
ratification of ../shared/data/untc-ratifications.csv (196 States: CRC, OPSC, OPAC) that it does not
hold yet, starts `workplan serve` (one worker) on it, and times, `--repeat` times each after a
warm-up:

1. `GET /reports`: every State's calendar, shown as the table of the default window (the past
   year and the next two, as of today);
2. `GET /reports/{--state}`: one State's whole timeline;
3. `GET /v1/reporting-calendar?due_from=...&due_to=...`: the same window's items as JSON, for scale.

It prints the median and the spread of each, and the size of each page. Target: `/reports` under
0.3 s on this machine (an absolute figure, which issue 18 asks for; the ratio to the JSON of the
same window is printed beside it, as the steadier number on a shared machine).

The CSV is reference data with its provenance; the bench only needs dates, so a disputed cell
(two values separated by `;`) takes its first value here, the Netherlands' "acceptance" is recorded
as a ratification, and a succession keeps its deposit date (the rules compute from it).
"""

import argparse
import csv
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
from dateutil.relativedelta import relativedelta
from sqlalchemy import Engine, make_url, select
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table on the metadata)
from app.db import create_db_engine
from bench.generate import migrate
from bench.run import server

ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the repository (a worktree one level deeper finds it one level up).
CSV = next(
    (
        p / "shared/data/untc-ratifications.csv"
        for p in ROOT.parents
        if (p / "shared/data/untc-ratifications.csv").exists()
    ),
    ROOT.parent / "shared/data/untc-ratifications.csv",
)


def first(cell: str) -> str:
    return cell.split(";")[0].strip()


def fill(engine: Engine, path: Path) -> dict[str, int]:
    """Insert the shipped ratifications the database lacks (by country and instrument)."""
    table = SQLModel.metadata.tables["ratification"]
    stamp = datetime.now(UTC)
    with engine.begin() as connection:
        held = {
            (country, instrument)
            for country, instrument in connection.execute(
                select(table.c.country, table.c.instrument).where(table.c.deleted_at.is_(None))
            )
        }
        rows: list[dict[str, Any]] = []
        with path.open(newline="", encoding="utf-8") as file:
            for record in csv.DictReader(file):
                if (record["country"], record["instrument"]) in held:
                    continue
                action = first(record["action"])
                rows.append(
                    {
                        "id": uuid.uuid4(),
                        "version": 1,
                        "created_at": stamp,
                        "updated_at": stamp,
                        "deleted_at": None,
                        "country": record["country"],
                        "instrument": record["instrument"],
                        "action": "ratification" if action == "acceptance" else action,
                        "deposited_on": date.fromisoformat(first(record["deposited_on"])),
                        "entry_into_force_override": None,
                        "reservations": None,
                        "source": "UN Treaty Collection (bench copy of untc-ratifications.csv)",
                    }
                )
        if rows:
            connection.execute(table.insert(), rows)
        total = connection.execute(select(table.c.id).where(table.c.deleted_at.is_(None))).all()
    return {"added": len(rows), "ratifications": len(total)}


def timed(client: httpx.Client, url: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get(url, timeout=600)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"{url} answered {response.status_code}: {response.text[:500]}")
    return elapsed, len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--state", default="MEX", help="The State whose page is timed (alpha-3).")
    parser.add_argument("--csv", type=Path, default=CSV)
    args = parser.parse_args()
    url = make_url(args.database_url)
    if url.get_backend_name() == "sqlite":
        Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
    migrate(args.database_url)
    engine = create_db_engine(args.database_url, pool_size=1)
    counts = fill(engine, args.csv)
    engine.dispose()
    print(f"ratifications: {counts}")
    env = {
        **os.environ,
        "WORKPLAN_DATABASE_URL": args.database_url,
        "WORKPLAN_SECRET_KEY": "bench",
        "WORKPLAN_RATE_LIMIT_PER_MINUTE": "0",
        "WORKPLAN_ANONYMOUS_RATE_LIMIT_PER_MINUTE": "0",
    }
    workplan = str(Path(sys.executable).parent / "workplan")
    today = datetime.now(UTC).date()
    window = f"due_from={today - relativedelta(years=1)}&due_to={today + relativedelta(years=2)}"
    urls = {
        "reports": "/reports",
        "state": f"/reports/{args.state}",
        "calendar_json": f"/v1/reporting-calendar?{window}",
    }
    times: dict[str, list[float]] = {name: [] for name in urls}
    sizes: dict[str, int] = {}
    with server([workplan, "serve", "--workers", "1"], env, "/readyz") as (base, _pid), httpx.Client() as client:
        for path in urls.values():
            timed(client, base + path)  # warm-up: imports, templates, plans, caches
        for _ in range(args.repeat):
            for name, path in urls.items():
                seconds, sizes[name] = timed(client, base + path)
                times[name].append(seconds)
    result: dict[str, Any] = {
        "database": args.database_url.split(":")[0],
        **counts,
        "repeat": args.repeat,
        "load_average": os.getloadavg()[0],
    }
    for name in urls:
        result[name] = {
            "url": urls[name],
            "median_s": round(statistics.median(times[name]), 4),
            "min_s": round(min(times[name]), 4),
            "max_s": round(max(times[name]), 4),
            "bytes": sizes[name],
        }
    result["reports_over_json"] = round(result["reports"]["median_s"] / result["calendar_json"]["median_s"], 2)
    print(json.dumps(result, indent=2))
    target = "met" if result["reports"]["median_s"] < 0.3 else "NOT met"
    print(f"/reports median {result['reports']['median_s']} s (target < 0.3 s: {target})")


if __name__ == "__main__":
    main()
