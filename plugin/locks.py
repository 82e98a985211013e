"""Per-epic locks across processes: file locks beside a SQLite ledger, advisory locks in PostgreSQL.

Both kinds are released by the operating system or the database server when their holder dies,
so a worker killed mid-way never leaves an epic locked.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import ContextManager, Iterator, Protocol

from sqlalchemy import Engine, text

from plugin.model import Tracker


class EpicLocks(Protocol):
    def hold(self, tracker: Tracker, epic_key: str) -> ContextManager[bool]:
        """Try to take the epic's lock without waiting; yields whether it was taken."""


def _lock_name(tracker: Tracker, epic_key: str) -> bytes:
    return f"{tracker.value}:{epic_key}".encode("utf-8")


class FileLocks:
    """flock(2) on one small file per epic: works between threads and processes of one machine,
    which is where a SQLite ledger lives anyway."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def hold(self, tracker: Tracker, epic_key: str) -> Iterator[bool]:
        path = self.folder / f"{hashlib.sha1(_lock_name(tracker, epic_key)).hexdigest()[:24]}.lock"
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        finally:
            os.close(descriptor)


class PostgresLocks:
    """Session advisory locks: held on one pooled connection for the length of the work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def hold(self, tracker: Tracker, epic_key: str) -> Iterator[bool]:
        key = int.from_bytes(hashlib.blake2b(_lock_name(tracker, epic_key), digest_size=8).digest(),
                             "big", signed=True)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
                yield False
                return
            try:
                yield True
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})


def locks_for(engine: Engine) -> EpicLocks:
    if engine.dialect.name == "postgresql":
        return PostgresLocks(engine)
    database = engine.url.database
    if database and database != ":memory:":
        return FileLocks(Path(f"{database}.locks"))
    return FileLocks(Path(tempfile.mkdtemp(prefix="pilotgate-locks-")))
