"""The IATI export of a generated plan against the NDJSON export of the same activities, in one run.

    uv run python -m bench.iati_bench --database-url sqlite:///bench/data/workplan_bench.db [--rounds 3]

Serves the database that bench.generate built (100,000 activities in one plan) with `workplan serve`
(one worker, rate limits off, a test organisation id), and downloads, in turn and alternating which
goes first, `GET /v1/activities?format=ndjson&work_plan_id=ID` and
`GET /v1/work-plans/ID/iati-activities.xml`: each timed end to end, with the server's peak RSS
during it (VmHWM, reset just before). Prints each round, the medians and the ratio (IATI time over
NDJSON time; target <= 3x, peak < 150 MB), then validates the last IATI file against the IATI 2.03
activity schema (pyIATI's, a dev dependency).
"""

import argparse
import importlib.util
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from lxml import etree

from bench.run import server, service_env, status_mb

ORG_ID = "XM-DAC-00000"


@dataclass
class Download:
    seconds: float
    megabytes: float
    peak_rss_mb: float
    rss_before_mb: float


def download(base: str, pid: int, path: str, sink: Path) -> Download:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # 5 = reset the peak RSS (Linux >= 4.0)
    before = status_mb(pid, "VmRSS")
    sampled = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            sampled.append(status_mb(pid, "VmRSS"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    size = 0
    started = time.perf_counter()
    with httpx.stream("GET", base + path, timeout=600) as response, sink.open("wb") as out:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
            out.write(chunk)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return Download(seconds, size / 1e6, max(status_mb(pid, "VmHWM"), *sampled), before)


def schema() -> etree.XMLSchema:
    spec = importlib.util.find_spec("iati")  # found, not imported: only its files are wanted
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pyiati is missing: `make install` installs the dev dependencies")
    root = Path(next(iter(spec.submodule_search_locations)))
    return etree.XMLSchema(etree.parse(str(root / "resources/standard/2-03/schemas/iati-activities-schema.xsd")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work-plan", default="BENCH", help="the code of the plan (bench.generate's: BENCH)")
    args = parser.parse_args()
    env = service_env(args.database_url, WORKPLAN_IATI_ORG_ID=ORG_ID)
    workplan = str(Path(sys.executable).parent / "workplan")
    results: dict[str, list[Download]] = {"ndjson": [], "iati": []}
    with (
        tempfile.TemporaryDirectory() as directory,
        server([workplan, "serve", "--workers", "1"], env, "/readyz") as (
            base,
            pid,
        ),
    ):
        plans = httpx.get(base + "/v1/work-plans", params={"limit": 200}).raise_for_status().json()["items"]
        plan = next(p["id"] for p in plans if p["code"] == args.work_plan)
        paths = {
            "ndjson": f"/v1/activities?format=ndjson&work_plan_id={plan}",
            "iati": f"/v1/work-plans/{plan}/iati-activities.xml",
        }
        files = {kind: Path(directory) / f"export.{kind}" for kind in paths}
        for round_ in range(args.rounds):
            order = ["ndjson", "iati"] if round_ % 2 == 0 else ["iati", "ndjson"]
            for kind in order:
                result = download(base, pid, paths[kind], files[kind])
                results[kind].append(result)
                print(
                    f"round {round_ + 1} {kind:6}: {result.seconds:6.2f} s, {result.megabytes:6.1f} MB, "
                    f"peak RSS {result.peak_rss_mb:5.0f} MB (before: {result.rss_before_mb:.0f} MB)",
                    flush=True,
                )
        medians = {kind: statistics.median(r.seconds for r in runs) for kind, runs in results.items()}
        peaks = {kind: max(r.peak_rss_mb for r in runs) for kind, runs in results.items()}
        ratio = medians["iati"] / medians["ndjson"]
        print(f"NDJSON: median {medians['ndjson']:.2f} s, peak RSS {peaks['ndjson']:.0f} MB")
        print(f"IATI:   median {medians['iati']:.2f} s, peak RSS {peaks['iati']:.0f} MB")
        print(f"ratio IATI / NDJSON: {ratio:.2f}x (target <= 3x); IATI peak < 150 MB: {peaks['iati'] < 150}")
        started = time.perf_counter()
        document = etree.parse(str(files["iati"]), etree.XMLParser(huge_tree=True))
        accepted = schema().validate(document)
        count = len(document.getroot())
        print(f"IATI 2.03 schema: {'accepts' if accepted else 'REFUSES'} the file of {count} activities", end="")
        print(f" ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
