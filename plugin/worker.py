"""The worker: one queued event -> its epic, locked -> snapshot -> engine -> connector -> audit.

Events of one epic run one at a time under the epic's lock (file or PostgreSQL advisory lock, so
across processes and machines); the lock holder also takes the epic's other waiting events, so a
burst about one epic is worked off by one worker instead of waiting in line. Different epics run
in parallel on huey's worker threads. The events one holder takes are handled in one pass (one
snapshot, one plan with each event's own actions), and each is still recorded done or failed.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Mapping, Sequence

import requests
from sqlalchemy.exc import OperationalError

from connectors.base import Connector, Outcome, PermanentError, TransientError, TrackerError
from plugin import handlers, logs, metrics
from plugin.ledger import AuditRecord, Ledger
from plugin.metrics import labels
from plugin.model import Epic, Tracker, action_kind
from plugin.outbox import BATCH, EventRecord, Outbox
from plugin.templates import Template

LOG = logging.getLogger("pilotgate.worker")
# A database that went away (OperationalError) is as passing as a tracker answering 503.
RETRYABLE = (TransientError, requests.Timeout, requests.ConnectionError, OperationalError)
MAX_PASSES = 3  # plan -> apply again right after gates were created, so comments can name them


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; a tracker's Retry-After is a floor, never shortened."""

    attempts: int = 10
    base: float = 2.0
    cap: float = 600.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        backoff = min(self.cap, self.base * 2 ** (attempt - 1))
        return max(backoff * (0.5 + rng.random() / 2), retry_after or 0.0)


