"""The chaos world: the sandbox tracker with faults, the real web service on loopback, a real worker process
(tests/chaos_worker.py, whose waits run on a compressed clock).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml
from sqlalchemy import func, select

from connectors.sandbox.jira_people import JiraPerson
from connectors.sandbox.jira_store import BOT
from connectors.sandbox.server import Sandbox
from plugin.config import Config, config_from_mapping
from plugin.ledger import Ledger, audit, events
from plugin.outbox import Outbox
from tests.conftest import config_mapping

ROOT = Path(__file__).resolve().parents[1]
EVENTS = int(os.environ.get("PILOTGATE_CHAOS_EVENTS", "2000"))  # the issue's volume: 2,000 events over 200 epics
WEBHOOK_THREADS = 8  # the sandbox's concurrent deliveries; each waits for the web service's INSERT
EVENTS_PER_EPIC = 10
WORK_PER_EPIC = 5
STARTED_PER_EPIC = 3
GATE_LABEL_PREFIX = "pilotgate-gate-"


def chaos_config(folder: Path, sandbox_url: str) -> dict[str, Any]:
    mapping = config_mapping(folder, github=None)
    mapping["jira"] = {**mapping["jira"], "url": sandbox_url, "bot_account": BOT["accountId"]}
    return mapping


class WebServer:
    """The web service as production runs it: granian (`pilotgate serve`'s server) in its own process
    on a loopback port, the way the sandbox's webhooks reach it. Its connections stay open between
    deliveries, and its CPU is not taken from the sandbox's."""

    def __init__(self, config_file: Path, log: Path) -> None:
        from plugin.commands.service import server_command

        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                server_command("granian", "127.0.0.1", port, workers=1), cwd=ROOT, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,  # its own group: stop() ends granian's worker too
                env={**os.environ, "PYTHONPATH": str(ROOT), "PILOTGATE_CONFIG": str(config_file)})
        try:
            wait_until(self._answers, 30, f"the web service on {self.url} answering (log: {log})")
        except AssertionError:
            self.stop()  # a server that never answered must not outlive the test
            raise

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"the web service exited with {self.process.returncode}")
        try:
            requests.get(f"{self.url}/healthz", timeout=1)
        except requests.ConnectionError:
            return False
        return True

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Plan:
    """What the humans did: epics, their work tickets, which tickets were started (all before gates)."""

    epics: list[str] = field(default_factory=list)
    work: dict[str, list[str]] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)


def human_stream(sandbox: Sandbox, epics: int, seed: int = 7) -> Plan:
    """Every epic's steps in order, epics interleaved at random: create, add work, start, reassign.

    Ten tracker events per epic (the bot's own writes come on top and are ignored as its own). The
    humans act in the sandbox's process, not through its admin API: over HTTP, their 2,000 actions took
    this process's CPU from the sandbox's answers to the worker for 10-15 s.
    """
    rng = random.Random(seed)
    client = JiraPerson(sandbox.state.jira)
    plan = Plan()
    steps = {n: _epic_steps(n) for n in range(epics)}
    keys: dict[int, str] = {}
    pending = list(range(epics))
    while pending:
        n = rng.choice(pending)
        step = steps[n].pop(0)
        if not steps[n]:
            pending.remove(n)
        if step[0] == "epic":
            keys[n] = client.jira_epic(f"AI pilot {n}: invoice triage")["key"]
            plan.epics.append(keys[n])
            plan.work[keys[n]] = []
        elif step[0] == "work":
            plan.work[keys[n]].append(client.jira_issue(f"Pilot {n} work {step[1]}", parent=keys[n])["key"])
        elif step[0] == "start":
            ticket = plan.work[keys[n]][step[1]]
            client.jira_transition(ticket, "In Progress")
            plan.started.add(ticket)
        else:
            client.jira_assign(plan.work[keys[n]][step[1]], "557058:bob")
    return plan


