"""The gate engine: pure functions from (template, epic snapshot, time) to the actions that fix it.

No I/O happens here, so every rule is tested exhaustively without a tracker. Connectors apply
the actions; markers they keep (gate key on each gate ticket, one marked bot comment per ticket)
make applying them idempotent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Iterator

from plugin.model import (
    Action, AddBlocksLink, AddLabel, CreateGates, Epic, GateSpec, SetCheck, StatusCategory, Ticket, UpsertComment,
)
from plugin.templates import GateDef, Template, gate_context, render

_CHECKBOX = re.compile(r"^\s*[-*]\s*\[([ xX])\]\s*(.+?)\s*$")
_FIELD = re.compile(r"^\s*[-*]?\s*([^:\n]{1,80}?)\s*:\s*(.*)$")

ABSENT, OPEN, OVERDUE, INCOMPLETE, DONE = "absent", "open", "overdue", "incomplete", "done"


@dataclass(frozen=True)
class GateState:
    """Where one gate of one epic stands. `missing` lists content still to be provided."""

    key: str
    title: str
    state: str  # absent | open | overdue | incomplete | done
    ticket: Ticket | None
    due: date | None
    missing: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.state == DONE

    def as_context(self) -> dict:
        ticket = self.ticket
        return {
            "key": ticket.key if ticket else self.key, "title": ticket.title if ticket else self.title,
            "url": ticket.url if ticket else "", "status": ticket.status if ticket else "not created yet",
            "state": self.state, "missing": list(self.missing), "due": self.due,
        }


@dataclass(frozen=True)
class Readiness:
    """A pilot epic's standing, for reports and the dashboard."""

    epic: Epic
    gates: tuple[GateState, ...]
    early_work: tuple[Ticket, ...]  # work started while a gate that blocks it was open
    verdict: str  # ready | on_track | at_risk | not_provisioned

    @property
    def risk(self) -> int:
        """Higher is riskier: overdue gates and early work weigh most."""
        overdue = sum(g.state == OVERDUE for g in self.gates)
        unfinished = sum(not g.done for g in self.gates)
        return 100 * len(self.early_work) + 10 * overdue + unfinished


def start_date(epic: Epic) -> date | None:
    return epic.ticket.created.date() if epic.ticket.created else None


def due_date(epic: Epic, gate: GateDef) -> date | None:
    start = start_date(epic)
    if gate.due_days is None or start is None:
        return None
    return start + timedelta(days=gate.due_days)


def missing_content(template: Template, gate: GateDef, ticket: Ticket) -> tuple[str, ...]:
    """What a gate ticket still lacks, in words a person acts on: "target missing"."""
    found: list[str] = []
    rules = gate.done_when
    if rules.assignee and not ticket.assignee:
        found.append("no owner assigned")
    for line in ticket.body.splitlines():
        box = _CHECKBOX.match(line)
        if box:
            if rules.checklist and box.group(1) == " ":
                found.append(f"{_sentence_case(box.group(2).rstrip('.'))} not ticked")
            continue
        if rules.filled and template.placeholder in line:
            field = _FIELD.match(line)
            name = field.group(1).strip(" *_") if field else line.strip(" -*")[:60]
            found.append(f"{_sentence_case(name)} missing")
    return tuple(found)


def _sentence_case(label: str) -> str:
    """`Production APIs` -> `production APIs`: lower the first letter only, acronyms stay readable."""
    return label[:1].lower() + label[1:]


def gate_state(template: Template, epic: Epic, gate: GateDef, ticket: Ticket | None, now: datetime) -> GateState:
    due = (ticket.due if ticket and ticket.due else None) or due_date(epic, gate)
    title = ticket.title if ticket else render(gate.title, **_epic_context(template, epic, gate, due))
    if ticket is None:
        return GateState(gate.key, title, ABSENT, None, due)
    missing = missing_content(template, gate, ticket)
    if ticket.category is StatusCategory.DONE:
        state = INCOMPLETE if missing else DONE
    elif due is not None and now.date() > due:
        state = OVERDUE
    else:
        state = OPEN
    return GateState(gate.key, title, state, ticket, due, missing)


def gate_states(template: Template, epic: Epic, now: datetime) -> tuple[GateState, ...]:
    tickets = epic.gates()
    return tuple(gate_state(template, epic, g, tickets.get(g.key), now) for g in template.gates)


def blocks(gate: GateDef, ticket: Ticket) -> bool:
    """Whether a gate blocks a ticket: gates never block gates; the selector narrows the rest."""
    return not ticket.is_gate and (gate.blocks is None or gate.blocks.matches(ticket))


def plan(template: Template, epic: Epic, now: datetime) -> list[Action]:
    """The actions that bring an epic to its required shape.

    Comments wait until every gate ticket exists, because a comment links the real gate tickets;
    the reconciler plans again right after creating gates.
    """
    if not template.applies(epic.ticket):
        return []
    states = gate_states(template, epic, now)
    actions: list[Action] = []
    absent = [s for s in states if s.state == ABSENT]
    if absent:
        actions.append(CreateGates(epic.key, tuple(_gate_spec(template, epic, s) for s in absent)))
    actions.extend(_missing_links(template, epic, states))
    if not absent:
        for ticket in epic.work():
            actions.extend(_comment_update(template, epic, states, ticket, started=_has_started(epic, ticket)))
        actions.extend(_overdue_notices(template, epic, states))
    if template.epic_label and template.epic_label not in epic.ticket.labels:
        actions.append(AddLabel(epic.key, template.epic_label))
    return actions


