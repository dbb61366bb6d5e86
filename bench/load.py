"""A mixed read and write load through real HTTP against `workplan serve --workers 2` on PostgreSQL,
then a check that the database holds exactly what the clients saw acknowledged.

    uv run python -m bench.load \
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/workplan_bench_faults_load \
        [--clients 64] [--duration 60] [--workers 2] [--pool-size 24]

The database named must start with `workplan_bench` (it is dropped and made again), is migrated
with `workplan db upgrade` and seeded with `workplan seed`. Rate limits are off for the run (as in
bench/run.py). Each client loops for `--duration` seconds over a weighted mix: list a page, get one
record, full-text search, create an activity (with participants and countries, under an
Idempotency-Key), patch one of its own activities, and poll `/v1/changes` with its own cursor. It
prints p50 and p99 latency per operation and writes them, with the settings, to
bench/results/load-<timestamp>.json.

Consistency afterwards, read from the database itself: every acknowledged create is stored exactly
once with its embedded lists; every activity a client patched has version 1 + the patches it saw
acknowledged (each client patches only its own records, one request at a time, so that count is
exact); no 5xx answered.

The load comes from one asyncio loop with httpx.AsyncClient (a dev dependency already; bench/run.py
falls back to it). wrk would drive more requests, but the check needs each write's outcome and its
body (which code was acknowledged, which version a patch produced) and a per-client state (its
records, its changes cursor), which is what a Python client holds naturally. The loop's own CPU
competes with the servers on a small machine, so the rates are a lower bound.
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from bench.generate import recreate
from bench.run import BIN, RESULTS, ROOT, server

OBJECTIVE_5 = "de576537-25ea-5ba0-9148-3733718f059c"
# Weights of the operations in the mix.
MIX = {"list": 25, "get": 20, "search": 10, "create": 15, "patch": 15, "changes": 15}


@dataclass
class Client:
    number: int
    rng: random.Random
    created: dict[str, str] = field(default_factory=dict)  # code -> id, acknowledged
    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)
    patches: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # id -> acknowledged patches
    uncertain: set[str] = field(default_factory=set)  # ids with a patch whose answer was lost
    cursor: str | None = None


@dataclass
class Outcome:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    transport_errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # "operation: error" -> n


@dataclass
class Report:
    clients: int
    duration_s: float
    workers: int
    requests: int
    rps: float
    server_errors: int
    transport_errors: dict[str, int]
    retried_conflicts: int
    operations: dict[str, dict[str, Any]]
    consistency: dict[str, int]
    problems: list[str]


def activity(code: str, partners: list[str], rng: random.Random) -> dict[str, Any]:
    chosen = rng.sample(partners, k=2)
    return {
        "objective_id": OBJECTIVE_5,
        "code": code,
        "title": f"Load {code}",
        "type": "meeting",
        "participants": [{"partner_id": chosen[0], "role": "lead"}, {"partner_id": chosen[1], "role": "partner"}],
        "countries": rng.sample(["KEN", "FRA", "BRA", "IND", "PHL", "THA"], k=2),
    }


async def one(client: Client, http: httpx.AsyncClient, ids: list[str], partners: list[str], outcome: Outcome) -> None:
    operation = client.rng.choices(list(MIX), weights=list(MIX.values()))[0]
    if operation == "patch" and not client.created:
        operation = "create"
    started = time.perf_counter()
    response: httpx.Response
    try:
        if operation == "list":
            response = await http.get("/v1/activities", params={"limit": 50, "sort": "-updated_at"})
        elif operation == "get":
            response = await http.get(f"/v1/activities/{client.rng.choice(ids)}")
        elif operation == "search":
            response = await http.get("/v1/activities", params={"q": "children", "limit": 50})
        elif operation == "changes":
            params: dict[str, Any] = {"limit": 200} | ({"cursor": client.cursor} if client.cursor else {})
            response = await http.get("/v1/changes", params=params)
            if response.status_code == 200:
                client.cursor = response.json()["next_cursor"]
        elif operation == "create":
            code = f"LOAD-{client.number}-{len(client.bodies)}"
            body = activity(code, partners, client.rng)
            client.bodies[code] = body
            key = str(uuid.uuid4())
            # A lost answer is retried with the same key, as a client should: it replays (or is 409
            # while the first attempt still runs).
            for attempt in range(5):
                try:
                    response = await http.post("/v1/activities", json=body, headers={"Idempotency-Key": key})
                except httpx.TransportError as exc:
                    if attempt == 4:
                        raise
                    outcome.transport_errors[f"create (retried): {type(exc).__name__}"] += 1
                else:
                    if response.status_code != 409 or attempt == 4:
                        break
                    outcome.statuses["create (retried)"][409] += 1
                await asyncio.sleep(0.5)
                started = time.perf_counter()
            if response.status_code == 201:
                client.created[code] = response.json()["id"]
        else:
            target = client.rng.choice(list(client.created.values()))
            try:
                response = await http.patch(
                    f"/v1/activities/{target}", json={"description": f"patched {client.patches[target] + 1}"}
                )
            except httpx.TransportError:
                client.uncertain.add(target)  # applied or not: its version is checked as either
                raise
            if response.status_code == 200:
                client.patches[target] += 1
    except httpx.TransportError as exc:
        outcome.transport_errors[f"{operation}: {type(exc).__name__}"] += 1
        return
    outcome.latencies[operation].append(time.perf_counter() - started)
    outcome.statuses[operation][response.status_code] += 1


async def drive(base: str, key: str, clients: int, duration: float, seed: int) -> tuple[Outcome, list[Client]]:
    outcome = Outcome()
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) as http:
        ids = [item["id"] for item in (await http.get("/v1/activities", params={"limit": 200})).json()["items"]]
        partners = [item["id"] for item in (await http.get("/v1/partners", params={"limit": 200})).json()["items"]]
        states = [Client(n, random.Random(seed * 1000 + n)) for n in range(clients)]  # noqa: S311 - load mix
        deadline = time.monotonic() + duration

        async def loop(client: Client) -> None:
            while time.monotonic() < deadline:
                await one(client, http, ids, partners, outcome)

        await asyncio.gather(*(loop(client) for client in states))
    return outcome, states


def check(url: str, states: list[Client]) -> tuple[dict[str, int], list[str]]:
    """Every acknowledged create stored exactly once, whole; every patched version as counted."""
    problems: list[str] = []
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, code, version FROM activity WHERE code LIKE 'LOAD-%'")).all()
        participants = connection.execute(text("SELECT activity_id, count(*) FROM activity_participant GROUP BY 1"))
        countries = connection.execute(text("SELECT activity_id, count(*) FROM activity_country GROUP BY 1"))
        n_participants = {str(a): n for a, n in participants}
        n_countries = {str(a): n for a, n in countries}
    engine.dispose()
    stored: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for id_, code, version in rows:
        stored[code].append((str(id_), version))
    acknowledged = patched = 0
    for client in states:
        for code, id_ in client.created.items():
            acknowledged += 1
            copies = stored.get(code, [])
            if len(copies) != 1 or copies[0][0] != id_:
                problems.append(f"{code}: acknowledged as {id_}, stored {copies}")
                continue
            if n_participants.get(id_) != 2 or n_countries.get(id_) != 2:
                problems.append(f"{code}: embedded lists not whole")
            expected = 1 + client.patches.get(id_, 0)
            patched += client.patches.get(id_, 0)
            lost = id_ in client.uncertain
            if copies[0][1] != expected and not (lost and copies[0][1] == expected + 1):
                problems.append(f"{code}: version {copies[0][1]}, expected {expected}")
    known = {code for client in states for code in client.bodies}
    for code, copies in stored.items():
        if code not in known:
            problems.append(f"{code}: stored but never sent")
        elif len(copies) > 1:
            problems.append(f"{code}: stored {len(copies)} times")
    return {
        "acknowledged_creates": acknowledged,
        "stored_creates": len(rows),
        "acknowledged_patches": patched,
    }, problems


def run(database_url: str, *, clients: int = 64, duration: float = 60, workers: int = 2, pool_size: int = 24) -> Report:
    recreate(database_url)  # refuses any database not named workplan_bench*
    env = {
        **os.environ,
        "WORKPLAN_DATABASE_URL": database_url,
        "WORKPLAN_SECRET_KEY": os.environ.get("WORKPLAN_SECRET_KEY", "bench-load"),
        "WORKPLAN_RATE_LIMIT_PER_MINUTE": "0",
        "WORKPLAN_ANONYMOUS_RATE_LIMIT_PER_MINUTE": "0",
        "WORKPLAN_POOL_SIZE": str(pool_size),
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    workplan = str(BIN / "workplan")
    for args in (["db", "upgrade"], ["seed"]):
        subprocess.run([workplan, *args], env=env, cwd=ROOT, check=True, capture_output=True)  # noqa: S603
    key = subprocess.run(  # noqa: S603
        [workplan, "keys", "create", "--name", "load", "--role", "editor", "--quiet"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    with server([workplan, "serve", "--workers", str(workers)], env, "/readyz") as (base, _pid):
        started = time.monotonic()
        outcome, states = asyncio.run(drive(base, key, clients, duration, seed=1))
        elapsed = time.monotonic() - started
    consistency, problems = check(database_url, states)
    operations = {}
    for operation, latencies in sorted(outcome.latencies.items()):
        ms = sorted(1000 * s for s in latencies)
        operations[operation] = {
            "requests": len(ms),
            "p50_ms": round(statistics.median(ms), 1),
            "p99_ms": round(ms[min(len(ms) - 1, int(len(ms) * 0.99))], 1),
            "statuses": dict(sorted(outcome.statuses[operation].items())),
        }
    requests = sum(len(v) for v in outcome.latencies.values())
    server_errors = sum(n for by in outcome.statuses.values() for status, n in by.items() if status >= 500)
    for operation, by in outcome.statuses.items():
        unexpected = {s: n for s, n in by.items() if s not in (200, 201) and operation in MIX}
        if unexpected:
            problems.append(f"{operation}: unexpected answers {unexpected}")
    return Report(
        clients=clients,
        duration_s=round(elapsed, 1),
        workers=workers,
        requests=requests,
        rps=round(requests / elapsed, 1),
        server_errors=server_errors,
        transport_errors=dict(outcome.transport_errors),
        retried_conflicts=outcome.statuses["create (retried)"][409],
        operations=operations,
        consistency=consistency,
        problems=problems,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--duration", type=float, default=60, help="Seconds of load.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool-size", type=int, default=24, help="WORKPLAN_POOL_SIZE for each worker.")
    args = parser.parse_args()
    report = run(
        args.database_url, clients=args.clients, duration=args.duration, workers=args.workers, pool_size=args.pool_size
    )
    print(f"{report.clients} clients, {report.duration_s} s, {report.workers} workers: {report.rps} req/s")
    print(f"{'operation':<10} {'requests':>9} {'p50 ms':>8} {'p99 ms':>8}  statuses")
    for operation, figures in report.operations.items():
        print(
            f"{operation:<10} {figures['requests']:>9} {figures['p50_ms']:>8} {figures['p99_ms']:>8}  "
            f"{figures['statuses']}"
        )
    print(
        f"5xx: {report.server_errors}; transport errors: {report.transport_errors}; "
        f"creates retried after 409 IDEMPOTENCY_KEY_IN_USE: {report.retried_conflicts}"
    )
    print(report.consistency)
    for problem in report.problems:
        print("PROBLEM:", problem)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"load-{stamp}.json").write_text(json.dumps(asdict(report), indent=2))
    sys.exit(1 if report.problems or report.server_errors else 0)


if __name__ == "__main__":
    main()
