"""The cost of one write in process: SQL statements, CPU and wall time per POST and per PATCH.

    <checkout>/.venv/bin/python bench/write_cost.py --database-url URL --key KEY [--writes 300]

Run this file with each checkout's own Python (which imports that checkout's `app`) to compare two
versions of the app
(`bench.write_bench` compares their throughput under load; this counts what each write does,
which a busy machine does not blur: statements per write are exact, CPU time nearly so). One
client, the app in process (FastAPI's TestClient, the real lifespan and key check): after 20
writes to warm up, `--writes` POSTs of new activities, then as many PATCHes of one activity, each
sending as If-Match the ETag of the previous answer. The database must be migrated and seeded;
KEY is an editor key (`workplan keys create --role editor --quiet`). Prints one JSON line.
"""

import argparse
import json
import os
import statistics
import time
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--writes", type=int, default=300)
    args = parser.parse_args()
    os.environ.update(
        {
            "WORKPLAN_DATABASE_URL": args.database_url,
            "WORKPLAN_SECRET_KEY": "bench",
            "WORKPLAN_RATE_LIMIT_PER_MINUTE": "0",
            "WORKPLAN_ANONYMOUS_RATE_LIMIT_PER_MINUTE": "0",
        }
    )
    # Imported once the settings are in the environment.
    from fastapi.testclient import TestClient
    from sqlalchemy import Engine, event

    from app.main import app

    statements: list[str] = []
    event.listen(Engine, "before_cursor_execute", lambda *call: statements.append(call[2]))
    tag = str(time.time_ns())
    result: dict[str, Any] = {}
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {args.key}"
        objective_id = client.get("/v1/objectives?limit=1").json()["items"][0]["id"]
        body = {"objective_id": objective_id, "title": "Bench write", "type": "meeting"}
        for n in range(20):
            client.post("/v1/activities", json={**body, "code": f"BENCH-WC-{tag}-w{n}"}).raise_for_status()
        made = client.post("/v1/activities", json={**body, "code": f"BENCH-WC-{tag}-p"}).raise_for_status()
        url, etag = made.headers["location"], made.headers["etag"]
        for scenario in ("POST", "PATCH"):
            statements.clear()
            wall, cpu = [], []
            for n in range(args.writes):
                started, started_cpu = time.perf_counter(), time.process_time()
                if scenario == "POST":
                    client.post("/v1/activities", json={**body, "code": f"BENCH-WC-{tag}-{n}"}).raise_for_status()
                else:
                    answer = client.patch(url, json={"description": f"Change {n}"}, headers={"If-Match": etag})
                    etag = answer.raise_for_status().headers["etag"]
                wall.append(time.perf_counter() - started)
                cpu.append(time.process_time() - started_cpu)
            result[scenario] = {
                "statements_per_write": round(len(statements) / args.writes, 2),
                "mean_cpu_ms": round(1000 * statistics.mean(cpu), 2),
                "median_wall_ms": round(1000 * statistics.median(wall), 2),
            }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
