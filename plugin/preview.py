"""What a template would do to a fictitious epic: the gate tickets it creates and every comment it may write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from plugin.engine import plan
from plugin.model import CreateGates, Epic, GateSpec, StatusCategory, Ticket, Tracker, UpsertComment
from plugin.templates import Template

WORK_TITLE = "Build the first prototype"


@dataclass(frozen=True)
class CommentPreview:
    situation: str  # when the comment is written, in words
    rule: str
    ticket_key: str
    body: str


@dataclass(frozen=True)
class Preview:
    epic: Ticket
    work: Ticket
    gates: tuple[tuple[str, GateSpec], ...]  # (ticket key the gate would get, what is created)
    comments: tuple[CommentPreview, ...]


def _keys(tracker: Tracker):
    if tracker is Tracker.GITHUB:
        return lambda n: f"example-org/ml-pilots#{n}"
    return lambda n: f"PILOT-{n}"


def preview(template: Template, title: str, tracker: Tracker, now: datetime) -> Preview:
    """Plan for a new epic with one work ticket, then replay the situations that produce each comment."""
    key = _keys(tracker)
    epic = Ticket(tracker, key(1), title, url=f"https://tracker.example/{key(1)}", issue_type="Epic",
                  labels=frozenset(template.applies_to.labels), created=now)
    work = Ticket(tracker, key(2), WORK_TITLE, url=f"https://tracker.example/{key(2)}", parent=epic.key,
                  created=now, status="To Do")
    (create,) = [a for a in plan(template, Epic(epic, (work,)), now) if isinstance(a, CreateGates)]
    gates = tuple((key(3 + i), spec) for i, spec in enumerate(create.gates))
    gate_tickets = tuple(_gate_ticket(tracker, epic, ticket_key, spec, now) for ticket_key, spec in gates)
    started = work.with_changes(category=StatusCategory.IN_PROGRESS, status="In Progress")
    comments: list[CommentPreview] = []

    early = _comments(template, Epic(epic, (started, *gate_tickets)), now, "work_started_early")
    comments += [CommentPreview("work starts while gates are open", *c) for c in early]
    done_gates = tuple(_finished(template, g) for g in gate_tickets)
    flagged = Epic(epic, (started, *done_gates), MappingProxyType({started.key: early[0][2] if early else "x"}))
    comments += [CommentPreview("every gate blocking it is done", *c)
                 for c in _comments(template, flagged, now, "gates_clear")]
    late = now + timedelta(days=max((s.due - now.date()).days for _, s in gates if s.due) + 1) \
        if any(s.due for _, s in gates) else None
    if late is not None:
        overdue = _comments(template, Epic(epic, (work, *gate_tickets)), late, "gate_overdue")
        comments += [CommentPreview(f"a gate is still open on {late:%Y-%m-%d}", *c) for c in overdue[:1]]
    return Preview(epic, work, gates, tuple(comments))


def _gate_ticket(tracker: Tracker, epic: Ticket, key: str, spec: GateSpec, now: datetime) -> Ticket:
    return Ticket(tracker, key, spec.title, url=f"https://tracker.example/{key}", status="To Do", gate=spec.gate,
                  parent=epic.key, created=now, due=spec.due, body=spec.body, labels=spec.labels)


def _finished(template: Template, gate: Ticket) -> Ticket:
    body = gate.body.replace(template.placeholder, "agreed").replace("- [ ]", "- [x]")
    return gate.with_changes(category=StatusCategory.DONE, status="Done", body=body, assignee="ops.owner")


def _comments(template: Template, epic: Epic, now: datetime, rule: str) -> list[tuple[str, str, str]]:
    return [(a.rule, a.ticket_key, a.body) for a in plan(template, epic, now)
            if isinstance(a, UpsertComment) and a.rule == rule]
