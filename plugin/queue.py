"""The queue: huey (a SQLite file, or Redis when scaled out) carries events to worker threads and runs
the periodic sweep; a dispatcher thread hands it the due rows of the outbox.

Why a dispatcher instead of an enqueue in the web request: the outbox row is already the durable
queue entry, and a second write per webhook (to huey's storage) cost more than the row itself.
Messages in huey are therefore only hints: one lost with a killed worker is handed out again as soon
as that worker's heartbeat goes stale (see Heartbeat).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from datetime import datetime
from pathlib import Path
from typing import Callable

from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer
from sqlalchemy.engine import make_url

from plugin import logs
from plugin.config import Config
from plugin.ledger import Ledger
from plugin.outbox import Outbox

LOG = logging.getLogger("pilotgate.queue")
PRUNE_AFTER = 14 * 24 * 3600.0  # done events are kept this long: the dedupe window for redeliveries
POLL_SECONDS = 0.05
HEARTBEAT_SECONDS = 2.0  # how often each consumer process says it is alive
LOST_AFTER = 15.0  # not heard of for this long: dead, and what it took from huey is handed out again


def make_huey(url: str, base_dir: Path = Path(".")) -> Huey:
    if url.startswith("redis"):
        return RedisHuey("pilotgate", url=url, results=False, utc=True)
    path = make_url(url).database or "pilotgate-queue.db"
    if not Path(path).is_absolute():
        path = str((base_dir / path).resolve())
    # No fsync: a lost message is re-dispatched from the outbox, which is the durable record.
    return SqliteHuey("pilotgate", filename=path, results=False, utc=True, fsync=False)


class Queue:
    """huey and its three tasks: process one event, maintenance each minute, the periodic sweep."""

    def __init__(self, config: Config, ledger: Ledger, *, huey: Huey | None = None) -> None:
        self.huey = huey or make_huey(config.queue, config.base_dir)
        self.ledger = ledger
        self.outbox = Outbox(ledger)
        self.sweep_minutes = config.sweep_minutes
        self.process: Callable[[int], None] | None = None
        self.sweeper: Callable[[], object] | None = None
        self.process_event = self.huey.task(name="pilotgate.process_event")(self._process_event)
        self.huey.periodic_task(crontab(), name="pilotgate.maintain")(self.maintain)
        self.huey.periodic_task(self._sweep_due, name="pilotgate.sweep")(self.sweep)

    def bind(self, process: Callable[[int], None], sweeper: Callable[[], object] | None = None) -> "Queue":
        """Gives the tasks their work: only processes that consume the queue need this."""
        self.process, self.sweeper = process, sweeper
        return self

    def _process_event(self, event_id: int) -> None:
        if self.process is None:
            raise RuntimeError("this queue has no worker bound (Queue.bind)")
        self.process(event_id)

    def dispatch(self, limit: int = 100) -> int:
        """Hands due outbox rows to huey; returns how many."""
        ids = self.outbox.dispatch_due(limit)
        for event_id in ids:
            self.process_event(event_id)
        return len(ids)

    def recover(self) -> int:
        """Requeues events left 'processing' by a dead worker: their epic's lock is free again."""
        count = 0
        for record in self.outbox.processing():
            if record.epic_key is None:
                count += self.outbox.requeue(record.id)
                continue
            with self.ledger.locks.hold(record.tracker, record.epic_key) as held:
                if held and self.outbox.requeue(record.id):
                    count += 1
        if count:
            logs.warning(LOG, "requeued events of a stopped worker", count=count)
        return count

    def lost_consumers(self, dead: list[str]) -> int:
        """What consumers that died took from huey is handed out again; returns how many events."""
        handed = self.outbox.release_dispatched()
        self.recover()
        logs.warning(LOG, "consumers stopped answering; their events are handed out again",
                     consumers=",".join(dead), events=handed)
        if handed:
            with self.ledger.write() as conn:
                self.ledger.add_counts(conn, {("redispatched", ""): float(handed)})
        return handed

    def maintain(self) -> None:
        self.recover()
        if self.ledger.claim_slot("prune", 3600):
            self.outbox.prune(PRUNE_AFTER)

    def _sweep_due(self, when: datetime) -> bool:
        return int(when.timestamp() // 60) % self.sweep_minutes == 0

    def sweep(self) -> None:
        # Every consumer's scheduler fires this; the slot lets one of them run it per period.
        if self.sweeper is not None and self.ledger.claim_slot("sweep", self.sweep_minutes * 60):
            self.sweeper()


class Heartbeat:
    """This consumer process's row in the ledger's `workers` table, refreshed by its dispatcher.

    huey hands a message to one consumer and forgets it: if that process dies before claiming the
    event, only the outbox row is left, marked as handed out. A row not refreshed for `lost_after`
    seconds is a dead consumer; whichever dispatcher notices first deletes it and hands out again
    every event still waiting to be claimed (a live consumer holding one only wakes up twice).
    """

    def __init__(self, queue: "Queue", every: float = HEARTBEAT_SECONDS, lost_after: float = LOST_AFTER) -> None:
        if not 0 < every < lost_after:
            raise ValueError(f"heartbeat every {every} s must be > 0 and shorter than lost_after {lost_after} s")
        self.queue, self.every, self.lost_after = queue, every, lost_after
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._next = 0.0

    def beat(self) -> int:
        """Refreshes this consumer's row when it is due; returns how many events were handed out again."""
        ledger = self.queue.ledger
        now = ledger.clock()
        if now < self._next:
            return 0
        self._next = now + self.every
        dead = ledger.worker_seen(self.id, self.lost_after)
        return self.queue.lost_consumers(dead) if dead else 0

    def stop(self) -> None:
        self.queue.ledger.worker_gone(self.id)


class _Consumer(Consumer):
    # Only `Runner.run()`, a process's main loop, takes over SIGINT/SIGTERM/SIGHUP. An embedded
    # `Runner.start()` (the demo, tests) leaves them to its host, whose Ctrl-C must still work.
    owns_signals = False

    def _set_signal_handlers(self) -> None:
        if self.owns_signals and threading.current_thread() is threading.main_thread():
            super()._set_signal_handlers()


class Runner:
    """huey's consumer threads plus the dispatcher thread; `run()` blocks (CLI), `start()`/`stop()` don't."""

    def __init__(self, queue: Queue, workers: int, *, poll: float = POLL_SECONDS, periodic: bool = True,
                 heartbeat: Heartbeat | None = None) -> None:
        self.queue = queue
        self.poll = poll
        self.heartbeat = heartbeat or Heartbeat(queue)
        self.stopping = threading.Event()
        # Short polling back-off: an idle worker notices a new event within ~0.1 s, not huey's 10 s.
        self.consumer = _Consumer(queue.huey, workers=workers, worker_type="thread", periodic=periodic,
                                  initial_delay=0.02, backoff=1.5, max_delay=0.1, scheduler_interval=1)
        self.dispatcher = threading.Thread(target=self._dispatch_loop, name="pilotgate-dispatcher", daemon=True)

    def start(self) -> "Runner":
        self.heartbeat.beat()  # registered before taking any message: its death is noticed
        self.queue.recover()
        self.consumer.start()
        self.dispatcher.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.consumer.stop(graceful=True)
        self.dispatcher.join(timeout=5)
        self.heartbeat.stop()

    def run(self) -> None:
        """Until SIGINT or SIGTERM: both finish the events in hand, then return."""
        self.heartbeat.beat()
        self.queue.recover()
        self.dispatcher.start()
        self.consumer._signal_actions[signal.SIGTERM] = (False, True)  # TERM, like INT: finish, then stop
        self.consumer.owns_signals = True
        try:
            self.consumer.run()
        finally:
            self.stopping.set()
            self.dispatcher.join(timeout=5)
            self.heartbeat.stop()

    def _dispatch_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.heartbeat.beat()
                handed = self.queue.dispatch()
            except Exception as err:  # the database is away: keep trying, the rows wait in the outbox
                logs.error(LOG, "dispatch failed", error=f"{type(err).__name__}: {err}")
                self.stopping.wait(1.0)
                continue
            if not handed:
                self.stopping.wait(self.poll)
