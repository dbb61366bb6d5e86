"""The change feed against the NDJSON export, and write throughput under the stamping lock.

    uv run python -m bench.sync_bench --database-url URL [--writers 8] [--write-seconds 20]

On a database made by `bench.generate` (100,000 activities, 2,000 partners, 20,000 reports), with
`workplan serve` (one worker) on it:

1. the time of a full NDJSON export of the activities (`GET /v1/activities?format=ndjson`), and
2. the time of a full initial sync of the activities through `GET /v1/changes?types=activity`
   in pages of 1,000, following `next_cursor` until `has_more` is false;

and prints their ratio (target: the sync under 2x the export). Then, on PostgreSQL or SQLite alike,
`--writers` clients POST new activities for `--write-seconds` and it prints writes per second: every
write transaction takes the single change counter row, so writers queue from their first write to
their commit. The same writers with one client give the uncontended rate for comparison.

Writes add rows to the database (codes BENCH-W-...); regenerate it for a clean run.
"""

import argparse
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from bench.run import make_key, server, service_env

EXPORT = "/v1/activities?format=ndjson"


def timed_export(base: str) -> tuple[float, int]:
    lines = 0
    started = time.perf_counter()
    with httpx.stream("GET", base + EXPORT, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            lines += chunk.count(b"\n")
    return time.perf_counter() - started, lines


def timed_sync(base: str) -> tuple[float, int, int]:
    items = pages = 0
    cursor = None
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=600) as client:
        while True:
            params: dict[str, str | int] = {"types": "activity", "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            page = client.get("/v1/changes", params=params).raise_for_status().json()
            items += len(page["items"])
            pages += 1
            cursor = page["next_cursor"]
            if not page["has_more"]:
                return time.perf_counter() - started, items, pages


def write_rate(
    base: str, headers: dict[str, str], objective_id: str, writers: int, seconds: float, tag: str
) -> tuple[float, int]:
    stop = threading.Event()
    errors = []

    def writer(n: int) -> int:
        done = 0
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            while not stop.is_set():
                body = {
                    "objective_id": objective_id,
                    "code": f"BENCH-W-{tag}-{n}-{done}",
                    "title": "Bench write",
                    "type": "meeting",
                }
                response = client.post("/v1/activities", json=body)
                if response.status_code != 201:
                    errors.append(response.status_code)
                done += 1
        return done

    with ThreadPoolExecutor(max_workers=writers) as pool:
        futures = [pool.submit(writer, n) for n in range(writers)]
        started = time.perf_counter()
        time.sleep(seconds)
        stop.set()
        total = sum(f.result() for f in futures)
        elapsed = time.perf_counter() - started
    return total / elapsed, len(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--write-seconds", type=float, default=20.0)
    args = parser.parse_args()
    env = service_env(args.database_url)
    bin_dir = Path(sys.executable).parent
    workplan = str(bin_dir / "workplan")
    subprocess.run([workplan, "db", "upgrade"], env=env, check=True, capture_output=True)  # noqa: S603
    headers = make_key(workplan, env, "bench", "editor")
    command = [workplan, "serve", "--workers", "1"]
    with server(command, env, "/readyz") as (base, _pid):
        export_s, exported = timed_export(base)
        sync_s, synced, pages = timed_sync(base)
        objective_id = httpx.get(base + "/v1/objectives?limit=1").json()["items"][0]["id"]
        tag = str(int(time.time()))
        single, single_errors = write_rate(base, headers, objective_id, 1, args.write_seconds / 2, tag + "s")
        many, many_errors = write_rate(base, headers, objective_id, args.writers, args.write_seconds, tag + "m")
    result = {
        "database": args.database_url.split(":")[0],
        "export_seconds": round(export_s, 2),
        "exported": exported,
        "sync_seconds": round(sync_s, 2),
        "synced": synced,
        "sync_pages": pages,
        "sync_over_export": round(sync_s / export_s, 2),
        "writes_per_second_1_writer": round(single, 1),
        f"writes_per_second_{args.writers}_writers": round(many, 1),
        "write_errors": single_errors + many_errors,
    }
    print(json.dumps(result, indent=2))
    target = "met" if result["sync_over_export"] < 2 else "NOT met"
    print(f"initial sync / export = {result['sync_over_export']} (target < 2: {target})")


if __name__ == "__main__":
    main()
