"""The /reports pages on every State party's ratifications: how long a coordinator waits.

    uv run python -m bench.reports_bench --database-url sqlite:///bench/data/workplan_bench_reports.db
    uv run python -m bench.reports_bench \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/workplan_bench_reports

Runs `workplan db upgrade` and `workplan seed` (an existing database is kept: nothing is dropped),
so it holds what `make run` shows: the 547 shipped ratifications (196 States: CRC, OPSC, OPAC).
Then it starts `workplan serve` (one worker) on it, and times, `--repeat` times each after a
warm-up:

1. `GET /reports`: every State's calendar, shown as the table of the default window (the past
   year and the next two, as of today);
2. `GET /reports/{--state}`: one State's whole timeline;
3. `GET /v1/reporting-calendar?due_from=...&due_to=...`: the same window's items as JSON, for scale.

It prints the median and the spread of each, and the size of each page. Target: `/reports` under
0.3 s on this machine (an absolute figure, which issue 18 asks for; the ratio to the JSON of the
same window is printed beside it, as the steadier number on a shared machine).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, make_url, select

from app.db import create_db_engine
from app.models.ratifications import Ratification
from bench.run import server, service_env


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
    args = parser.parse_args()
    url = make_url(args.database_url)
    if url.get_backend_name() == "sqlite":
        Path(url.database or "").parent.mkdir(parents=True, exist_ok=True)
    env = service_env(args.database_url)
    workplan = str(Path(sys.executable).parent / "workplan")
    # The data `make run` shows: the 2003 plan and the shipped ratifications, loaded by their own rules.
    for command in (["db", "upgrade"], ["seed"]):
        subprocess.run([workplan, *command], env=env, check=True, capture_output=True)  # noqa: S603
    engine = create_db_engine(args.database_url, pool_size=1)
    with engine.connect() as connection:
        counts = {"ratifications": connection.execute(select(func.count()).select_from(Ratification)).scalar_one()}
    engine.dispose()
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
