"""What a connector read a moment ago, kept for the next read of the same epic unless it wrote there since."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Generic, Iterable, TypeVar

T = TypeVar("T")

READ_TTL = 2.0  # seconds: the event's snapshot follows its epic_of at once unless the epic's lock is busy
READS_KEPT = 64  # epics whose read waits for its snapshot: one per worker thread is the usual count
WRITES_KEPT = 4096  # keys whose last write is remembered; older writes only make reads miss, never serve


@dataclass(frozen=True)
class _Kept(Generic[T]):
    at: float
    ticket: int
    keys: frozenset[str]
    read: T


class WriteLog:
    """Stamps of this process's writes by key: a counter that every write moves on, bounded in keys."""

    def __init__(self, keys_kept: int = WRITES_KEPT) -> None:
        self._keys_kept = keys_kept
        self._lock = threading.Lock()
        self._writes: OrderedDict[str, int] = OrderedDict()  # key -> stamp of its latest write
        self._stamp = 0
        self._forgotten = 0  # latest stamp dropped from `_writes`: reads older than it cannot be vouched for

    def ticket(self) -> int:
        """Taken before a read is sent: writes stamped later than it invalidate the read."""
        with self._lock:
            return self._stamp

    def written(self, keys: Iterable[str]) -> None:
        """Stamps a write (call it before and after the write) to each key."""
        with self._lock:
            self._stamp += 1
            for key in keys:
                self._writes.pop(key, None)
                self._writes[key] = self._stamp
            while len(self._writes) > self._keys_kept:
                _, stamp = self._writes.popitem(last=False)
                self._forgotten = max(self._forgotten, stamp)

    def untouched_since(self, ticket: int, keys: Iterable[str]) -> bool:
        """No write to any of `keys` was stamped after `ticket` (as far as the log can still tell)."""
        with self._lock:
            return ticket >= self._forgotten and all(self._writes.get(key, 0) <= ticket for key in keys)


# One log for the whole process: connectors built separately (worker, sweep, admin command) still see
# each other's writes. Keys of different trackers or hosts that collide only cost a miss.
PROCESS_WRITES = WriteLog()


class RecentReads(Generic[T]):
    """Reads kept briefly, each under its epic key, served once.

    A read is never served when this process wrote, after the read began, to any key it covers (the
    epic, its children, whatever else the caller names): every read takes a `ticket()` before it is
    sent, every write is stamped by `written()` before and after it, and a stamp later than the
    ticket makes the read a miss. Thread-safe; bounded in reads and (through the WriteLog) in writes.
    """

    def __init__(self, ttl: float = READ_TTL, *, clock: Callable[[], float] = time.monotonic,
                 reads_kept: int = READS_KEPT, writes: WriteLog = PROCESS_WRITES) -> None:
        self.ttl = ttl
        self._clock = clock
        self._reads_kept = reads_kept
        self.writes = writes
        self._lock = threading.Lock()
        self._reads: OrderedDict[str, _Kept[T]] = OrderedDict()

    def ticket(self) -> int:
        return self.writes.ticket()

    def written(self, keys: Iterable[str]) -> None:
        self.writes.written(keys)

    def keep(self, epic_key: str, ticket: int, keys: Iterable[str], read: T) -> None:
        """Keeps `read` of `epic_key` (covering `keys` as well) until it is taken or expires."""
        now = self._clock()
        with self._lock:
            for old in [k for k, kept in self._reads.items() if now - kept.at > self.ttl]:
                del self._reads[old]
            self._reads.pop(epic_key, None)
            self._reads[epic_key] = _Kept(now, ticket, frozenset(keys) | {epic_key}, read)
            while len(self._reads) > self._reads_kept:
                self._reads.popitem(last=False)

    def take(self, epic_key: str) -> T | None:
        """The read kept for `epic_key`, once; None when absent, expired or older than a write it covers."""
        now = self._clock()
        with self._lock:
            kept = self._reads.pop(epic_key, None)
        if kept is None or now - kept.at > self.ttl:
            return None
        return kept.read if self.writes.untouched_since(kept.ticket, kept.keys) else None
