"""The chaos tests' worker processes: `python -m tests.chaos_worker CONFIG` forks a worker process, which
consumes the queue until killed, each time it reads "start LOG" on stdin.

A fork server, as gunicorn's preload: the imports (1.2-1.7 s, mostly SQLAlchemy, huey and its Redis and
PostgreSQL drivers) are done once, before any thread or connection exists, and each worker is a fresh
process forked from there that opens its own. The SIGKILL test starts 21 workers; it used to spend
most of its time waiting for each one's imports. Kept apart from tests/chaos_world.py so that it
imports only what a worker imports (not the sandbox, Flask or pytest).

Waits (Retry-After, backoff) are compressed by TIME_SCALE in the connector and the retry policy, so a
run that would take minutes of real waiting finishes in seconds while keeping every wait's order.
"""

from __future__ import annotations

import importlib
import os
import random
import signal
import sys
import threading
import time

from plugin.config import Config, load_config
from plugin.ledger import Ledger
from plugin.model import Tracker
from plugin.queue import Heartbeat, Runner
from plugin.worker import RetryPolicy

TIME_SCALE = 0.02  # one second of tracker-requested waiting takes 20 ms here
LOST_AFTER = 2.0  # seconds of silence after which a worker process counts as killed


class ScaledPolicy(RetryPolicy):
    """The worker's retry policy on the compressed clock, a tracker's Retry-After included."""

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        return super().delay(attempt, retry_after * TIME_SCALE if retry_after else None, rng)


FAST_POLICY = ScaledPolicy(attempts=40, base=2.0 * TIME_SCALE, cap=600.0 * TIME_SCALE)


def scaled_sleep(seconds: float) -> None:
    time.sleep(max(0.0, seconds) * TIME_SCALE)


def build_chaos_worker(config: Config, threads: int = 4):
    """A worker runtime whose connector sleeps scaled time; the queue runner is not started."""
    from connectors.jira import JiraConnector
    from connectors.jira_http import jira_session
    from plugin.wiring import build_worker

    ledger = Ledger(config.database, base_dir=config.base_dir)  # the connector's Memory: same database
    connectors = {Tracker.JIRA: JiraConnector(config.jira, ledger, session=jira_session(config.jira),
                                              sleep=scaled_sleep)}
    runtime = build_worker(config, connectors=connectors, policy=FAST_POLICY)
    # A killed worker's lost messages are handed out again within seconds, not the default 15 s.
    heartbeat = Heartbeat(runtime.queue, every=0.25, lost_after=LOST_AFTER)
    return runtime, Runner(runtime.queue, threads, periodic=False, heartbeat=heartbeat)


def consume(config_file: str) -> None:
    """A worker with scaled waits, consuming until killed."""
    runtime, runner = build_chaos_worker(load_config(config_file))
    runner.start()
    threading.Event().wait()


def serve(config_file: str) -> None:
    """Answers "start LOG" with the pid of a new worker writing to LOG, "kill PID" with "killed PID"
    once that worker is gone (killed with SIGKILL and reaped), until stdin closes."""
    for module in ("connectors.jira", "connectors.jira_http", "plugin.wiring"):  # build_chaos_worker's own
        importlib.import_module(module)
    children: set[int] = set()
    try:
        for line in sys.stdin:
            command, _, argument = line.strip().partition(" ")
            if command == "start":
                pid = _fork(config_file, argument)
                children.add(pid)
                print(pid, flush=True)
            elif command == "kill":
                pid = int(argument)
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                children.discard(pid)
                print(f"killed {pid}", flush=True)
            else:  # an answer all the same: the test waits for one line per command
                print(f"unknown command {command!r}", flush=True)
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _fork(config_file: str, log: str) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:  # the worker: its output to LOG, never back into the server's loop
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(0)
        consume(config_file)
    finally:
        os._exit(1)


if __name__ == "__main__":
    serve(sys.argv[1])
