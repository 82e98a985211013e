"""A FakeConnector whose tracker state lives in a JSON file: it survives a SIGKILLed worker and is shared
by worker processes (flock). Also the entry point those worker processes run: `python -m tests.filefake`."""

from __future__ import annotations

import fcntl
import itertools
import json
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import fields
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Iterator

from connectors.base import Outcome
from plugin.model import CreateGates, StatusCategory, Ticket, Tracker
from tests.fakes import FakeConnector


def _plain(value):
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def ticket_to_dict(ticket: Ticket) -> dict:
    return {f.name: _plain(getattr(ticket, f.name)) for f in fields(ticket)}


def ticket_from_dict(data: dict) -> Ticket:
    values = dict(data)
    values["tracker"] = Tracker(values["tracker"])
    values["category"] = StatusCategory(values["category"])
    values["labels"] = frozenset(values["labels"])
    values["blocked_by"] = frozenset(values["blocked_by"])
    for name in ("created", "status_changed"):
        values[name] = datetime.fromisoformat(values[name]) if values[name] else None
    values["due"] = date.fromisoformat(values["due"]) if values["due"] else None
    return Ticket(**values)


class FileConnector(FakeConnector):
    """Every call loads the file under an exclusive flock and writes it back after a change.
    Gates are created one by one with `gate_delay` between them, so a kill can land mid-way."""

    def __init__(self, path: Path, tracker: Tracker = Tracker.JIRA, *, latency: float = 0.0,
                 gate_delay: float = 0.0) -> None:
        super().__init__(tracker, latency=latency)
        self.path = Path(path)
        self.gate_delay = gate_delay
        self._held = threading.local()

    @contextmanager
    def _state(self) -> Iterator[None]:
        """Reentrant within a thread: pilot_epics holds it while FakeConnector's calls snapshot
        (flock conflicts between two descriptors of one process: the sweep deadlocked itself)."""
        if getattr(self._held, "lock", False):
            yield
            return
        with open(f"{self.path}.lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._held.lock = True
            try:
                self._load()
                yield
                self.save()
            finally:
                self._held.lock = False
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> None:
        data = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.tickets = {k: ticket_from_dict(v) for k, v in data.get("tickets", {}).items()}
        self.comments = data.get("comments", {})
        self.recorded = data.get("recorded", [])
        numbers = [int(k.rsplit("-", 1)[1]) for k in self.tickets if k.rsplit("-", 1)[-1].isdigit()]
        self._numbers = itertools.count(max(numbers, default=0) + 1)

    def save(self) -> None:
        data = {"tickets": {k: ticket_to_dict(t) for k, t in self.tickets.items()},
                "comments": self.comments, "recorded": self.recorded}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data))
        temporary.replace(self.path)

    def load(self) -> "FileConnector":
        with self._state():
            return self

    def snapshot(self, epic_key: str):
        self._call()
        with self._state():
            return super().snapshot(epic_key)

    def epic_of(self, ticket_key: str):
        with self._state():
            return super().epic_of(ticket_key)

    def pilot_epics(self, only=None):
        with self._state():
            epics = list(super().pilot_epics(only))
        return iter(epics)

    def _apply_one(self, epic_key: str, action):
        if not isinstance(action, CreateGates):
            with self._state():
                return super()._apply_one(epic_key, action)
        created: list[str] = []
        for spec in action.gates:  # one write per gate: what a tracker does, one request each
            with self._state():
                outcome = self._create_gates(CreateGates(action.epic_key, (spec,)))
            created += outcome.created_keys
            time.sleep(self.gate_delay)
        return Outcome(action, bool(created), "" if created else "gates exist", tuple(created))


def main(config_file: str, state_file: str, gate_delay: str = "0") -> None:
    """A `pilotgate worker` whose tracker is the file fake."""
    from plugin.config import load_config
    from plugin.logs import configure_logging
    from plugin.wiring import build_worker
    from plugin.worker import RetryPolicy

    config = load_config(config_file)
    configure_logging(config)
    connector = FileConnector(Path(state_file), gate_delay=float(gate_delay))
    runtime = build_worker(config, connectors={Tracker.JIRA: connector}, policy=RetryPolicy(attempts=5, base=0.05))
    # No scheduled tasks: on a quarter hour the periodic sweep took the epic's lock before the event's
    # pass, so the crash test's kill found its event deferred instead of in hand (and the test failed
    # at those times). A restarted worker still recovers what a killed one left (Runner.run).
    runtime.runner(threads=4, periodic=False).run()


if __name__ == "__main__":
    main(*sys.argv[1:])
