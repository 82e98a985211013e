"""The sandbox's memory: one lock, plain JSON-able data, optional atomic save to a file on every write."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

Emit = Callable[[str, str, dict[str, Any]], None]  # (tracker, event name, facts)


def now_iso() -> str:
    """UTC now with milliseconds: the precision both trackers show."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def empty_state() -> dict[str, Any]:
    return {
        "seq": 10000,  # numeric ids shared by all records, like database ids
        "jira": {"issues": {}, "comments": {}, "links": {}, "projects": {}},
        "github": {"repos": {}, "issues": {}, "comments": {}, "labels": {}, "statuses": [],
                   "projects": {}, "items": {}},
    }


class Store:
    """Holds both trackers' data behind one re-entrant lock.

    Writers use `with store.write():` so the state file (when configured) is rewritten once per
    write, by an atomic rename, and a sandbox killed at any moment restarts from a consistent file.
    Events collected during a write are emitted after the lock is released, so slow webhook
    receivers never hold up API calls.
    """

    def __init__(self, state_file: str | os.PathLike | None = None) -> None:
        self.lock = threading.RLock()
        self.state_file = Path(state_file) if state_file else None
        self.data = self._load() if self.state_file and self.state_file.exists() else empty_state()
        self.listeners: list[Emit] = []
        self._pending: list[tuple[str, str, dict[str, Any]]] = []
        self._depth = 0
        self.reindex_hooks: list[Callable[[], None]] = []

    def _load(self) -> dict[str, Any]:
        assert self.state_file is not None
        try:
            return json.loads(self.state_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ValueError(f"sandbox state file {self.state_file} is unreadable: {err}") from err

    def next_id(self) -> int:
        with self.lock:
            self.data["seq"] += 1
            return self.data["seq"]

    @contextlib.contextmanager
    def write(self) -> Iterator[dict[str, Any]]:
        with self.lock:
            self._depth += 1
            try:
                yield self.data
            finally:
                self._depth -= 1
                outermost = self._depth == 0
                if outermost:
                    self._save()
                    events, self._pending = self._pending, []
        if outermost:
            for tracker, name, facts in events:
                for listener in self.listeners:
                    listener(tracker, name, facts)

    def emit(self, tracker: str, name: str, facts: dict[str, Any]) -> None:
        """Queue an event for the listeners; sent when the current write completes."""
        with self.lock:
            self._pending.append((tracker, name, facts))

    def _save(self) -> None:
        if not self.state_file:
            return
        folder = self.state_file.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".sandbox-", suffix=".json", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(self.data, out)
        os.replace(tmp, self.state_file)

    def reset(self) -> None:
        with self.write():
            self.data.clear()
            self.data.update(empty_state())
        for hook in self.reindex_hooks:
            hook()
