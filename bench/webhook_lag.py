"""Webhook delivery lag, and what a dispatcher costs the writes.

    uv run python -m bench.webhook_lag --database-url postgresql+psycopg://postgres@127.0.0.1:5432/DB \\
        [--subscriptions 10] [--rate 100] [--seconds 20] [--writers 8] [--cost-rounds 3] [--concurrency N]

Lag: `workplan serve` (one worker) and `workplan webhooks run` (its own process) serve the database;
a receiver in this process answers 204 to every delivery and notes when each arrived. An admin's key
subscribes `--subscriptions` times to activities, then `--writers` clients create activities at
`--rate` writes a second in all, for `--seconds`. Each activity's lag is from the moment its POST was
sent (so the commit came later: the figure errs long) to the moment the receiver had it, once per
subscription. It prints the median, p99 and worst lag, and any change that never arrived.

Cost: the same POST load as bench.write_bench (4 clients, as fast as they go, 8 s), in alternating
rounds with the subscriptions switched off and no dispatcher, then on with the dispatcher running
and delivering every write to each subscription. On one machine the dispatcher and the receiver
share its cores with the server and the database, so "on" also pays for their CPU.

The database must exist; it is migrated, seeded and grows by the activities created (BENCH-WH-...).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.run import make_key, server, service_env
from bench.write_bench import drive

BIN = Path(sys.executable).parent


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        # (subscription number, record id) -> first arrival (perf_counter); and every webhook-id seen.
        self.arrived: dict[tuple[str, str], float] = {}
        self.messages: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        now = time.perf_counter()
        item = orjson.loads(body)
        with self.server.lock:
            self.server.arrived.setdefault((self.path.strip("/"), item["id"]), now)
            self.server.messages.append(self.headers.get("webhook-id", ""))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def receiving() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()


@contextmanager
def dispatcher(env: dict[str, str], concurrency: int) -> Iterator[None]:
    """`workplan webhooks run`, once it has started delivering: its start-up (seconds of imports) is
    not lag."""
    command = [str(BIN / "workplan"), "webhooks", "run", "--concurrency", str(concurrency)]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)  # noqa: S603
        try:
            deadline = time.monotonic() + 60
            while True:
                log.seek(0)
                said = log.read().decode(errors="replace")
                if "Delivering webhooks" in said:
                    break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"workplan webhooks run did not start:\n{said}")
                time.sleep(0.1)
            yield
        finally:
            process.terminate()
            process.wait(timeout=60)


def paced_writes(
    base: str, headers: dict[str, str], objective_id: str, writers: int, rate: float, seconds: float
) -> dict[str, float]:
    """Create activities at `rate` a second in all; each activity's id and when its POST was sent."""
    sent: dict[str, float] = {}
    lock = threading.Lock()
    interval = writers / rate
    start = time.perf_counter() + 0.5

    def writer(n: int) -> None:
        with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
            k = 0
            while True:
                due = start + n * interval / writers + k * interval
                if due - start > seconds:
                    return
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                body = {"objective_id": objective_id, "title": "Bench push", "type": "meeting"}
                at = time.perf_counter()
                response = client.post("/v1/activities", json={**body, "code": f"BENCH-WH-{int(start)}-{n}-{k}"})
                response.raise_for_status()
                with lock:
                    sent[response.json()["id"]] = at
                k += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent


def subscribe(api: httpx.Client, receiver: Receiver, count: int) -> list[str]:
    """`count` subscriptions of an admin's to activities, each to its own path of the receiver."""
    hooks = []
    for n in range(count):
        made = api.post("/v1/webhooks", json={"url": f"{receiver.base}/{n}", "types": ["activity"]})
        made.raise_for_status()
        hooks.append(made.json()["id"])
    return hooks


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--subscriptions", type=int, default=10)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--cost-rounds", type=int, default=3)
    parser.add_argument(
        "--concurrency", type=int, default=None, help="the dispatcher's workers (default: one per subscription)"
    )
    args = parser.parse_args()
    args.concurrency = args.concurrency or args.subscriptions
    env = service_env(args.database_url, WORKPLAN_WEBHOOK_ALLOWED_NETWORKS="127.0.0.0/8")
    workplan = str(BIN / "workplan")
    for command in (["db", "upgrade"], ["seed"]):
        subprocess.run([workplan, *command], env=env, check=True, capture_output=True)  # noqa: S603
    headers = make_key(workplan, env, "bench-push", "admin")
    result: dict[str, Any] = {"database": args.database_url.split(":")[0], **vars(args)}
    del result["database_url"]
    with receiving() as receiver, server([workplan, "serve", "--workers", "1"], env, "/readyz") as (base, _pid):
        api = httpx.Client(base_url=base, headers=headers, timeout=60)
        objective_id = api.get("/v1/objectives?limit=1").json()["items"][0]["id"]
        hooks = subscribe(api, receiver, args.subscriptions)

        # Lag.
        with dispatcher(env, args.concurrency):
            sent = paced_writes(base, headers, objective_id, args.writers, args.rate, args.seconds)
            wanted = {(str(n), record_id) for n in range(args.subscriptions) for record_id in sent}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with receiver.lock:
                    if wanted <= receiver.arrived.keys():
                        break
                time.sleep(0.2)
        with receiver.lock:
            lags = [receiver.arrived[key] - sent[key[1]] for key in wanted if key in receiver.arrived]
            missing = len(wanted - receiver.arrived.keys())
            duplicates = len(receiver.messages) - len(set(receiver.messages))
        result["lag"] = {
            "writes": len(sent),
            "deliveries_expected": len(wanted),
            "missing": missing,
            "duplicate_messages": duplicates,
            "median_s": round(statistics.median(lags), 3),
            "p99_s": round(percentile(lags, 0.99), 3),
            "max_s": round(max(lags), 3),
        }
        print("lag", json.dumps(result["lag"]), flush=True)

        # Cost: the same writes with no subscription and no dispatcher, then with fresh ones (they
        # start at the feed's head, so no backlog from the round before) and a dispatcher.
        rounds: dict[str, list[float]] = {"off": [], "on": []}
        for number in range(args.cost_rounds):
            for state in ("off", "on"):
                for hook in hooks:
                    api.delete(f"/v1/webhooks/{hook}").raise_for_status()
                hooks = subscribe(api, receiver, args.subscriptions) if state == "on" else []
                tag = f"{int(time.time())}-{state}-{number}"
                if state == "on":
                    with dispatcher(env, args.concurrency):
                        figures = drive(base, headers, objective_id, 4, 8.0, tag)
                else:
                    figures = drive(base, headers, objective_id, 4, 8.0, tag)
                rounds[state].append(figures["POST"]["writes_per_second"])
                print("cost", state, number, figures["POST"], flush=True)
        if args.cost_rounds:
            medians = {state: statistics.median(values) for state, values in rounds.items()}
            result["post_writes_per_second"] = {"rounds": rounds, "median": medians}
            result["on_over_off"] = round(medians["on"] / medians["off"], 3)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
