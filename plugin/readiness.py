"""Readiness of every pilot epic, read from the trackers at most once per TTL and shared by all page views."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterable, Mapping

from connectors.base import Connector, TrackerError
from plugin.engine import Readiness, assess
from plugin.model import Tracker
from plugin.report import PilotRow, pilot_rows
from plugin.templates import Template

log = logging.getLogger(__name__)
DEFAULT_TTL = 300.0  # seconds a snapshot is served before a page view triggers a fresh read
MIN_REFRESH = 30.0  # an admin's "Refresh" click re-reads the trackers at most this often


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Snapshot:
    """Every pilot's readiness at one moment, and the trackers that could not be read then."""

    readiness: tuple[Readiness, ...]
    taken_at: datetime
    errors: tuple[str, ...] = ()

    def rows(self) -> list[PilotRow]:
        """Rows as of when the snapshot was taken (ages and overdue states belong to that moment)."""
        return pilot_rows(self.readiness, self.taken_at)


def assess_all(connectors: Iterable[Connector], templates: Mapping[Tracker, Template], now: datetime) -> Snapshot:
    """Assess every pilot epic of every tracker; a tracker that fails is named in `errors`, not fatal."""
    found: list[Readiness] = []
    errors: list[str] = []
    for connector in connectors:
        template = templates[connector.tracker]
        try:
            found.extend(assess(template, epic, now) for epic in connector.pilot_epics())
        except TrackerError as err:
            log.warning("readiness: reading %s failed: %s", connector.tracker.value, err)
            errors.append(f"{connector.tracker.value}: {err}")
    return Snapshot(tuple(found), now, tuple(errors))


class SnapshotCache:
    """Serves the latest snapshot; re-reads the trackers only when it is older than `ttl`.

    The first request waits for a snapshot. After that, an expired snapshot is still served while
    one background thread reads a fresh one, so a page view never waits on the trackers and a
    burst of page views causes one read. `refresh()` reads now, unless the last read is younger
    than `min_refresh`. The periodic sweep can hand over what it assessed with `publish()`.
    """

    def __init__(self, collect: Callable[[datetime], Snapshot], *, ttl: float = DEFAULT_TTL,
                 min_refresh: float = MIN_REFRESH, clock: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = utcnow, background: bool = True) -> None:
        self._collect = collect
        self.ttl = ttl
        self.min_refresh = min_refresh
        self._clock = clock
        self._now = now
        self._background = background
        self._lock = threading.Lock()  # guards the fields below
        self._read_lock = threading.Lock()  # one tracker read at a time
        self._snapshot: Snapshot | None = None
        self._read_at = float("-inf")
        self._reading = False

    def get(self) -> Snapshot:
        with self._lock:
            current, age = self._snapshot, self._clock() - self._read_at
            stale = current is not None and age > self.ttl and not self._reading
            if stale:
                self._reading = True
        if current is None:
            return self._read(force=False)
        if stale:
            if self._background:
                threading.Thread(target=self._read_in_background, name="readiness-refresh", daemon=True).start()
            else:
                self._read_in_background()
        return current

    def refresh(self) -> Snapshot:
        """A fresh read for an admin who asked for one, rate-limited by `min_refresh`."""
        return self._read(force=True)

    def publish(self, snapshot: Snapshot) -> None:
        with self._lock:
            self._snapshot, self._read_at = snapshot, self._clock()

    @property
    def age(self) -> float | None:
        """Seconds since the last read, None before the first."""
        with self._lock:
            return None if self._snapshot is None else self._clock() - self._read_at

    def _read(self, force: bool) -> Snapshot:
        with self._read_lock:
            with self._lock:
                current, age = self._snapshot, self._clock() - self._read_at
            # Whoever waited for the read lock reuses what the reader before it just fetched.
            if current is not None and (age <= self.min_refresh or not force):
                return current
            snapshot = self._collect(self._now())
            self.publish(snapshot)
            return snapshot

    def _read_in_background(self) -> None:
        try:
            with self._read_lock:
                self.publish(self._collect(self._now()))
        except Exception:  # noqa: BLE001 - a failed refresh keeps the old snapshot; the next view retries
            log.exception("readiness: background refresh failed")
        finally:
            with self._lock:
                self._reading = False
