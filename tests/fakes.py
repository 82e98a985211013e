"""The one fake tracker of the test suite: an in-memory Connector that records what it was asked to do."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Iterator, Sequence

from connectors.base import NotFound, Outcome, TransientError
from plugin.model import (
    Action, AddBlocksLink, AddLabel, CreateGates, Epic, SetCheck, StatusCategory, Ticket, Tracker, UpsertComment,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


class FakeConnector:
    """Keeps tickets and bot comments in memory; writes are idempotent like the real connectors'.

    `recorded` lists side effects as short strings ("create PILOT-1:success-metric"), like Prow's
    fakegithub, so tests read as a list of what happened. `fail_next` queues errors to raise.
    """

    def __init__(self, tracker: Tracker = Tracker.JIRA, *, latency: float = 0.0) -> None:
        self.tracker = tracker
        self.latency = latency
        self.tickets: dict[str, Ticket] = {}
        self.comments: dict[str, str] = {}
        self.checks: dict[tuple[str, str], SetCheck] = {}
        self.recorded: list[str] = []
        self.fail_next: list[Exception] = []
        self._numbers = itertools.count(1)
        self._lock = threading.RLock()

    # -- building a world -------------------------------------------------------------------------
    def add_epic(self, title: str = "Invoice triage assistant", key: str | None = None, **fields) -> Ticket:
        fields.setdefault("issue_type", "Epic")
        fields.setdefault("labels", frozenset({"ai-pilot"}))
        return self._add(title, key, **fields)

    def add_work(self, epic: Ticket | str, title: str, key: str | None = None, **fields) -> Ticket:
        return self._add(title, key, parent=epic if isinstance(epic, str) else epic.key, **fields)

    def set(self, key: str, **changes) -> Ticket:
        with self._lock:
            self.tickets[key] = replace(self.tickets[key], **changes)
            return self.tickets[key]

    def _add(self, title: str, key: str | None, **fields) -> Ticket:
        explicit = key is not None
        with self._lock:
            while key is None or (key in self.tickets and not explicit):
                key = f"PILOT-{next(self._numbers)}"  # never reuse a key a test chose by hand
            fields.setdefault("created", T0)
            ticket = Ticket(self.tracker, key, title, url=f"https://tracker.test/{key}", status="To Do", **fields)
            self.tickets[key] = ticket
            return ticket

    # -- Connector protocol -----------------------------------------------------------------------
    def pilot_epics(self, only: Sequence[str] | None = None) -> Iterator[Epic]:
        keys = [k for k, t in self.tickets.items() if t.issue_type == "Epic" and (only is None or k in only)]
        for key in keys:
            yield self.snapshot(key)

    def snapshot(self, epic_key: str) -> Epic:
        self._call()
        with self._lock:
            if epic_key not in self.tickets:
                raise NotFound(f"no issue {epic_key}")
            children = tuple(t for t in self.tickets.values() if t.parent == epic_key)
            comments = {k: v for k, v in self.comments.items() if k == epic_key or any(c.key == k for c in children)}
            return Epic(self.tickets[epic_key], children, MappingProxyType(comments))

    def epic_of(self, ticket_key: str) -> str | None:
        ticket = self.tickets.get(ticket_key)
        if ticket is None:
            return None
        return ticket.key if ticket.issue_type == "Epic" else ticket.parent

    def apply(self, epic: Epic, actions: Sequence[Action]) -> list[Outcome]:
        return [self._apply_one(epic.key, action) for action in actions]

    # -- internals --------------------------------------------------------------------------------
    def _call(self) -> None:
        if self.latency:
            time.sleep(self.latency)
        with self._lock:
            if self.fail_next:
                raise self.fail_next.pop(0)

    def _apply_one(self, epic_key: str, action: Action) -> Outcome:
        self._call()
        with self._lock:
            if isinstance(action, CreateGates):
                return self._create_gates(action)
            if isinstance(action, AddBlocksLink):
                blocked = self.tickets[action.blocked_key]
                if action.blocker_key in blocked.blocked_by:
                    return Outcome(action, False, "link exists")
                self.set(blocked.key, blocked_by=blocked.blocked_by | {action.blocker_key})
                self.recorded.append(f"link {action.blocker_key} blocks {action.blocked_key}")
            elif isinstance(action, UpsertComment):
                if self.comments.get(action.ticket_key) == action.body:
                    return Outcome(action, False, "comment unchanged")
                verb = "edit" if action.ticket_key in self.comments else "comment"
                self.comments[action.ticket_key] = action.body
                self.recorded.append(f"{verb} {action.ticket_key}:{action.rule}")
            elif isinstance(action, AddLabel):
                ticket = self.tickets[action.ticket_key]
                self.set(ticket.key, labels=ticket.labels | {action.label})
                self.recorded.append(f"label {action.ticket_key}:{action.label}")
            elif isinstance(action, SetCheck):
                self.checks[(action.ticket_key, action.sha)] = action
                self.recorded.append(f"check {action.ticket_key}@{action.sha}:{action.passed}")
            return Outcome(action, True)

    def _create_gates(self, action: CreateGates) -> Outcome:
        existing = {t.gate for t in self.tickets.values() if t.parent == action.epic_key and t.gate}
        created = []
        for spec in action.gates:
            if spec.gate in existing:
                continue
            gate = self._add(spec.title, None, parent=action.epic_key, gate=spec.gate, body=spec.body,
                             labels=spec.labels, due=spec.due, created=T0)
            for blocked in spec.blocks:
                self.set(blocked, blocked_by=self.tickets[blocked].blocked_by | {gate.key})
            created.append(gate.key)
            self.recorded.append(f"create {action.epic_key}:{spec.gate}")
        return Outcome(action, bool(created), "" if created else "gates exist", tuple(created))


def transient(message: str = "tracker answered 503", retry_after: float | None = None) -> TransientError:
    return TransientError(message, status=503, retry_after=retry_after)


__all__ = ["FakeConnector", "T0", "StatusCategory", "transient"]
