"""Drive `workplan serve` and the raw baseline with the same scenarios; print and save the figures.

    uv run python -m bench.run --database-url sqlite:///bench/data/workplan_bench.db [--duration 10]

Both servers run at once on free ports (one uvicorn worker each) against the database that
bench.generate built; each scenario hits the API, then the baseline. Load comes from `wrk` when it
is installed, else from an asyncio + httpx loop (slower: its own CPU use lowers both figures).
"""

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import make_url

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LIST = "/v1/activities?status=planned&sort=-updated_at&limit=50"
SEARCH = "/v1/activities?q=violence&limit=50"
EXPORT = "/v1/activities?format=ndjson"
WRK_SCRIPT = """
local paths = {%s}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH {"requests": %%d, "duration_us": %%d, "bad_status": %%d, "socket_errors": %%d, '
    .. '"p50_us": %%d, "p99_us": %%d}\\n', summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


def service_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment a bench serves `database_url` with: a fixed signing key, no rate limits (a
    load from one address and one key is what they are there to stop), and `settings` on top."""
    return {
        **os.environ,
        "WORKPLAN_DATABASE_URL": database_url,
        "WORKPLAN_SECRET_KEY": "bench",
        "WORKPLAN_RATE_LIMIT_PER_MINUTE": "0",
        "WORKPLAN_ANONYMOUS_RATE_LIMIT_PER_MINUTE": "0",
        **settings,
    }


