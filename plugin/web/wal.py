"""SQLite's WAL checkpoints moved off the webhook requests onto one background thread per web process.

By default the connection whose commit pushes the WAL past 1,000 pages copies it into the database and
fsyncs, inside that request: tens of milliseconds on a VM disk, felt by every delivery queued behind it
(the ingest benchmark's p99). Here web connections never checkpoint on commit; a daemon thread runs a
PASSIVE checkpoint (it never blocks writers or readers) every `interval` seconds instead.

The interval sets the webhooks' tail latency: each checkpoint copies what came in since the last one
and syncs, on the same two cores. At about 4,000 deliveries a second the ingest benchmark's p99 was
11-17 ms with 0.5 s, 9-11 ms with 0.25 s and 7-8 ms with 0.1 s (docs/PERFORMANCE.md, "Ingest").
"""

from __future__ import annotations

import logging
import os
import threading
import weakref

from sqlalchemy import Engine, event, text
from sqlalchemy.exc import SQLAlchemyError

LOG = logging.getLogger("pilotgate.web")
_process_generation = 0  # bumped in each forked child: a request asks "is my thread here?" without a syscall


def _forked() -> None:
    global _process_generation
    _process_generation += 1


os.register_at_fork(after_in_child=_forked)


class WalCheckpointer:
    def __init__(self, engine: Engine, interval: float = 0.25) -> None:
        self.engine = engine
        self.interval = interval
        self._generation = -1  # the _process_generation the thread was started in
        self._lock = threading.Lock()
        self._stop = threading.Event()
        event.listen(engine, "connect", _no_checkpoint_on_commit)
        engine.dispose()  # connections opened before the listener (schema creation) would still checkpoint

    def ensure_running(self) -> None:
        """Starts the thread in this process; cheap when it runs. Called per request, not at start-up,
        because a server that forks its workers after loading the app (gunicorn --preload) keeps no
        thread across the fork."""
        if self._generation == _process_generation:
            return
        with self._lock:
            if self._generation != _process_generation:
                self._generation = _process_generation
                threading.Thread(target=_run, args=(weakref.ref(self), self._stop, self.interval),
                                 name="pilotgate-wal-checkpoint", daemon=True).start()

    def checkpoint(self) -> tuple[int, int, int]:
        """SQLite's answer: (busy, frames in the WAL, frames copied into the database)."""
        with self.engine.connect() as conn:
            return tuple(conn.execute(text("PRAGMA wal_checkpoint(PASSIVE)")).one())

    def stop(self) -> None:
        self._stop.set()



def _run(owner: "weakref.ref[WalCheckpointer]", stop: threading.Event, interval: float) -> None:
    # A weak reference: an application that is dropped (tests build many) takes its thread with it.
    while not stop.wait(interval):
        checkpointer = owner()
        if checkpointer is None:
            return
        try:
            checkpointer.checkpoint()
        except SQLAlchemyError as err:  # a locked or missing file now is retried at the next interval
            LOG.warning("WAL checkpoint failed: %s", type(err).__name__)
        del checkpointer


def _no_checkpoint_on_commit(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()