def _epic_steps(n: int) -> list[tuple[str, int]]:
    return ([("epic", 0)] + [("work", i) for i in range(WORK_PER_EPIC)]
            + [("start", i) for i in range(STARTED_PER_EPIC)] + [("assign", WORK_PER_EPIC - 1)])


def drained(ledger: Ledger) -> bool:
    """Nothing waiting: no delivery left in the intake (not yet admitted by a worker's dispatcher), no
    event queued (retries included) or being processed."""
    stats = Outbox(ledger).stats()
    return stats.depth == 0 and stats.processing == 0


def settled(sandbox: Sandbox, ledger: Ledger):
    """A condition for `wait_until`: no webhook waiting in the sandbox and no event in the outbox, twice
    in a row with no new delivery between. The workers' own writes send webhooks too, so a drained
    outbox alone may still have deliveries on their way to it."""
    seen: list[int] = []

    def check() -> bool:
        hooks = sandbox.state.hooks
        quiet = hooks.wait_idle(0.0) and drained(ledger) and hooks.wait_idle(0.0)
        seen.append(len(hooks.deliveries) if quiet else -1)
        return len(seen) > 1 and seen[-1] == seen[-2] != -1

    return check


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.1)


def gate_counts(sandbox: Sandbox, epic_key: str) -> Counter:
    """Gate key -> how many gate tickets of that key sit under the epic."""
    jira = sandbox.state.jira
    with jira.store.lock:
        children = [jira.issue(k) for k in jira.children.get(epic_key, [])]
    return Counter(label[len(GATE_LABEL_PREFIX):] for child in children for label in child["labels"]
                   if label.startswith(GATE_LABEL_PREFIX))


def bot_comments(sandbox: Sandbox, ticket_key: str) -> int:
    jira = sandbox.state.jira
    with jira.store.lock:
        return sum(1 for c in jira.comments_of(ticket_key) if _author(c) == BOT["accountId"])


def _author(comment: dict[str, Any]) -> str | None:
    author = comment.get("author")
    return author.get("accountId") if isinstance(author, dict) else author


def delivery_report(sandbox: Sandbox, ledger: Ledger) -> dict[str, Any]:
    """Each sandbox delivery next to what the service made of it."""
    sent = list(sandbox.state.hooks.deliveries.values())
    with ledger.engine.connect() as conn:
        rows = {d: s for d, s in conn.execute(select(events.c.delivery, events.c.status))}
        # The same write done twice for one delivery would mean it was processed twice.
        repeated = conn.execute(
            select(audit.c.delivery).where(audit.c.done.is_(True), audit.c.action != "none")
            .group_by(audit.c.delivery, audit.c.action, audit.c.ticket_key, audit.c.rule).having(func.count() > 1)).scalars().all()
    final = Counter(d.attempts[-1].get("status") if d.attempts else None for d in sent)
    accepted = [d for d in sent if any(a.get("status") == 202 for a in d.attempts)]
    return {
        "sent": len(sent), "final_status": final, "rows": rows,
        "final_errors": Counter(d.attempts[-1].get("error") for d in sent if d.attempts and d.attempts[-1].get("error")),
        "accepted_without_row": [d.id for d in accepted if d.id not in rows],
        "unsettled": [d for d, s in rows.items() if s not in ("done", "failed")],
        "completed_twice": sorted(set(repeated)),
        "repeated_detail": [dict(r._mapping) for r in _audit_of(ledger, repeated[:1])],
    }


def _audit_of(ledger: Ledger, deliveries: list[str]) -> list:
    with ledger.engine.connect() as conn:
        return conn.execute(select(audit).where(audit.c.delivery.in_(deliveries)).order_by(audit.c.id)).all()


def write_config(folder: Path, sandbox_url: str) -> Path:
    path = folder / "pilotgate.yaml"
    path.write_text(yaml.safe_dump(chaos_config(folder, sandbox_url)), encoding="utf-8")
    return path


def load(folder: Path) -> Config:
    return config_from_mapping(yaml.safe_load((folder / "pilotgate.yaml").read_text()), base_dir=folder)
