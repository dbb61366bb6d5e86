"""Reads of two checkouts, side by side: list 50, get by id and the full NDJSON export.

    uv run python -m bench.compare --database-url URL --against /path/to/other/checkout \\
        [--rounds 4] [--seconds 8] [--connections 16]

Serves one generated database (`bench.generate`) with `workplan serve` (one worker, rate limits off)
from the other checkout (its `.venv/bin/workplan`, as `make install` makes it) and from this one,
both at once, and measures each scenario on each in turn, alternating which goes first from one
round to the next, so that drift in the machine's load falls on both alike: list 50 and get by id
with wrk (as `bench.run` does, after 2 s of warm-up), and the full NDJSON export of the activities
(`bench.run`'s export). It prints each round's figures, their medians, and this checkout's median
over the other's. Both checkouts must share the schema (the same migrations).
"""

import argparse
import os
import statistics
from contextlib import ExitStack
from pathlib import Path

import httpx

from bench.run import EXPORT, LIST, ROOT, export, load_ids, server, service_env, wrk

SCENARIOS = ("list", "get", "export")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--against", type=Path, required=True, help="the other checkout (with its .venv)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    env = service_env(args.database_url)
    checkouts = {"other": args.against.resolve(), "this": ROOT}
    results: dict[tuple[str, str], list[float]] = {(side, kind): [] for side in checkouts for kind in SCENARIOS}
    with ExitStack() as stack:
        served = {
            side: stack.enter_context(
                server([str(root / ".venv" / "bin" / "workplan"), "serve", "--workers", "1"], env, "/readyz", root)
            )
            for side, root in checkouts.items()
        }
        with httpx.Client(timeout=60) as client:
            gets = [f"/v1/activities/{i}" for i in load_ids(client, served["this"][0], 2000)]
        for round_ in range(args.rounds):
            order = ["other", "this"] if round_ % 2 == 0 else ["this", "other"]
            for kind in SCENARIOS:
                for side in order:
                    base, pid = served[side]
                    if kind == "export":
                        results[side, kind].append(round(export(base, pid).seconds, 2))
                        continue
                    paths = [LIST] if kind == "list" else gets
                    wrk(base, paths, 2, args.connections, 1)  # warm-up
                    load = wrk(base, paths, args.seconds, args.connections, 1)
                    if load.errors:
                        raise SystemExit(f"{side} {kind}: {load.errors} errors")
                    results[side, kind].append(round(load.rps, 1))
            print(f"round {round_}: " + ", ".join(f"{s} {k} {v[-1]}" for (s, k), v in results.items()), flush=True)
    print(f"load average {os.getloadavg()}; export: {EXPORT}")
    for kind in SCENARIOS:
        other, this = statistics.median(results["other", kind]), statistics.median(results["this", kind])
        unit = "s" if kind == "export" else "req/s"
        print(f"{kind} ({unit}): other {other} {results['other', kind]}; this {this} {results['this', kind]}; ", end="")
        print(f"this/other {this / other:.3f}")


if __name__ == "__main__":
    main()
