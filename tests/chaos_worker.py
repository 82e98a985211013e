"""The chaos tests' worker process: `python -m tests.chaos_worker CONFIG` consumes the queue until killed.

Kept apart from tests/chaos_world.py so that starting it imports only what a worker imports (not the
sandbox, Flask or pytest): the SIGKILL test starts it 21 times, and a start that spends its first
second importing is a start the kills mostly hit before it did any work.

Waits (Retry-After, backoff) are compressed by TIME_SCALE in the connector and the retry policy, so a
run that would take minutes of real waiting finishes in seconds while keeping every wait's order.
"""

from __future__ import annotations

import random
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


def main(config_file: str) -> None:
    """A worker process with scaled waits, consuming until killed."""
    runtime, runner = build_chaos_worker(load_config(config_file))
    runner.start()
    threading.Event().wait()


if __name__ == "__main__":
    main(sys.argv[1])
