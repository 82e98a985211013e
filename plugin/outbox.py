"""The outbox: each accepted delivery as one ledger row with its processing state.

A webhook request writes the delivery to the narrow `intake` table and answers 202 once that
single-statement transaction commits; the queue's dispatcher moves intake rows into `events`
(`admit`) and hands the due ones to huey (`dispatch_due`). The unique (tracker, delivery) key of
both tables, and the webhook's look into `events`, drop duplicates: no queue write is needed in
the request, and the request's commit writes two index pages instead of four.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Collection

import msgspec
from sqlalchemy import and_, bindparam, delete, func, literal, or_, select, union_all, update

from plugin.intake import IntakeInsert
from plugin.ledger import Ledger, events, insert_ignoring_duplicates, intake
from plugin.model import Event, Tracker

QUEUED, PROCESSING, DONE, FAILED = "queued", "processing", "done", "failed"
_DECODE = msgspec.json.Decoder().decode  # the payload column: plain JSON (Event.to_json), msgspec reads it fastest
# The statements of the worker's hot path are built once, values bound at execution: building one cost
# more than running it (docs/PERFORMANCE.md, "Chaos"). Every huey message reads its event, for one.
_GET = select(events).where(events.c.id == bindparam("id"))
_GET_QUEUED = _GET.where(events.c.status == QUEUED)
_ANY_INTAKE = select(intake.c.id).limit(1)
_NOT_ADMITTED = "intake"  # the stats row of deliveries not yet moved into events
# One statement, so one snapshot: read in two, a dispatcher moving deliveries from intake into events
# in between made them count in neither (PostgreSQL reads each statement at its own snapshot).
_STATS = union_all(
    select(events.c.status, func.count(), func.min(events.c.due_at))
    .where(events.c.status.in_((QUEUED, PROCESSING, FAILED))).group_by(events.c.status),
    select(literal(_NOT_ADMITTED), func.count(), func.min(intake.c.received_at)),
)
# Due, or only deferred because the epic was busy (no failed attempt yet): not backing off.
_MAY_RUN = or_(events.c.due_at <= bindparam("now"), events.c.attempts == 0)
# Bound names differ from column names: an UPDATE reserves those for its SET clause.
_OF_EPIC = and_(events.c.tracker == bindparam("of_tracker"), events.c.epic_key == bindparam("of_epic"),
                events.c.status == QUEUED, _MAY_RUN)
_QUEUED_FOR_EPIC = select(events.c.id).where(_OF_EPIC).order_by(events.c.id)
_CLAIMED = {"status": PROCESSING, "updated_at": bindparam("now")}
_CLAIM_FOR_EPIC = (update(events).where(events.c.id.in_(_QUEUED_FOR_EPIC.limit(bindparam("limit"))),
                                        events.c.status == QUEUED)
                   .values(**_CLAIMED).returning(*events.c))
_UNTIED = (select(events.c.id, events.c.payload)
           .where(events.c.tracker == bindparam("of_tracker"), events.c.epic_key.is_(None), events.c.status == QUEUED,
                  events.c.ticket_key.in_(bindparam("refs", expanding=True)), _MAY_RUN)
           .order_by(events.c.id).limit(bindparam("limit")))
_CLAIM_UNTIED = (update(events).where(events.c.id.in_(bindparam("ids", expanding=True)), events.c.epic_key.is_(None),
                                      events.c.status == QUEUED)
                 .values(**_CLAIMED, epic_key=bindparam("epic")).returning(*events.c))
_FINISH = (update(events).where(events.c.id.in_(bindparam("ids", expanding=True)), events.c.status == PROCESSING)
           .values(status=DONE, error=None, updated_at=bindparam("now")))
_READY = and_(events.c.status == QUEUED, events.c.due_at <= bindparam("now"),
              or_(events.c.dispatched_at.is_(None), events.c.dispatched_at < bindparam("stale")))
_ANY_READY = select(events.c.id).where(_READY).limit(1)
_PICK_READY = select(events.c.id).where(_READY).order_by(events.c.id).limit(bindparam("limit"))
_HANDED = (events.c.id, events.c.tracker, events.c.epic_key)
_HAND_OUT_PICKED = (update(events).where(events.c.id.in_(_PICK_READY), _READY).values(dispatched_at=bindparam("now"))
                    .returning(*_HANDED))
# PostgreSQL: the dispatchers of several workers skip each other's rows. Picked and locked first, then
# handed out by id: with `IN (… LIMIT n FOR UPDATE SKIP LOCKED)` inside the UPDATE, PostgreSQL re-ran
# the subquery for each row and handed out more than n.
_PICK_READY_LOCKED = _PICK_READY.with_for_update(skip_locked=True)
_HAND_OUT = (update(events).where(events.c.id.in_(bindparam("ids", expanding=True)))
             .values(dispatched_at=bindparam("now")).returning(*_HANDED))
BATCH = 100  # events of one epic handled in one pass: one snapshot, one plan, one transaction
ADMIT_BATCH = 500  # intake rows moved into the queue per transaction
ADMIT_LOCK = 0x70696C6F  # PostgreSQL advisory lock key of the intake mover ("pilo")


@dataclass(frozen=True)
class EventRecord:
    id: int
    status: str
    attempts: int
    error: str | None
    epic_key: str | None
    received_at: float
    due_at: float
    event: Event

    @property
    def tracker(self) -> Tracker:
        return self.event.tracker

    @property
    def delivery(self) -> str:
        return self.event.delivery_id


@dataclass(frozen=True)
class QueueStats:
    depth: int  # waiting to be processed, retries included
    oldest_age: float  # seconds the oldest waiting event has been due; 0 when none
    processing: int
    failed: int


class Outbox:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.engine = ledger.engine
        self._insert = IntakeInsert(self.engine)

    def accept(self, event: Event) -> bool:
        """True when the delivery was taken in, False when it was accepted before. Called by every webhook."""
        return self._insert({
            "tracker": event.tracker.value, "delivery": event.delivery_id, "kind": event.kind.value,
            "ticket_key": event.ticket_key, "payload": event.to_json(),
            "received_at": self.ledger.clock(),
        })

    def admit(self, limit: int = ADMIT_BATCH) -> int:
        """Moves up to `limit` accepted deliveries from the intake into the queue; returns how many.

        Delete and insert in one transaction, the delete first so that SQLite takes its write lock
        before reading (a read that later writes fails at once when another writer got in between).
        A delivery already queued (a webhook racing this move on PostgreSQL can let one through)
        collides on the events' unique key and is dropped there.
        """
        with self.engine.connect() as conn:  # a read first: an idle poll never takes the write lock
            if conn.execute(_ANY_INTAKE).first() is None:
                return 0
        pick = select(intake.c.id).order_by(intake.c.id).limit(limit)
        now = self.ledger.clock()
        with self.ledger.write() as conn:
            # One mover at a time on PostgreSQL: two inserting the same deliveries in different orders
            # could deadlock on the unique key. SQLite's write lock already makes them take turns.
            if self.engine.dialect.name == "postgresql" and not conn.execute(
                    select(func.pg_try_advisory_xact_lock(ADMIT_LOCK))).scalar():
                return 0
            rows = sorted(conn.execute(delete(intake).where(intake.c.id.in_(pick)).returning(*intake.c)),
                          key=lambda row: row.id)
            if rows:
                # epic_key stays empty until the worker has checked the epic is a pilot: a payload's
                # parent may be any epic.
                conn.execute(insert_ignoring_duplicates(self.engine, events), [
                    {"tracker": row.tracker, "delivery": row.delivery, "kind": row.kind, "ticket_key": row.ticket_key,
                     "epic_key": None, "payload": row.payload, "status": QUEUED, "received_at": row.received_at,
                     "due_at": row.received_at, "updated_at": now} for row in rows])
        return len(rows)

    def dispatch_due(self, limit: int = 100, redispatch_after: float = 60.0) -> list[int]:
        """Admits the accepted deliveries, then marks up to `limit` due events as handed out and returns
        the ids to send to huey, oldest first.

        Due events of an epic already known (retries of a failed pass, deferrals) go out as one
        message, for the oldest of them: its pass claims every waiting event of the epic. A message
        each would only wake workers to find them taken. An event handed out but not claimed within
        `redispatch_after` seconds (its huey message was lost with a killed worker) is handed out again.
        """
        self.admit()
        now = self.ledger.clock()
        values = {"now": now, "stale": now - redispatch_after, "limit": limit}
        with self.engine.connect() as conn:  # a read first: an idle poll never takes the write lock
            if conn.execute(_ANY_READY, values).first() is None:
                return []
        with self.ledger.write() as conn:
            if self.engine.dialect.name == "postgresql":
                ids = list(conn.execute(_PICK_READY_LOCKED, values).scalars())
                handed = sorted(conn.execute(_HAND_OUT, {"ids": ids, "now": now})) if ids else []
            else:
                handed = sorted(conn.execute(_HAND_OUT_PICKED, values))
        epics: set[tuple[str, str]] = set()
        messages = []
        for event_id, tracker, epic_key in handed:
            if epic_key is None or (tracker, epic_key) not in epics:
                messages.append(event_id)
            if epic_key is not None:
                epics.add((tracker, epic_key))
        return messages

    def defer(self, event_id: int, seconds: float) -> None:
        """Not now (its epic is busy), without using up an attempt."""
        self._update(event_id, QUEUED, due_at=self.ledger.clock() + seconds, dispatched_at=None)

    def get(self, event_id: int, *, queued: bool = False) -> EventRecord | None:
        """The event; with `queued`, only while it waits to be processed (nothing else is decoded)."""
        with self.engine.connect() as conn:
            row = conn.execute(_GET_QUEUED if queued else _GET, {"id": event_id}).first()
        return _record(row) if row else None

    def set_epic(self, event_id: int, epic_key: str, event: Event | None = None) -> None:
        """Records the verified pilot epic (and the event with its ticket resolved, when it had to be)."""
        values = {"epic_key": epic_key}
        if event is not None:
            values.update(ticket_key=event.ticket_key, payload=event.to_json())
        self._update(event_id, None, **values)

    def claim(self, event_id: int) -> bool:
        """queued -> processing; only the caller holding the epic's lock may claim."""
        return self._update(event_id, QUEUED, status=PROCESSING)

    def claim_for_epic(self, tracker: Tracker, epic_key: str, limit: int = BATCH) -> list[EventRecord]:
        """queued -> processing for up to `limit` events of this epic the lock holder may take now
        (see `queued_for_epic`), in one statement; oldest first."""
        return self._claim(_CLAIM_FOR_EPIC, {"of_tracker": tracker.value, "of_epic": epic_key, "limit": limit})

    def adopt(self, tracker: Tracker, epic_key: str, refs: Collection[str], limit: int = BATCH) -> list[EventRecord]:
        """Claims queued events not yet tied to an epic that are about this epic or one of its tickets.

        `refs` are the keys and ids (link events name ids) of the epic and its children in a fresh
        snapshot. An event whose payload names another epic as parent is left to its own pass: the
        same answer `Worker._find_epic` would give, without its two tracker calls per event.
        """
        if not refs:
            return []
        values = {"of_tracker": tracker.value, "refs": sorted(refs), "limit": limit, "now": self.ledger.clock()}
        with self.engine.connect() as conn:
            rows = conn.execute(_UNTIED, values).all()
        ids = [row.id for row in rows if _DECODE(row.payload).get("epic_key") in (None, epic_key)]
        if not ids:
            return []
        return self._claim(_CLAIM_UNTIED, {"ids": ids, "epic": epic_key})

    def _claim(self, statement, values: dict) -> list[EventRecord]:
        with self.ledger.write() as conn:
            rows = conn.execute(statement, {**values, "now": self.ledger.clock()})
            return sorted((_record(row) for row in rows), key=lambda record: record.id)

    def release_dispatched(self) -> int:
        """Every queued event handed out and not yet claimed is due to be handed out again: called
        when a consumer died, which may have taken any of them from huey with it."""
        with self.ledger.write() as conn:
            return conn.execute(update(events).where(events.c.status == QUEUED, events.c.dispatched_at.is_not(None))
                                .values(dispatched_at=None)).rowcount

    def finish(self, conn, event_id: int) -> None:
        """processing -> done, inside the caller's transaction (with the audit records)."""
        self.finish_all(conn, [event_id])

    def finish_all(self, conn, event_ids: Collection[int]) -> None:
        conn.execute(_FINISH, {"ids": list(event_ids), "now": self.ledger.clock()})

    def record_failure(self, event_id: int, error: str, retry_at: float | None, status: str | None = None) -> bool:
        """Back to queued until `retry_at`, or failed for good when `retry_at` is None.

        With `status`, only while the event still has it: a failure to resolve a queued event must
        not undo the pass of the worker that took the same event meanwhile. False when it had not.
        """
        with self.ledger.write() as conn:
            return bool(self.record_failures(conn, [event_id], error, retry_at, status))

    def record_failures(self, conn, event_ids: Collection[int], error: str, retry_at: float | None,
                        status: str | None = None) -> list[int]:
        """`record_failure` for the events of one failed pass, in one statement inside the caller's
        transaction; the ids it changed."""
        values = {"ids": list(event_ids), "text": error[:4000], "now": self.ledger.clock(), "when_status": status,
                  "retry_at": retry_at}
        return list(conn.execute(_failure(retry_at is not None, status is not None), values).scalars())

    def retry(self, event_id: int) -> bool:
        """failed -> queued with a fresh retry budget; False when no failed event has that id."""
        return self._update(event_id, FAILED, status=QUEUED, attempts=0, due_at=self.ledger.clock(),
                            dispatched_at=None)

    def requeue(self, event_id: int) -> bool:
        """processing -> queued: for an event whose worker died (its epic lock is free again)."""
        return self._update(event_id, PROCESSING, status=QUEUED, due_at=self.ledger.clock(), dispatched_at=None)

    def _update(self, event_id: int, when_status: str | None, **values) -> bool:
        statement = _update_statement(tuple(sorted(values)), when_status is not None)
        with self.ledger.write() as conn:
            bound = {f"new_{column}": value for column, value in values.items()}
            result = conn.execute(statement, {**bound, "event_id": event_id, "when_status": when_status,
                                              "now": self.ledger.clock()})
            return result.rowcount == 1

    def queued_for_epic(self, tracker: Tracker, epic_key: str) -> list[int]:
        """Events of this epic the lock holder may take now: due ones, and ones only deferred
        because the epic was busy (no failed attempt yet), but not those backing off after a failure."""
        with self.engine.connect() as conn:
            values = {"of_tracker": tracker.value, "of_epic": epic_key, "now": self.ledger.clock()}
            return list(conn.execute(_QUEUED_FOR_EPIC, values).scalars())

    def failed(self, limit: int = 500) -> list[EventRecord]:
        return self._select(events.c.status == FAILED, limit)

    def processing(self, limit: int = 500) -> list[EventRecord]:
        return self._select(events.c.status == PROCESSING, limit)

    def overdue(self, seconds: float, limit: int = 500) -> list[EventRecord]:
        """Queued events due for longer than `seconds`: their wakeup was lost (or the queue is long)."""
        late = and_(events.c.status == QUEUED, events.c.due_at < self.ledger.clock() - seconds)
        return self._select(late, limit)

    def _select(self, condition, limit: int) -> list[EventRecord]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(events).where(condition).order_by(events.c.id).limit(limit))
            return [_record(row) for row in rows]

    def stats(self) -> QueueStats:
        now = self.ledger.clock()
        with self.engine.connect() as conn:
            found = {status: (count, oldest) for status, count, oldest in conn.execute(_STATS)}
        not_admitted, oldest_received = found.get(_NOT_ADMITTED, (0, None))
        depth, oldest = found.get(QUEUED, (0, None))
        oldest = min((at for at in (oldest, oldest_received) if at is not None), default=None)
        return QueueStats(depth=depth + not_admitted, oldest_age=max(0.0, now - oldest) if oldest else 0.0,
                          processing=found.get(PROCESSING, (0, None))[0], failed=found.get(FAILED, (0, None))[0])

    def prune(self, older_than: float) -> int:
        """Forgets done events older than `older_than` seconds (their audit records stay)."""
        cutoff = self.ledger.clock() - older_than
        with self.ledger.write() as conn:
            return conn.execute(delete(events).where(events.c.status == DONE, events.c.updated_at < cutoff)).rowcount