def make_key(workplan: str, env: dict[str, str], name: str, role: str) -> dict[str, str]:
    """A new API key made with `workplan keys create`, as the Authorization header that sends it."""
    made = subprocess.run(  # noqa: S603 (our own command)
        [workplan, "keys", "create", "--name", name, "--role", role, "--quiet"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return {"Authorization": f"Bearer {made.stdout.strip()}"}


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def pooled(loads: list[Load]) -> Load:
    """Runs of the same length, taken in turn with others, as one: mean rate, worst latencies."""
    return Load(
        rps=sum(load.rps for load in loads) / len(loads),
        p50_ms=max(load.p50_ms for load in loads),
        p99_ms=max(load.p99_ms for load in loads),
        requests=sum(load.requests for load in loads),
        errors=sum(load.errors for load in loads),
    )


@dataclass
class Export:
    seconds: float
    lines: int
    megabytes: float
    peak_rss_mb: float
    rss_before_mb: float


@dataclass
class Scenario:
    name: str
    target: str
    api: Load | Export | None = None
    baseline: Load | Export | None = None
    ratio: float | None = None
    met: bool | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(command: list[str], env: dict[str, str], ready: str, cwd: Path = ROOT) -> Iterator[tuple[str, int]]:
    """Start a server process (in `cwd`), wait until `ready` answers 200, yield its base URL and pid."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        # Our own fixed commands: the venv's workplan and uvicorn.
        process = subprocess.Popen(  # noqa: S603
            [*command, "--port", str(port)], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(base + ready, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise SystemExit(f"{command[0]} did not start:\n{log.read().decode(errors='replace')}")
                time.sleep(0.2)
            yield base, process.pid
        finally:
            process.terminate()
            process.wait(timeout=30)


def walk(client: httpx.Client, base: str, path: str, pages: int) -> tuple[str, int]:
    """Follow next_cursor from `path`; return the URL of page `pages` (or the last one) and its number."""
    url, page = base + path, 1
    while page < pages:
        body = client.get(url).raise_for_status().json()
        if "next_cursor" not in body:
            break
        url = str(httpx.URL(base + path).copy_merge_params({"cursor": body["next_cursor"]}))
        page += 1
    return url, page


def wrk(base: str, paths: list[str], seconds: float, connections: int, threads: int) -> Load:
    quoted = ", ".join('"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in paths)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % quoted)
    try:
        command = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            script.name,
        ]
        result = subprocess.run([*command, base], capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise SystemExit(f"wrk failed: {result.stderr or result.stdout}")
        output = result.stdout
    finally:
        os.unlink(script.name)
    line = next(line for line in output.splitlines() if line.startswith("BENCH "))
    data = orjson.loads(line.removeprefix("BENCH "))
    return Load(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
        errors=data["bad_status"] + data["socket_errors"],
    )


def httpx_load(base: str, paths: list[str], seconds: float, connections: int, _threads: int) -> Load:
    async def run() -> tuple[list[float], int, float]:
        latencies: list[float] = []
        errors = 0
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
            started = time.perf_counter()
            stop = started + seconds

            async def worker(offset: int) -> None:
                nonlocal errors
                n = offset
                while time.perf_counter() < stop:
                    sent = time.perf_counter()
                    response = await client.get(paths[n % len(paths)])
                    latencies.append(time.perf_counter() - sent)
                    errors += response.status_code >= 400
                    n += connections

            await asyncio.gather(*(worker(i) for i in range(connections)))
            return latencies, errors, time.perf_counter() - started

    latencies, errors, elapsed = asyncio.run(run())
    cuts = statistics.quantiles(latencies, n=100)
    return Load(len(latencies) / elapsed, cuts[49] * 1000, cuts[98] * 1000, len(latencies), errors)


def status_mb(pid: int, key: str) -> float:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # the process is gone
        return 0.0
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def export(base: str, pid: int) -> Export:
    """Time a full NDJSON download; the server's peak RSS comes from VmHWM, reset just before."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # 5 = reset the peak RSS (Linux >= 4.0)
        reset = True
    except OSError:
        reset = False
    before = status_mb(pid, "VmRSS")
    sampled = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            sampled.append(status_mb(pid, "VmRSS"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lines = size = 0
    started = time.perf_counter()
    with httpx.stream("GET", base + EXPORT, timeout=600) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            lines += chunk.count(b"\n")
            size += len(chunk)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    peak = status_mb(pid, "VmHWM") if reset else max(sampled)
    return Export(seconds, lines, size / 1e6, max(peak, max(sampled)), before)


def probe(client: httpx.Client, url: str) -> str:
    """'' when the URL answers 200, else why not."""
    try:
        with client.stream("GET", url, timeout=30) as response:
            if response.status_code == 200:
                return ""
            response.read()
            return f"{response.status_code}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"


def load_ids(client: httpx.Client, base: str, count: int) -> list[str]:
    ids: list[str] = []
    url = base + "/v1/activities?sort=-updated_at&limit=200"
    while len(ids) < count:
        body = client.get(url).raise_for_status().json()
        ids += [item["id"] for item in body["items"]]
        if "next_cursor" not in body:
            break
        url = base + f"/v1/activities?sort=-updated_at&limit=200&cursor={body['next_cursor']}"
    return ids[:count]


def measure(args: argparse.Namespace) -> tuple[list[Scenario], dict[str, Any]]:
    drive: Callable[[str, list[str], float, int, int], Load] = wrk if shutil.which("wrk") else httpx_load
    env = {
        **os.environ,
        "WORKPLAN_DATABASE_URL": args.database_url,
        "WORKPLAN_SECRET_KEY": "bench",
        "BENCH_DATABASE_URL": args.database_url,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        # A load test from one address is what the per-address rate limit is there to stop.
        "WORKPLAN_RATE_LIMIT_PER_MINUTE": "0",
        "WORKPLAN_ANONYMOUS_RATE_LIMIT_PER_MINUTE": "0",
    }
    api_command = [str(BIN / "workplan"), "serve", "--workers", "1"]
    baseline_command = [str(BIN / "uvicorn"), "bench.baseline:app", "--workers", "1", "--proxy-headers"]

    def hit(base: str, paths: list[str], seconds: float) -> Load:
        drive(base, paths, min(args.warmup, seconds), args.connections, args.threads)
        return drive(base, paths, seconds, args.connections, args.threads)

    with (
        server(api_command, env, "/readyz") as (api, api_pid),
        server(baseline_command, env, "/healthz") as (baseline, baseline_pid),
        httpx.Client(timeout=60) as client,
    ):
        print(f"API {api} (pid {api_pid}), baseline {baseline} (pid {baseline_pid}), load: {drive.__name__}")
        ids = load_ids(client, baseline, args.ids)
        api_deep, api_page = walk(client, api, LIST, args.deep_page)
        baseline_deep, baseline_page = walk(client, baseline, LIST, args.deep_page)
        deep = [api_deep.removeprefix(api)], [baseline_deep.removeprefix(baseline)]
        scenarios: list[Scenario] = []

        list_50 = Scenario("list 50, status, -updated_at", ">= 0.25 x baseline req/s")
        list_50.api, list_50.baseline = hit(api, [LIST], args.duration), hit(baseline, [LIST], args.duration)
        scenarios.append(list_50)

        deep_page = Scenario(f"deep page (page {api_page})", ">= 0.90 x API page 1")
        # Page 1 and the deep page in turn, two halves each, so that the ratio compares what the
        # API did in the same stretch of time: on a shared machine, throughput drifts by 10 to 15 %
        # between runs a few seconds apart, as much as the target allows.
        halves = [hit(api, paths, args.duration / 2) for _ in range(2) for paths in ([LIST], deep[0])]
        deep_page.api, deep_page.baseline = pooled(halves[1::2]), hit(baseline, deep[1], args.duration)
        deep_page.extra = {
            "api_page": api_page,
            "baseline_page": baseline_page,
            "api_page_1_rps": pooled(halves[0::2]).rps,
        }
        scenarios.append(deep_page)

        get = Scenario(f"get by id ({len(ids)} ids)", ">= 0.20 x baseline req/s")
        paths = [f"/v1/activities/{activity_id}" for activity_id in ids]
        get.api, get.baseline = hit(api, paths, args.duration), hit(baseline, paths, args.duration)
        scenarios.append(get)

        search = Scenario("search q=violence, 50", "(none)")
        search.note = probe(client, api + SEARCH) or probe(client, baseline + SEARCH)
        if not search.note:
            search.api, search.baseline = hit(api, [SEARCH], args.duration), hit(baseline, [SEARCH], args.duration)
        scenarios.append(search)

        full = Scenario("NDJSON export, all", "<= 3 x baseline time, peak < 150 MB")
        # A probe that matches nothing: an abandoned full download would leave the server busy.
        full.note = probe(client, api + EXPORT + "&code=NO-SUCH-CODE")
        if not full.note:
            try:
                full.api = export(api, api_pid)
            except httpx.HTTPError as exc:
                alive = Path(f"/proc/{api_pid}").exists()
                full.note = f"the API's export failed: {type(exc).__name__}: {exc} (server alive: {alive})"
                full.met = False
        full.baseline = export(baseline, baseline_pid)
        scenarios.append(full)
    judge(scenarios)
    meta = {"load_generator": drive.__name__, "deep_page_paths": {"api": deep[0][0], "baseline": deep[1][0]}}
    return scenarios, meta


def judge(scenarios: list[Scenario]) -> None:
    list_50, deep_page, get, search, full = scenarios
    for scenario, floor in ((list_50, 0.25), (get, 0.20)):
        if isinstance(scenario.api, Load) and isinstance(scenario.baseline, Load) and scenario.baseline.rps:
            scenario.ratio = scenario.api.rps / scenario.baseline.rps
            scenario.met = scenario.ratio >= floor and scenario.api.errors == 0
    page_1 = deep_page.extra.get("api_page_1_rps")
    if isinstance(deep_page.api, Load) and page_1:
        deep_page.ratio = deep_page.api.rps / page_1
        deep_page.met = deep_page.ratio >= 0.90 and deep_page.api.errors == 0
    if isinstance(search.api, Load) and isinstance(search.baseline, Load) and search.baseline.rps:
        search.ratio = search.api.rps / search.baseline.rps
    if isinstance(full.api, Export) and isinstance(full.baseline, Export):
        full.ratio = full.api.seconds / full.baseline.seconds
        full.met = full.ratio <= 3.0 and full.api.peak_rss_mb < 150 and full.api.lines == full.baseline.lines


def cells(result: Load | Export | None) -> list[str]:
    if isinstance(result, Load):
        return [f"{result.rps:,.0f}", f"{result.p50_ms:.1f}", f"{result.p99_ms:.1f}"]
    if isinstance(result, Export):
        return [f"{result.seconds:.2f} s", f"{result.peak_rss_mb:.0f} MB", f"{result.lines:,} lines"]
    return ["-", "-", "-"]


def table(scenarios: list[Scenario]) -> str:
    header = ["scenario", "API req/s", "p50 ms", "p99 ms", "base req/s", "p50 ms", "p99 ms", "ratio", "target", "met?"]
    rows = [header]
    for s in scenarios:
        met = {True: "yes", False: "NO", None: "pending" if s.note else "-"}[s.met]
        ratio = f"{s.ratio:.2f}" if s.ratio is not None else "-"
        rows.append([s.name, *cells(s.api), *cells(s.baseline), ratio, s.target, met])
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines += [f"note, {s.name}: {s.note[:300]}" for s in scenarios if s.note]
    lines.append("export row: time, peak server RSS (VmHWM during the export), lines; ratio = API time / baseline time")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="The database bench.generate built.")
    parser.add_argument("--duration", type=float, default=10, help="Seconds of load per scenario and server.")
    parser.add_argument("--connections", type=int, default=16, help="Concurrent connections.")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (the servers need the other cores).")
    parser.add_argument("--warmup", type=float, default=2, help="Seconds of load before each measurement.")
    parser.add_argument("--deep-page", type=int, default=500, help="Which page the deep-page scenario asks for.")
    parser.add_argument("--ids", type=int, default=2000, help="How many ids the get scenario cycles through.")
    args = parser.parse_args()
    started = datetime.now(UTC)
    scenarios, meta = measure(args)
    print(table(scenarios))
    kind = make_url(args.database_url).get_backend_name()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{kind}-{started:%Y%m%dT%H%M%SZ}.json"
    git = ["git", "rev-parse", "HEAD"]
    commit = subprocess.run(git, cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()  # noqa: S603
    document = {
        "database": kind,
        "started_at": started.isoformat(),
        "commit": commit,
        "settings": vars(args) | {"database_url": make_url(args.database_url).render_as_string()},
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        **meta,
        "scenarios": [asdict(s) for s in scenarios],
    }
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    print(f"saved {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
