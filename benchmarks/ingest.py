"""Ingest: signed webhooks into the service under gunicorn and granian, next to bare Flask and a Probot peer."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import payloads
from benchmarks.common import BENCH, Figure, free_port, group_pids, peak_rss_mb, running
from benchmarks.service import (BARE_TARGET, PROJECT, REPO, SECRET, SERVERS, SERVICE_TARGET, WORK, deployment,
                                health, server_command)
from benchmarks.wrk import LoadResult, load
from plugin.commands.service import DEFAULT_SERVER, web_processes
from plugin.config import load_config

PEER = BENCH / ".peer"
POOL_BODIES = 5000  # distinct bodies per scenario; delivery ids are unique per request on top
RELEVANT_P99_MS = 15.0
# Probot and the relevant scenarios are run this many times, interleaved, and compared by their medians:
# one 10 s run of either varied by up to 12% from the next on the 2-core VM (docs/PERFORMANCE.md).
ROUNDS = 3
IGNORED_SHARE_OF_BARE = 0.8


def build_pools(count: int = POOL_BODIES) -> dict[str, Path]:
    """One pool file per scenario, rebuilt only when missing or built for another size."""
    WORK.mkdir(parents=True, exist_ok=True)
    pools = {}
    for name, (path, _, build) in payloads.scenarios(REPO, PROJECT).items():
        file = WORK / f"{name}-{count}.pool"
        if not file.exists():
            payloads.write_pool(file.with_suffix(".tmp"), payloads.signed_requests(path, build, SECRET, count))
            file.with_suffix(".tmp").rename(file)
        pools[name] = file
    return pools


def delivery_header(scenario: str) -> str:
    return payloads.scenarios(REPO, PROJECT)[scenario][1]


def ensure_probot() -> Path:
    """Probot from the npm registry into benchmarks/.peer (git-ignored), installed once."""
    if not (PEER / "node_modules" / "probot").is_dir():
        if not shutil.which("npm"):
            raise SystemExit("npm is needed for the Probot peer baseline")
        PEER.mkdir(parents=True, exist_ok=True)
        (PEER / "package.json").write_text(json.dumps({"name": "pilotgate-bench-peer", "private": True}))
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "probot@14"], cwd=PEER, check=True,
                       capture_output=True, timeout=600)
    shutil.copy(BENCH / "probot_peer.mjs", PEER / "probot_peer.mjs")
    return PEER / "probot_peer.mjs"


def run_probot(pool: Path, seconds: float) -> LoadResult:
    script = ensure_probot()
    port = free_port()
    env = {"PORT": str(port), "WEBHOOK_SECRET": SECRET, "LOG_LEVEL": "warn", "NODE_ENV": "production"}
    with running(["node", script.name], port, env=env, cwd=PEER, log=WORK / "probot.log"):
        warm_up(port, pool, "X-GitHub-Delivery")
        return load(f"http://127.0.0.1:{port}", pool, "X-GitHub-Delivery", seconds)


def warm_up(port: int, pool: Path, header: str, seconds: float = 1.0) -> None:
    """A second of load first, so every worker has imported, compiled and opened its files."""
    load(f"http://127.0.0.1:{port}", pool, header, seconds, connections=4)


@dataclass
class ServiceRun:
    results: dict[str, LoadResult] = field(default_factory=dict)
    queue_depth: dict[str, int | None] = field(default_factory=dict)
    duplicates_answered: dict[str, str] = field(default_factory=dict)
    peak_rss_mb: float = 0.0


def run_service(server: str, scenarios: dict[str, Path], seconds: float) -> ServiceRun:
    """Each scenario against a fresh deployment (empty database and queue), no worker draining it."""
    run = ServiceRun()
    for scenario, pool in scenarios.items():
        deployed = deployment(f"ingest-{server}-{scenario}")
        port = free_port()
        # As `pilotgate serve` starts it (one granian process on this SQLite deployment).
        processes = web_processes(load_config(deployed.config), server)
        command = server_command(server, SERVICE_TARGET, port, factory=True, workers=processes)
        with running(command, port, env=deployed.env, log=deployed.folder / "server.log") as process:
            header = delivery_header(scenario)
            warm_up(port, pool, header)
            before = _queue_depth(port)
            run.results[scenario] = load(f"http://127.0.0.1:{port}", pool, header, seconds)
            after = _queue_depth(port)
            run.queue_depth[scenario] = after - before if after is not None and before is not None else None
            run.duplicates_answered[scenario] = _replay_status(port, pool, header)
            run.peak_rss_mb = max([run.peak_rss_mb] + [peak_rss_mb(pid) for pid in group_pids(process.pid)])
    return run


def run_bare(server: str, pool: Path, header: str, seconds: float) -> LoadResult:
    port = free_port()
    with running(server_command(server, BARE_TARGET, port), port, log=WORK / f"bare-{server}.log"):
        warm_up(port, pool, header)
        return load(f"http://127.0.0.1:{port}", pool, header, seconds)


def _queue_depth(port: int) -> int | None:
    try:
        state = health(port)
    except (urllib.error.URLError, ValueError):
        return None
    depth = state.get("queue_depth", state.get("queue", {}).get("depth") if isinstance(state.get("queue"), dict) else None)
    return int(depth) if isinstance(depth, (int, float)) else None


def _replay_status(port: int, pool: Path, header: str) -> str:
    """Send the first pooled delivery twice under one id: the second must be answered as a duplicate."""
    with pool.open("rb") as file:
        path, head, body = (file.readline().rstrip(b"\n") for _ in range(3))
    headers = dict(h.split(": ", 1) for h in head.decode().split("\t"))
    headers[header] = f"replay-{time.time_ns()}"
    codes = []
    for _ in range(2):
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path.decode()}", data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                codes.append(str(answer.status))
        except urllib.error.HTTPError as err:
            codes.append(str(err.code))
    return "/".join(codes)


@dataclass
class IngestReport:
    figures: list[Figure]
    web_peak_rss_mb: float
    faster_server: str
    notes: list[str]


def measure(seconds: float = 10.0, servers: tuple[str, ...] = SERVERS, rounds: int = ROUNDS) -> IngestReport:
    """Every scenario once under each server; then `rounds - 1` more rounds of the relevant ones under
    the default server, each after a run of the Probot peer. The relevant figures are the median
    round's, next to the median Probot run.

    The relevant-event targets are the deployed service's, so they apply to `pilotgate serve`'s default
    server; the other server is measured next to it (same baselines, ratios shown) and must be slower.
    """
    pools = build_pools()
    probot_runs = [run_probot(pools["github-relevant"], seconds)]
    notes, rss, bare, runs = [], 0.0, {}, {}
    for server in servers:
        bare[server] = {tracker: run_bare(server, pools[f"{tracker}-ignored"], delivery_header(f"{tracker}-ignored"),
                                          seconds) for tracker in ("github", "jira")}
        service = run_service(server, pools, seconds)
        rss = max(rss, service.peak_rss_mb)
        for scenario, result in service.results.items():
            runs[server, scenario] = [result]
            notes.append(f"{server} {scenario}: statuses {result.statuses}, socket errors {result.socket_errors}, "
                         f"events queued during the load {service.queue_depth[scenario]}, "
                         f"same delivery twice answered {service.duplicates_answered[scenario]}")
    relevant = {name: pool for name, pool in pools.items() if name.endswith("-relevant")}
    for _ in range(rounds - 1):
        probot_runs.append(run_probot(pools["github-relevant"], seconds))
        for server in (s for s in servers if s == DEFAULT_SERVER):
            service = run_service(server, relevant, seconds)
            rss = max(rss, service.peak_rss_mb)
            for scenario, result in service.results.items():
                runs[server, scenario].append(result)
    probot = _median(probot_runs)
    figures = [Figure("ingest: Probot peer, issues events", probot.rps, "req/s",
                      note=f"median of {len(probot_runs)}, p99 {probot.p99_ms:.1f} ms, statuses {probot.statuses}")]
    for server in servers:
        figures += [Figure(f"ingest {server}: bare Flask, {t} bodies", r.rps, "req/s", note=f"p99 {r.p99_ms:.1f} ms")
                    for t, r in bare[server].items()]
        for scenario in pools:
            figures += _service_figures(server, scenario, _median(runs[server, scenario]), probot,
                                        bare[server][scenario.split("-")[0]], len(runs[server, scenario]),
                                        deployed=server == DEFAULT_SERVER)
    notes.append("rounds, req/s: Probot " + _series(probot_runs) + "".join(
        f"; {server} {scenario} {_series(results)}" for (server, scenario), results in runs.items() if len(results) > 1))
    # Each server's first round: measured under the same conditions (the default server's later rounds
    # have no counterpart).
    relevant_rps = {server: min(runs[server, scenario][0].rps for scenario in relevant) for server in servers}
    faster = max(relevant_rps, key=relevant_rps.get) if relevant_rps else ""
    others = {server: rps for server, rps in relevant_rps.items() if server != DEFAULT_SERVER}
    if DEFAULT_SERVER in relevant_rps and others:
        other = max(others, key=others.get)
        figures.append(Figure(f"ingest: {DEFAULT_SERVER}, `serve`'s default, is the faster (slower tracker's relevant "
                              "req/s, first round)", relevant_rps[DEFAULT_SERVER], "req/s", target=others[other],
                              baseline=others[other], baseline_name=other))
    return IngestReport(figures, rss, faster, notes)


def _median(results: list[LoadResult]) -> LoadResult:
    """The run with the median rate (the upper one of an even count): its p99 comes from the same run."""
    return sorted(results, key=lambda result: result.rps)[len(results) // 2]


def _series(results: list[LoadResult]) -> str:
    return "/".join(f"{result.rps:,.0f}" for result in results)


def _service_figures(server: str, scenario: str, result: LoadResult, probot: LoadResult,
                     bare: LoadResult, rounds: int, deployed: bool = True) -> list[Figure]:
    """`deployed`: under `pilotgate serve`'s default server, where the relevant-event targets apply;
    under the other server those figures are shown against the same baselines, without a target."""
    tracker, kind = scenario.split("-")
    accepted = result.share("202" if kind == "relevant" else "200")
    expected = "202" if kind == "relevant" else "200"
    note = f"{accepted:.1%} answered {expected}" + (f", median of {rounds}" if rounds > 1 else "")
    checks = [] if accepted >= 0.99 else [
        Figure(f"ingest {server}: {scenario} answered {expected}", 100 * accepted, "%", target=99.0)]
    if kind == "relevant":
        note += "" if deployed else "; not the default server: measured for comparison"
        return checks + [
            Figure(f"ingest {server}: {tracker} relevant req/s", result.rps, "req/s",
                   target=probot.rps if deployed else None, baseline=probot.rps, baseline_name="Probot", note=note),
            Figure(f"ingest {server}: {tracker} relevant p99", result.p99_ms, "ms",
                   target=RELEVANT_P99_MS if deployed else None, higher_is_better=False, baseline=probot.p99_ms,
                   baseline_name="Probot"),
        ]
    return checks + [Figure(f"ingest {server}: {tracker} ignored req/s", result.rps, "req/s",
                   target=IGNORED_SHARE_OF_BARE * bare.rps, baseline=bare.rps, baseline_name="bare Flask",
                   note=note)]
