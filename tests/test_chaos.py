"""Chaos: a stream of tracker events while the tracker fails 20% of calls and bursts 429s; nothing is lost
or doubled. PILOTGATE_CHAOS_EVENTS scales the stream (default 2,000 events over 200 epics, the volume of the issue)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import select

from connectors.sandbox.server import Sandbox
from plugin.jira_webhook import EVENTS as JIRA_EVENTS
from plugin.ledger import Ledger, workers
from plugin.outbox import Outbox
from plugin.templates import load_templates
from tests.chaos_world import (
    EVENTS, EVENTS_PER_EPIC, ROOT, WEBHOOK_THREADS, WebServer, bot_comments, delivery_report,
    gate_counts, human_stream, load, settled, wait_until, write_config,
)
from tests.conftest import TEMPLATES

pytestmark = pytest.mark.timeout(240)  # each run takes 15-25 s on a 2-core VM; a hang must not eat CI
EPICS = max(1, EVENTS // EVENTS_PER_EPIC)
KILLS = 20


class Weather:
    """Keeps the sandbox failing: 20% of calls answer 500, and every `period` a burst of 429s."""

    def __init__(self, sandbox: Sandbox, period: float = 1.0, burst: int = 15) -> None:
        self.sandbox, self.period, self.burst = sandbox, period, burst
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        seed = 0
        while not self.stopping.is_set():
            seed += 1
            self.sandbox.client.faults(error_rate=0.2, burst_429=self.burst, retry_after=1, seed=seed)
            self.stopping.wait(self.period)

    def __enter__(self) -> "Weather":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join()
        self.sandbox.client.faults()  # recovery: no more faults


@pytest.fixture
def world(tmp_path):
    sandbox = Sandbox.start()
    sandbox.state.hooks.deliver_from(WEBHOOK_THREADS)  # concurrent deliveries, as the real trackers send them
    write_config(tmp_path, sandbox.url)
    config = load(tmp_path)
    web = WebServer(tmp_path / "pilotgate.yaml", tmp_path / "web.log")
    # Subscribed to what `pilotgate jira register-webhook` registers, as an admin would have it.
    sandbox.configure_webhooks("jira", f"{web.url}/webhooks/jira", config.jira.webhook_secret, JIRA_EVENTS)
    ledger = Ledger(config.database, base_dir=config.base_dir)
    yield sandbox, config, web, ledger
    ledger.dispose()
    web.stop()
    sandbox.stop()


def assert_nothing_lost_or_doubled(sandbox: Sandbox, ledger: Ledger, plan) -> None:
    gate_keys = {gate.key for gate in load_templates(TEMPLATES)["ai-pilot"].gates}
    wrong_gates = {epic: dict(counts) for epic in plan.epics
                   if (counts := gate_counts(sandbox, epic)) != {key: 1 for key in gate_keys}}
    assert not wrong_gates, f"epics without exactly one set of gates: {dict(list(wrong_gates.items())[:5])}"
    comments = {ticket: bot_comments(sandbox, ticket) for work in plan.work.values() for ticket in work}
    wrong_comments = {t: n for t, n in comments.items() if n != (1 if t in plan.started else 0)}
    assert not wrong_comments, f"tickets with the wrong number of bot comments: {dict(list(wrong_comments.items())[:5])}"
    report = delivery_report(sandbox, ledger)
    assert set(report["final_status"]) <= {200, 202}, f"deliveries not finally accepted: {report['final_status']} {report['final_errors']}"
    assert not report["accepted_without_row"], "a delivery answered 202 left no event"
    assert not report["unsettled"], f"{len(report['unsettled'])} events neither processed nor failed"
    assert not report["completed_twice"], f"processed twice: {report['completed_twice'][:5]} {report['repeated_detail']}"
    assert report["sent"] >= EPICS * EVENTS_PER_EPIC


def test_event_stream_under_500s_and_429_bursts_creates_each_gate_once_and_each_comment_once(world, tmp_path):
    sandbox, config, web, ledger = world
    # Two worker processes, as a scaled-out install runs them: each epic's lock and the consumers'
    # heartbeats are shared through the ledger, and a worker is CPU-bound on one core (one GIL).
    workers = Workers(tmp_path / "pilotgate.yaml", tmp_path / "worker.log")
    for _ in range(2):
        workers.start()
    try:
        with Weather(sandbox):
            plan = human_stream(sandbox, EPICS)
            for delivery_id in list(sandbox.state.hooks.deliveries)[::20]:
                sandbox.client.redeliver(delivery_id)  # GitHub's "Redeliver" and Jira's retries: same id again
            assert sandbox.wait_for_webhooks(60)
            through_most_of_the_backlog(ledger)
        wait_until(settled(sandbox, ledger), 60, "webhooks and queue settling after recovery")
    finally:
        workers.close()
    assert_nothing_lost_or_doubled(sandbox, ledger, plan)


def through_most_of_the_backlog(ledger: Ledger) -> None:
    """Waits, faults still on, until at most 2% of the stream's events wait (retries included).

    The humans act in seconds, so the weather must outlast them for the worker's calls to meet it.
    Not until the queue is empty: the sandbox's 429 bursts last a number of calls, not a time, so an
    idle worker retrying its last few events would meet a whole burst of 429s every second, a
    rate limit no real tracker keeps up once its Retry-After has passed.
    """
    wait_until(lambda: Outbox(ledger).stats().depth <= EVENTS // 50, 120,
               "the worker getting through most of the backlog under faults")


def consuming(ledger: Ledger, pid: int) -> bool:
    """The worker process `pid` has registered its consumer heartbeat (plugin.queue.Heartbeat's id
    is host:pid:random): it is past its imports and taking messages."""
    with ledger.engine.connect() as conn:
        return any(f":{pid}:" in worker_id for worker_id in conn.execute(select(workers.c.id)).scalars())


class Workers:
    """Worker processes forked by tests/chaos_worker.py's fork server, which did the imports once."""

    def __init__(self, config_file, log) -> None:
        self.log = log
        with open(log, "ab") as errors:
            self.server = subprocess.Popen(
                [sys.executable, "-m", "tests.chaos_worker", str(config_file)], cwd=ROOT, text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=errors)

    def start(self) -> int:
        return int(self._ask(f"start {self.log}"))

    def kill(self, pid: int) -> None:
        """SIGKILL, and back once the process is gone."""
        assert self._ask(f"kill {pid}") == f"killed {pid}"

    def _ask(self, command: str) -> str:
        self.server.stdin.write(command + "\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline().strip()
        if not answer:
            raise AssertionError(f"the worker fork server exited with {self.server.wait()} (log: {self.log})")
        return answer

    def close(self) -> None:
        """Kills every worker still running (SIGKILL: the invariants must hold without a goodbye)."""
        self.server.stdin.close()
        self.server.wait(timeout=30)


def test_worker_killed_twenty_times_during_the_stream_still_creates_each_gate_once_and_each_comment_once(
        world, tmp_path):
    """Two worker processes, as in the stream test; each kill takes one of them or both at once (the
    whole service down), at a random moment, and starts them again."""
    sandbox, config, web, ledger = world
    rng = random.Random(11)
    stream: dict = {}
    humans = threading.Thread(target=lambda: stream.update(plan=human_stream(sandbox, EPICS)), daemon=True)
    workers = Workers(tmp_path / "pilotgate.yaml", tmp_path / "worker.log")
    running = [workers.start(), workers.start()]
    kills = 0
    try:
        with Weather(sandbox):
            humans.start()
            while kills < KILLS:
                victims = [pid for pid in running if rng.random() < 0.5] or [rng.choice(running)]
                victims = victims[:KILLS - kills]
                # Killed only once consuming the queue (a kill while it starts tests nothing), then at a
                # random moment: mid-call, mid-write, or idle.
                wait_until(lambda: all(consuming(ledger, pid) for pid in victims), 30,
                           "the workers to be killed consuming the queue")
                time.sleep(rng.uniform(0.2, 1.0))
                for pid in victims:
                    workers.kill(pid)
                    kills += 1
                running = [pid for pid in running if pid not in victims] + [workers.start() for _ in victims]
            humans.join(120)
            assert not humans.is_alive(), "the humans did not finish their stream within 120 s"
            assert sandbox.wait_for_webhooks(60)
            through_most_of_the_backlog(ledger)
        # An event a killed worker took from huey before claiming it is handed out again once that
        # worker's heartbeat is LOST_AFTER seconds old.
        wait_until(settled(sandbox, ledger), 60, "webhooks and queue settling after recovery")
    finally:
        workers.close()
    assert kills == KILLS
    assert_nothing_lost_or_doubled(sandbox, ledger, stream["plan"])
