"""Webhook to comment: `pilotgate serve` against the sandbox; an idle worker; work starts early; how long until
the comment exists on the ticket. Timed from the moment the tracker emitted the event, so the delivery
itself is included (an upper bound of the time from the 202)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

from connectors.sandbox.client import SandboxClient
from connectors.sandbox.github_store import BOT_LOGIN
from connectors.sandbox.jira_store import BOT
from benchmarks.common import BIN_DIR, PYTHON, Figure, free_port, group_pids, peak_rss_mb, running
from benchmarks.service import REPO, SECRET, deployment, health

P95_TARGET_S = 1.0
JIRA_TRIALS = 20
GITHUB_TRIALS = 5
GITHUB_WORK = 5


@dataclass
class LatencyReport:
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    web_peak_rss_mb: float = 0.0
    worker_peak_rss_mb: float = 0.0


def wait(condition: Callable[[], object], timeout: float, what: str, step: float = 0.005):
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout} s")
        time.sleep(step)


def idle(client: SandboxClient, port: int) -> None:
    """Every webhook delivered and processed; then a pause so the worker's polling has backed off fully."""
    wait(lambda: client.wait_for_webhooks(30), 60, "webhooks delivered")
    wait(lambda: _queue_empty(port), 120, "the queue draining", step=0.05)
    time.sleep(0.5)


def _queue_empty(port: int) -> bool:
    queue = health(port).get("queue", {})
    return queue.get("depth") == 0 and queue.get("processing") == 0


def jira_trials(client: SandboxClient, port: int, trials: int) -> list[float]:
    epic = client.jira_epic("AI pilot: latency")["key"]
    wait(lambda: len(client.jira_record(epic)["children"]) >= 4, 60, "Jira gates provisioned", step=0.05)
    seconds = []
    for number in range(trials):
        key = client.jira_issue(f"Latency work {number}", parent=epic)["key"]
        idle(client, port)
        started = time.time()
        client.jira_transition(key, "In Progress")
        wait(lambda: client.jira_record(key)["comments"], 30, f"comment on {key}")
        seconds.append(time.time() - started)
    return seconds


def github_trials(client: SandboxClient, port: int, trials: int) -> list[float]:
    epic = client.github_issue(REPO, "AI pilot: latency", labels=["ai-pilot"])["number"]
    work = [client.github_issue(REPO, f"Latency work {n}", parent=epic)["number"] for n in range(trials)]
    # GitHub writes are spaced a second apart (GitHub's guidance): provisioning takes a while.
    wait(lambda: _github_gates(client, epic) >= 4 + len(work), 180, "GitHub gates provisioned", step=0.2)
    seconds = []
    for number in work:
        idle(client, port)
        time.sleep(1.0)  # the previous trial's comment starts the one-second spacing of writes
        started = time.time()
        client.github_assign(REPO, number, "bob")
        wait(lambda: client.github_record(REPO, number)["comment_bodies"], 30, f"comment on #{number}")
        seconds.append(time.time() - started)
    return seconds


def _github_gates(client: SandboxClient, epic: int) -> int:
    record = client.github_record(REPO, epic)
    return len(record.get("sub_issues") or [])


def measure() -> LatencyReport:
    report = LatencyReport()
    sandbox_port, port = free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    deployed = deployment("latency", tracker_url=sandbox_url, bot_account=BOT["accountId"], bot_login=BOT_LOGIN)
    sandbox = [PYTHON, "-m", "connectors.sandbox", "--port", str(sandbox_port)]
    serve = [str(BIN_DIR / "pilotgate"), "serve", "--config", str(deployed.config), "--port", str(port)]
    with running(sandbox, sandbox_port, log=deployed.folder / "sandbox.log"), \
            running(serve, port, env=deployed.env, log=deployed.folder / "serve.log") as service:
        client = SandboxClient(sandbox_url)
        for tracker in ("jira", "github"):
            client.webhooks(tracker, f"http://127.0.0.1:{port}/webhooks/{tracker}", SECRET)
        for tracker, run, trials in (("jira", jira_trials, JIRA_TRIALS), ("github", github_trials, GITHUB_TRIALS)):
            seconds = run(client, port, trials)
            p95 = _p95(seconds)
            report.figures.append(Figure(f"webhook to comment: {tracker} p95", p95, "s", target=P95_TARGET_S,
                                         higher_is_better=False, note=f"{len(seconds)} trials"))
            report.notes.append(f"webhook to comment, {tracker}: median {statistics.median(seconds):.3f} s, "
                                f"max {max(seconds):.3f} s over {len(seconds)} trials")
        report.worker_peak_rss_mb = peak_rss_mb(service.pid)
        report.web_peak_rss_mb = max([peak_rss_mb(pid) for pid in group_pids(service.pid) if pid != service.pid] or [0.0])
    return report


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
