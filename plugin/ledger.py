"""The ledger (SQLAlchemy): gate tickets and bot comments per epic, the audit trail, counters, run slots."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from sqlalchemy import (
    BigInteger, Boolean, Column, Connection, Engine, Float, Index, Integer, MetaData, String, Table, Text,
    UniqueConstraint, bindparam, create_engine, delete, event, select, text, update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.sql.dml import Insert

from plugin.locks import EpicLocks, locks_for
from plugin.model import Tracker

metadata = MetaData()
_Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements only an INTEGER primary key

events = Table(
    "events", metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("tracker", String(16), nullable=False),
    Column("delivery", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("ticket_key", String(255), nullable=False),
    Column("epic_key", String(255)),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("received_at", Float, nullable=False),
    Column("due_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("dispatched_at", Float),  # handed to a huey worker; handed again if that got lost
    # The dedupe key: a redelivered webhook collides here and is answered "duplicate".
    UniqueConstraint("tracker", "delivery", name="uq_events_delivery"),
    Index("ix_events_status_due", "status", "due_at"),
    Index("ix_events_epic", "tracker", "epic_key", "status"),
)

# Deliveries as a webhook accepted them, until the queue's dispatcher moves them into `events`
# (Outbox.admit). Every webhook request waits on this INSERT, so the row is narrow and carries only
# the dedupe index: each index of `events` is one more page written to the WAL at every commit.
intake = Table(
    "intake", metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("tracker", String(16), nullable=False),
    Column("delivery", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("ticket_key", String(255), nullable=False),
    Column("payload", Text, nullable=False),
    Column("received_at", Float, nullable=False),
    UniqueConstraint("tracker", "delivery", name="uq_intake_delivery"),
)

gates = Table(
    "gates", metadata,
    Column("tracker", String(16), primary_key=True),
    Column("epic_key", String(255), primary_key=True),
    Column("gate", String(100), primary_key=True),
    Column("ticket_key", String(255), nullable=False),
    Column("ref", String(255), nullable=False, server_default=""),
    Column("created_at", Float, nullable=False),
)

comments = Table(
    "comments", metadata,
    Column("tracker", String(16), primary_key=True),
    Column("ticket_key", String(255), primary_key=True),
    Column("comment_id", String(255), nullable=False),
    Column("updated_at", Float, nullable=False),
)

audit = Table(
    "audit", metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("delivery", String(200), nullable=False),
    Column("tracker", String(16), nullable=False),
    Column("epic_key", String(255)),
    Column("ticket_key", String(255)),
    Column("action", String(32), nullable=False),
    Column("rule", Text, nullable=False, server_default=""),
    Column("done", Boolean, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Index("ix_audit_epic", "tracker", "epic_key", "at"),
)

# Worker-side metrics live here so /metrics on any web instance sees every worker, on any machine.
counters = Table(
    "counters", metadata,
    Column("name", String(64), primary_key=True),
    Column("labels", String(255), primary_key=True),
    Column("value", Float, nullable=False),
)

slots = Table(
    "slots", metadata,
    Column("name", String(64), primary_key=True),
    Column("last_run", Float, nullable=False),
)

# One row per running queue consumer: a row gone stale means that process died holding huey
# messages, so the events handed out before are handed out again (see plugin.queue.Heartbeat).
workers = Table(
    "workers", metadata,
    Column("id", String(128), primary_key=True),
    Column("started_at", Float, nullable=False),
    Column("seen_at", Float, nullable=False),
)


# The worker's per-ticket reads and writes, built once. Building a Core statement cost more than running
# it (350 µs against 130 µs for a read on SQLite): a chaos run spent nearly half its worker CPU in
# SQLAlchemy. Values come as parameters at execution.
_GATES = select(gates.c.gate, gates.c.ticket_key, gates.c.ref).where(
    gates.c.tracker == bindparam("tracker"), gates.c.epic_key == bindparam("epic_key"))
_COMMENT_ID = select(comments.c.comment_id).where(
    comments.c.tracker == bindparam("tracker"), comments.c.ticket_key == bindparam("ticket_key"))
_AUDIT_INSERT = audit.insert()
_WORKERS_GONE = delete(workers).where(workers.c.seen_at < bindparam("before")).returning(workers.c.id)


@dataclass(frozen=True)
class _Upserts:
    """The ON CONFLICT statements of one dialect (SQLite and PostgreSQL spell them alike, but each
    dialect's insert construct renders its own)."""

    gate: Insert
    comment: Insert
    counts: Insert
    worker: Insert

    @classmethod
    def of(cls, dialect_name: str) -> "_Upserts":
        dialect = postgresql if dialect_name == "postgresql" else sqlite
        comment = dialect.insert(comments)
        counts = dialect.insert(counters)
        worker = dialect.insert(workers)
        return cls(
            # The first recorded ticket wins, like Epic.gates() keeps the oldest of hand-made copies.
            gate=dialect.insert(gates).on_conflict_do_nothing(),
            comment=comment.on_conflict_do_update(
                index_elements=["tracker", "ticket_key"],
                set_={"comment_id": comment.excluded.comment_id, "updated_at": comment.excluded.updated_at}),
            counts=counts.on_conflict_do_update(
                index_elements=["name", "labels"], set_={"value": counters.c.value + counts.excluded.value}),
            worker=worker.on_conflict_do_update(index_elements=["id"], set_={"seen_at": worker.excluded.seen_at}),
        )


@dataclass(frozen=True)
class AuditRecord:
    delivery: str
    tracker: Tracker
    epic_key: str | None
    ticket_key: str | None
    action: str
    done: bool
    reason: str = ""
    rule: str = ""

    def row(self, at: float) -> dict:
        return {
            "at": at, "delivery": self.delivery, "tracker": self.tracker.value, "epic_key": self.epic_key,
            "ticket_key": self.ticket_key, "action": self.action, "rule": self.rule, "done": self.done,
            "reason": self.reason,
        }


def database_url(url: str, base_dir: Path = Path(".")) -> str:
    """A SQLAlchemy URL: relative SQLite paths resolved against the config's folder, psycopg for PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not os.path.isabs(parsed.database):
            parsed = parsed.set(database=str((base_dir / parsed.database).resolve()))
    elif parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        engine = create_engine(url, pool_size=pool_size, max_overflow=50, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)
    # A forked server worker must not reuse the parent's sockets or file handles.
    os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL: readers never block the writer. synchronous=NORMAL: a commit survives a crash of the
    # process (the WAL is written before COMMIT returns); only a power loss may lose the last ones.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def insert_ignoring_duplicates(engine: Engine, table: Table):
    """INSERT ... ON CONFLICT DO NOTHING in the engine's dialect."""
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


class Ledger:
    """The durable memory of Pilot Gate; implements connectors.base.Memory.

    Every write is one statement or one short transaction and safe to repeat: unique keys
    and ON CONFLICT clauses make concurrent workers agree instead of duplicating rows.
    """

    def __init__(self, url: str, *, base_dir: Path = Path("."), pool_size: int = 10,
                 clock=time.time) -> None:
        self.url = database_url(url, base_dir)
        self.engine = make_engine(self.url, pool_size=pool_size)
        self.locks: EpicLocks = locks_for(self.engine)
        self.clock = clock
        # SQLite has one writer at a time, and a connection that finds the lock taken sleeps 1, 2, 5,
        # 10... ms before it looks again. This process's writers queue here instead and each starts
        # the moment the one before commits; only other processes still meet SQLite's waits.
        self._writing = threading.RLock() if self.engine.dialect.name == "sqlite" else contextlib.nullcontext()
        self._upserts = _Upserts.of(self.engine.dialect.name)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_schema(self) -> None:
        metadata.create_all(self.engine)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: `engine.begin()`, taken in turn with this process's other writers."""
        with self._writing, self.engine.begin() as conn:
            yield conn

    # -- Memory protocol ---------------------------------------------------------------------------
    def gate_tickets(self, tracker: Tracker, epic_key: str) -> dict[str, str]:
        return {gate: key for gate, key, _ in self._gates(tracker, epic_key)}

    def gate_refs(self, tracker: Tracker, epic_key: str) -> dict[str, str]:
        return {gate: ref for gate, _, ref in self._gates(tracker, epic_key)}

    def _gates(self, tracker: Tracker, epic_key: str) -> list[tuple[str, str, str]]:
        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(_GATES, {"tracker": tracker.value, "epic_key": epic_key})]

    def record_gate(self, tracker: Tracker, epic_key: str, gate: str, ticket_key: str, ref: str) -> None:
        row = {"tracker": tracker.value, "epic_key": epic_key, "gate": gate, "ticket_key": ticket_key,
               "ref": ref or "", "created_at": self.clock()}
        with self.write() as conn:
            conn.execute(self._upserts.gate, row)

    def comment_id(self, tracker: Tracker, ticket_key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(_COMMENT_ID, {"tracker": tracker.value, "ticket_key": ticket_key}).scalar()

    def record_comment(self, tracker: Tracker, ticket_key: str, comment_id: str) -> None:
        row = {"tracker": tracker.value, "ticket_key": ticket_key, "comment_id": comment_id,
               "updated_at": self.clock()}
        with self.write() as conn:
            conn.execute(self._upserts.comment, row)

    # -- audit and counters ------------------------------------------------------------------------
    def write_audit(self, conn, records: Iterable[AuditRecord]) -> None:
        rows = [record.row(self.clock()) for record in records]
        if rows:
            conn.execute(_AUDIT_INSERT, rows)

    def audit_trail(self, tracker: Tracker | None = None, epic_key: str | None = None) -> list[dict]:
        query = select(audit).order_by(audit.c.id)
        if tracker is not None:
            query = query.where(audit.c.tracker == tracker.value)
        if epic_key is not None:
            query = query.where(audit.c.epic_key == epic_key)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def add_counts(self, conn, counts: Mapping[tuple[str, str], float]) -> None:
        """Adds to named counters, `(name, labels) -> amount`, inside the caller's transaction."""
        if not counts:
            return
        # One statement for all of them: the caller's transaction holds SQLite's write lock meanwhile.
        conn.execute(self._upserts.counts, [{"name": name, "labels": labels, "value": amount}
                                            for (name, labels), amount in sorted(counts.items())])

    def counts(self) -> dict[tuple[str, str], float]:
        with self.engine.connect() as conn:
            return {(row.name, row.labels): row.value for row in conn.execute(select(counters))}

    # -- run slots ---------------------------------------------------------------------------------
    def claim_slot(self, name: str, period: float) -> bool:
        """True for exactly one caller per period, whichever process or machine asks first."""
        now = self.clock()
        with self.write() as conn:
            conn.execute(insert_ignoring_duplicates(self.engine, slots).values(name=name, last_run=0.0))
            claimed = conn.execute(
                update(slots).where(slots.c.name == name, slots.c.last_run <= now - period * 0.9)
                .values(last_run=now))
            return claimed.rowcount == 1

    # -- consumer heartbeats -----------------------------------------------------------------------
    def worker_seen(self, worker_id: str, lost_after: float) -> list[str]:
        """Records that this consumer is alive; returns (and forgets) those silent for `lost_after`
        seconds. Each dead consumer is returned to exactly one caller."""
        now = self.clock()
        with self.write() as conn:
            conn.execute(self._upserts.worker, {"id": worker_id, "started_at": now, "seen_at": now})
            return list(conn.execute(_WORKERS_GONE, {"before": now - lost_after}).scalars())

    def worker_gone(self, worker_id: str) -> None:
        with self.write() as conn:
            conn.execute(delete(workers).where(workers.c.id == worker_id))