def needs_second_pass(template: Template, epic: Epic, now: datetime, started: tuple[str, ...] = ()) -> bool:
    """Whether planning again once the absent gates exist can add anything to this snapshot's plan.

    Only comments wait for the gates: one on work already started (or named in `started`, the
    event's ticket the snapshot may not show as started yet), or an overdue notice on a gate
    created after its due date. Otherwise the re-snapshot after creating gates is wasted calls.
    """
    if not template.applies(epic.ticket):
        return False
    if any(_has_started(epic, t) or t.key in started for t in epic.work()):
        return True
    return any(s.state == ABSENT and s.due is not None and now.date() > s.due
               for s in gate_states(template, epic, now))


def on_work_started(template: Template, epic: Epic, ticket_key: str, now: datetime) -> list[Action]:
    """Nothing when every gate blocking the ticket is done; else one comment naming each open gate."""
    ticket = epic.child(ticket_key)
    if ticket is None or ticket.is_gate or not template.applies(epic.ticket):
        return []
    states = gate_states(template, epic, now)
    if any(s.state == ABSENT for s in states):
        return []  # plan() creates the gates first; the comment follows on the next pass
    return list(_comment_update(template, epic, states, ticket, started=True))


def check_status(template: Template, epic: Epic, ticket_key: str, sha: str, now: datetime,
                 pull_request: str = "") -> list[Action]:
    """A commit status for a pull request that closes a gated ticket: failing while its gates are open."""
    ticket = epic.child(ticket_key)
    if ticket is None or ticket.is_gate or not sha or not template.applies(epic.ticket):
        return []
    open_gates = _open_gates_for(template, gate_states(template, epic, now), ticket)
    if not open_gates:
        return [SetCheck(ticket.key, sha, True, "All pilot gates are done", pull_request)]
    names = ", ".join(g.title.split(":")[0] for g in open_gates)
    return [SetCheck(ticket.key, sha, False, f"Open gates: {names}"[:140], pull_request)]


def assess(template: Template, epic: Epic, now: datetime) -> Readiness:
    states = gate_states(template, epic, now)
    early = tuple(
        t for t in epic.work()
        if t.category is StatusCategory.IN_PROGRESS or (t.key in epic.bot_comments and t.category is not StatusCategory.NEW)
        if _open_gates_for(template, states, t)
    )
    if any(s.state == ABSENT for s in states):
        verdict = "not_provisioned"
    elif all(s.done for s in states):
        verdict = "ready"
    elif early or any(s.state in (OVERDUE, INCOMPLETE) for s in states):
        verdict = "at_risk"
    else:
        verdict = "on_track"
    return Readiness(epic, states, early, verdict)


def _epic_context(template: Template, epic: Epic, gate: GateDef, due: date | None) -> dict:
    summary = {"key": epic.key, "title": epic.ticket.title, "url": epic.ticket.url}
    return gate_context(summary, gate, due, epic.tracker.value, template.placeholder)


def _gate_spec(template: Template, epic: Epic, state: GateState) -> GateSpec:
    gate = template.gate(state.key)
    context = _epic_context(template, epic, gate, state.due)
    targets = tuple(sorted(t.key for t in epic.work() if t.category is not StatusCategory.DONE and blocks(gate, t)))
    return GateSpec(
        gate=gate.key, title=render(gate.title, **context), body=render(gate.body, **context),
        labels=gate.labels, due=state.due, blocks=targets,
    )


def _missing_links(template: Template, epic: Epic, states: tuple[GateState, ...]) -> Iterator[AddBlocksLink]:
    """A gate still open blocks each unfinished work ticket it applies to; a done gate blocks nothing."""
    for state in states:
        if state.ticket is None or state.ticket.category is StatusCategory.DONE:
            continue
        gate = template.gate(state.key)
        for ticket in epic.work():
            if ticket.category is not StatusCategory.DONE and blocks(gate, ticket) \
                    and state.ticket.key not in ticket.blocked_by:
                yield AddBlocksLink(state.ticket.key, ticket.key)


def _has_started(epic: Epic, ticket: Ticket) -> bool:
    """In progress now, or flagged before (the bot's comment exists): a done ticket alone is history."""
    return ticket.category is StatusCategory.IN_PROGRESS or ticket.key in epic.bot_comments


def _open_gates_for(template: Template, states: tuple[GateState, ...], ticket: Ticket) -> list[GateState]:
    return [s for s in states if not s.done and blocks(template.gate(s.key), ticket)]


def _comment_update(template: Template, epic: Epic, states: tuple[GateState, ...], ticket: Ticket,
                    started: bool) -> Iterator[UpsertComment]:
    if not started:
        return
    open_gates = _open_gates_for(template, states, ticket)
    existing = epic.bot_comments.get(ticket.key)
    if open_gates:
        rule, source = "work_started_early", template.comments.work_started_early
    elif existing is not None:
        rule, source = "gates_clear", template.comments.gates_clear
    else:
        return
    body = render(source, ticket=_ticket_context(ticket), epic=_ticket_context(epic.ticket),
                  open_gates=[s.as_context() for s in open_gates], tracker=epic.tracker.value)
    if body != existing:
        yield UpsertComment(ticket.key, body, rule)


def _overdue_notices(template: Template, epic: Epic, states: tuple[GateState, ...]) -> Iterator[UpsertComment]:
    for state in states:
        if state.state != OVERDUE or state.ticket is None:
            continue
        body = render(template.comments.gate_overdue, gate=state.as_context(),
                      epic=_ticket_context(epic.ticket), tracker=epic.tracker.value)
        if epic.bot_comments.get(state.ticket.key) != body:
            yield UpsertComment(state.ticket.key, body, "gate_overdue")


def _ticket_context(ticket: Ticket) -> dict:
    return {"key": ticket.key, "title": ticket.title, "url": ticket.url, "status": ticket.status}