@functools.cache
def _failure(retry: bool, when_status: bool):
    """Back to queued until :retry_at (retry), or failed for good; with `when_status`, only while the
    events still have :when_status."""
    condition = [events.c.id.in_(bindparam("ids", expanding=True))]
    condition += [events.c.status == bindparam("when_status")] if when_status else []
    values = {"status": QUEUED, "due_at": bindparam("retry_at")} if retry else {"status": FAILED}
    return (update(events).where(*condition)
            .values(attempts=events.c.attempts + 1, error=bindparam("text"), updated_at=bindparam("now"),
                    dispatched_at=None, **values)
            .returning(events.c.id))


@functools.cache
def _update_statement(columns: tuple[str, ...], when_status: bool):
    """UPDATE of one event's `columns` (bound as :new_<column>), stamped with :now."""
    condition = [events.c.id == bindparam("event_id")]
    condition += [events.c.status == bindparam("when_status")] if when_status else []
    return (update(events).where(*condition)
            .values(updated_at=bindparam("now"), **{column: bindparam(f"new_{column}") for column in columns}))


def _record(row) -> EventRecord:
    return EventRecord(
        id=row.id, status=row.status, attempts=row.attempts, error=row.error, epic_key=row.epic_key,
        received_at=row.received_at, due_at=row.due_at, event=Event.from_dict(_DECODE(row.payload)),
    )