class Worker:
    def __init__(
        self,
        ledger: Ledger,
        connectors: Mapping[Tracker, Connector],
        templates: Mapping[Tracker, Template],
        *,
        policy: RetryPolicy = RetryPolicy(),
        busy_delay: float = 1.0,
        in_progress: Sequence[str] = ("In Progress",),
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        rng: random.Random | None = None,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.ledger = ledger
        self.outbox = Outbox(ledger)
        self.connectors = connectors
        self.templates = templates
        self.policy = policy
        self.busy_delay = busy_delay
        self.in_progress = tuple(in_progress)
        self.now = now
        self.rng = rng or random.Random()
        self.redact = redact  # errors are stored and listed by `events --failed`: no secret may reach them

    def process(self, event_id: int) -> None:
        """Handles one dispatched event (and its epic's other waiting events). Never raises."""
        record = self.outbox.get(event_id, queued=True)
        if record is None:
            return  # a stale or repeated wakeup: someone else took it
        with logs.log_context(delivery=record.delivery, tracker=record.tracker, ticket=record.event.ticket_key):
            try:
                found = record.epic_key or self._find_epic(record)
            except Exception as err:  # every failure is recorded on the event: retried or listed as failed
                self._failed([record], err)
                return
            if isinstance(found, tuple):
                self._skip(record, found[0])
                return
            try:
                self.run_epic(record.tracker, found, first=record.id)
            except Exception as err:  # the ledger is unreachable: the maintenance pass requeues what is left
                logs.error(LOG, "event processing interrupted", error=describe(err), exc_info=True)

    def _find_epic(self, record: EventRecord) -> str | tuple[str]:
        """The verified pilot epic of the event (stored on it), or a 1-tuple with why there is none."""
        connector = self._connector(record.tracker)
        event = handlers.resolve_ticket(record.event, connector, self.in_progress)
        if isinstance(event, str):
            return (event,)
        # A payload's epic is only a hint (a parent is not necessarily a pilot): the connector decides.
        epic_key = connector.epic_of(event.epic_key or event.ticket_key)
        if epic_key is None and event.epic_key:
            epic_key = connector.epic_of(event.ticket_key)
        if epic_key is None:
            return ("not part of a pilot epic",)
        self.outbox.set_epic(record.id, epic_key, event if event is not record.event else None)
        return epic_key

    def run_epic(self, tracker: Tracker, epic_key: str, first: int | None = None) -> None:
        while True:
            with self.ledger.locks.hold(tracker, epic_key) as held:
                if not held:
                    if first is not None:
                        self.outbox.defer(first, self.busy_delay)
                    return
                batch = self.outbox.claim_for_epic(tracker, epic_key)
                if batch:
                    self._handle(batch, epic_key)
            # An event may have joined the queue as the lock was let go: take it rather than strand it.
            if not self.outbox.queued_for_epic(tracker, epic_key):
                return
            first = None

    def _handle(self, batch: list[EventRecord], epic_key: str, adopt: bool = True) -> None:
        """The claimed events of one epic in one pass: one snapshot and plan for all of them, each
        event's own actions added, then each event recorded as done (or failed) on its own."""
        first = batch[0]
        with logs.log_context(delivery=first.delivery, tracker=first.tracker, ticket=first.event.ticket_key,
                              epic=epic_key):
            try:
                credited = self._passes(batch, epic_key, adopt and len(batch) < BATCH)
            except Exception as err:  # recorded on every event of the pass, never lost: see _failed
                if len(batch) > 1 and not isinstance(err, RETRYABLE):
                    # Maybe one event's own action is refused for good: the others must not fail with it.
                    for record in batch:
                        self._handle([record], epic_key, adopt=False)
                    return
                self._failed(batch, err)
                return
            try:
                self._done(batch, epic_key, credited)
            except Exception as err:  # the ledger refused the record: retry; the actions are idempotent
                self._failed(batch, err)

    def _passes(self, batch: list[EventRecord], epic_key: str, adopt: bool) -> list[tuple[Outcome, int]]:
        """Snapshot, plan, apply (again when gates were just created); the outcomes with the index of the
        event each is credited to. Waiting events about this epic found by the snapshot join `batch`."""
        tracker = batch[0].tracker
        connector, template = self._connector(tracker), self.templates[tracker]
        credited: list[tuple[Outcome, int]] = []
        for number in range(MAX_PASSES):
            epic = connector.snapshot(epic_key)
            if number == 0 and adopt:
                batch += self.outbox.adopt(tracker, epic_key, refs_of(epic), BATCH - len(batch))
            now, events = self.now(), [record.event for record in batch]
            planned = handlers.batch_actions(events, template, epic, now)
            applied = connector.apply(epic, [action for action, _ in planned]) if planned else []
            credited += [(outcome, handlers.credited_to(outcome.action, planned)) for outcome in applied]
            if not handlers.plan_batch_again(events, template, epic, now, applied):
                break
        return credited

    def _done(self, batch: list[EventRecord], epic_key: str, credited: list[tuple[Outcome, int]]) -> None:
        tracker, lead = batch[0].tracker, batch[0].delivery
        audit: list[AuditRecord] = []
        counts: dict[tuple[str, str], float] = {}
        for index, record in enumerate(batch):
            outcomes = [outcome for outcome, owner in credited if owner == index]
            nothing = f"handled in one pass with delivery {lead}" if index else "epic already in shape"
            audit += handlers.audit_records(record.delivery, tracker, epic_key, outcomes, nothing)
            age = max(0.0, self.ledger.clock() - record.received_at)
            _add(counts, metrics.latency_counts(tracker, age))
        _add(counts, {("processed", labels(tracker=tracker.value, result="done")): float(len(batch))})
        if len(batch) > 1:
            _add(counts, {("coalesced", labels(tracker=tracker.value)): float(len(batch) - 1)})
        for outcome, _ in credited:
            _add(counts, {("actions", labels(tracker=tracker.value, kind=action_kind(outcome.action),
                                             outcome="done" if outcome.done else "skipped")): 1.0})
        _add(counts, metrics.TRACKER_CALLS.drain())
        with self.ledger.write() as conn:
            self.ledger.write_audit(conn, audit)
            self.ledger.add_counts(conn, counts)
            self.outbox.finish_all(conn, [record.id for record in batch])
        logs.info(LOG, "event processed", epic=epic_key, events=len(batch),
                  actions=",".join(f"{a.action}:{'done' if a.done else 'skipped'}" for a in audit if a.action != "none"))

    def _skip(self, record: EventRecord, reason: str) -> None:
        audit = [AuditRecord(record.delivery, record.tracker, None, record.event.ticket_key or None, "none",
                             False, reason)]
        if not self.outbox.claim(record.id):
            return
        with self.ledger.write() as conn:
            self.ledger.write_audit(conn, audit)
            self.ledger.add_counts(conn, {("processed", labels(tracker=record.tracker.value, result="done")): 1.0})
            self.outbox.finish(conn, record.id)
        logs.info(LOG, "event needs no work", reason=reason)

    def _failed(self, records: Sequence[EventRecord], err: Exception) -> None:
        """Each event back in the queue until one shared retry time (or failed for good past its budget).

        The events of one failed pass share their retry time, jitter drawn once: they come back
        together and are claimed in one pass again, instead of one pass (and one snapshot) each.
        All of them are recorded in one transaction.
        """
        text = self.redact(describe(err))
        retrying = isinstance(err, RETRYABLE)
        attempt = max(record.attempts for record in records) + 1
        delay = self.policy.delay(attempt, getattr(err, "retry_after", None), self.rng) if retrying else 0.0
        retry_at = self.ledger.clock() + delay
        groups: dict[tuple[bool, str], list[EventRecord]] = {}
        for record in records:
            retry = retrying and record.attempts + 1 < self.policy.attempts
            groups.setdefault((retry, record.status), []).append(record)
        recorded: list[tuple[EventRecord, bool]] = []
        with self.ledger.write() as conn:
            for (retry, status), group in groups.items():
                # Only events that still have their status: another worker may have taken one meanwhile
                # (found it waiting for this epic's pass).
                changed = set(self.outbox.record_failures(conn, [r.id for r in group], text,
                                                          retry_at if retry else None, status))
                recorded += [(record, retry) for record in group if record.id in changed]
            results = Counter("retry" if retry else "failed" for _, retry in recorded)
            tracker = records[0].tracker.value
            counts = {("processed", labels(tracker=tracker, result=result)): float(n) for result, n in results.items()}
            self.ledger.add_counts(conn, {**counts, **metrics.TRACKER_CALLS.drain()})
        for record, retry in recorded:
            self._log_failure(record.attempts + 1, retry, delay, text, err)

    @staticmethod
    def _log_failure(attempt: int, retry: bool, delay: float, text: str, err: Exception) -> None:
        if retry:
            logs.warning(LOG, "event will be retried", attempt=attempt, retry_in=f"{delay:.1f}s", error=text)
        elif isinstance(err, (TrackerError, *RETRYABLE)):
            logs.error(LOG, "event failed", attempt=attempt, error=text)
        else:
            logs.error(LOG, "event failed on an unexpected error", attempt=attempt, error=text, exc_info=True)

    def _connector(self, tracker: Tracker) -> Connector:
        connector = self.connectors.get(tracker)
        if connector is None:
            raise PermanentError(f"{tracker.value} is not configured")
        return connector


def refs_of(epic: Epic) -> set[str]:
    """What events name the epic and its tickets by: keys, and tracker ids (Jira link events)."""
    return {ref for ticket in (epic.ticket, *epic.children) for ref in (ticket.key, ticket.ref) if ref}


def _add(counts: dict[tuple[str, str], float], more: Mapping[tuple[str, str], float]) -> None:
    for key, amount in more.items():
        counts[key] = counts.get(key, 0.0) + amount


def describe(err: Exception) -> str:
    """What went wrong, for the failed-events list: the error's type and message (never a request body)."""
    status = getattr(err, "status", None)
    prefix = f"{type(err).__name__}" + (f" (HTTP {status})" if status else "")
    return f"{prefix}: {err}" if str(err) else prefix
