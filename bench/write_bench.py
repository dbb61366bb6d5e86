"""Writes per second (POST, and PATCH under If-Match) of two checkouts, side by side.

    uv run python -m bench.write_bench --database-url URL \\
        [--against /path/to/other/checkout/.venv/bin/workplan] [--clients 4] [--seconds 8] [--rounds 3]

Each round serves the database with `workplan serve` (one worker, rate limits off) from this
checkout and, with `--against`, from the other one, in turn (so drift in the machine's load falls
on both alike), and measures for `--seconds` each:

- POST: `--clients` clients create activities (`POST /v1/activities`) one after another;
- PATCH: each client changes its own activity (`PATCH /v1/activities/{id}`), sending as If-Match
  the ETag of its previous answer, as a client that edits a record it has just read does.

It prints writes per second per server and round, their medians, and the other checkout's over
this one's (the "ratio"). The database must exist: it is migrated to head and seeded (`workplan
seed` changes nothing the second time), and it grows by the activities the rounds create (codes
BENCH-WB-...). Both checkouts must share the schema (the same migrations).
"""

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.run import make_key, server, service_env

SCENARIOS = ("POST", "PATCH")


def drive(
    base: str, headers: dict[str, str], objective_id: str, clients: int, seconds: float, tag: str
) -> dict[str, Any]:
    """Writes per second of each scenario, with `clients` clients each writing one request at a time."""
    figures: dict[str, Any] = {}
    body = {"objective_id": objective_id, "title": "Bench write", "type": "meeting"}
    for scenario in SCENARIOS:
        ready = threading.Barrier(clients + 1)  # set-up (the PATCH clients' own activity) is not timed
        stop = threading.Event()
        errors: list[int] = []

        def client_loop(
            n: int,
            scenario: str = scenario,
            ready: threading.Barrier = ready,
            stop: threading.Event = stop,
            errors: list[int] = errors,
        ) -> int:
            done = 0
            with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                if scenario == "PATCH":
                    made = client.post("/v1/activities", json={**body, "code": f"BENCH-WB-{tag}-P{n}"})
                    made.raise_for_status()
                    url, etag = made.headers["location"], made.headers["etag"]
                ready.wait()
                while not stop.is_set():
                    if scenario == "POST":
                        response = client.post("/v1/activities", json={**body, "code": f"BENCH-WB-{tag}-{n}-{done}"})
                        ok = response.status_code == 201
                    else:
                        response = client.patch(url, json={"description": f"Change {done}"}, headers={"If-Match": etag})
                        ok = response.status_code == 200
                        etag = response.headers.get("etag", etag)
                    if not ok:
                        errors.append(response.status_code)
                    done += 1
            return done

        with ThreadPoolExecutor(max_workers=clients) as pool:
            futures = [pool.submit(client_loop, n) for n in range(clients)]
            ready.wait()
            started = time.perf_counter()
            time.sleep(seconds)
            stop.set()
            counted = sum(f.result() for f in futures)
            elapsed = time.perf_counter() - started
        figures[scenario] = {"writes_per_second": round(counted / elapsed, 1), "errors": len(errors)}
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--against", help="another checkout's workplan executable, served in turn with this one's")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = service_env(args.database_url)
    servers = {"this": Path(sys.executable).parent / "workplan"}
    if args.against:
        servers["against"] = Path(args.against).absolute()
    workplan = str(servers["this"])
    for command in (["db", "upgrade"], ["seed"]):
        subprocess.run([workplan, *command], env=env, check=True, capture_output=True)  # noqa: S603
    headers = make_key(workplan, env, "bench-writes", "editor")
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    for number in range(args.rounds):
        for name, executable in servers.items():
            # Served from its own checkout (.venv/bin/workplan is two levels down), so that its
            # `app` is the one imported whatever the server puts on sys.path.
            root = executable.parents[2]
            with server([str(executable), "serve", "--workers", "1"], env, "/readyz", cwd=root) as (base, _pid):
                objective_id = httpx.get(base + "/v1/objectives?limit=1").json()["items"][0]["id"]
                tag = f"{int(time.time())}-{name}-{number}"
                figures = drive(base, headers, objective_id, args.clients, args.seconds, tag)
            rounds[name].append(figures)
            print(name, number, json.dumps(figures), flush=True)
    result: dict[str, Any] = {
        "database": args.database_url.split(":")[0],
        "clients": args.clients,
        "seconds": args.seconds,
        "servers": {name: str(path) for name, path in servers.items()},
        "rounds": rounds,
        "median_writes_per_second": {
            name: {s: statistics.median(r[s]["writes_per_second"] for r in runs) for s in SCENARIOS}
            for name, runs in rounds.items()
        },
        "errors": sum(r[s]["errors"] for runs in rounds.values() for r in runs for s in SCENARIOS),
    }
    if "against" in servers:
        medians = result["median_writes_per_second"]
        result["against_over_this"] = {s: round(medians["against"][s] / medians["this"][s], 2) for s in SCENARIOS}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
