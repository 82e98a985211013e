"""Which engine rules an event triggers, and how the outcomes of applying them read in the audit trail."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Iterable, Sequence

from connectors.base import Connector, Outcome
from plugin import engine
from plugin.ledger import AuditRecord
from plugin.model import (
    Action, AddBlocksLink, AddLabel, CreateGates, Epic, Event, EventKind, SetCheck, Tracker, UpsertComment,
    action_kind,
)
from plugin.templates import Template


def resolve_ticket(event: Event, connector: Connector, in_progress: Sequence[str]) -> Event | str:
    """The event with its ticket named, or the reason it needs no work.

    A GitHub Projects item event names its issue only by node id, and its old payload shape
    not even the new Status: both are read from the tracker here, not in the web request.
    """
    if event.ticket_key:
        return event
    item = event.detail.get("needs_status_lookup")
    if item:
        key, status = connector.project_item_status(item)
        if status is None or status.lower() not in {s.lower() for s in in_progress}:
            return f"project Status is {status!r}, not an in-progress status"
    else:
        node = event.detail.get("content_node_id")
        key = connector.ticket_key_of_node(node) if node else None
    if not key:
        return "the project item is not an issue"
    return replace(event, ticket_key=key)


def actions_for(event: Event | None, template: Template, epic: Epic, now: datetime) -> list[Action]:
    """The whole plan for the epic, plus what this event alone asks for.

    A work-started event names a ticket the snapshot may not show as started yet (search lags
    behind writes), and a pull request event carries the head sha its commit status belongs to.
    """
    return [action for action, _ in batch_actions([event] if event is not None else [], template, epic, now)]


def batch_actions(events: Sequence[Event], template: Template, epic: Epic,
                  now: datetime) -> list[tuple[Action, int]]:
    """The plan for the epic once, plus what each event alone asks for, for events handled in one pass.

    Each action comes with the index of the event it is credited to in the audit trail: the
    plan's actions to the first event, an event's own actions to that event.
    """
    credited = [(action, 0) for action in engine.plan(template, epic, now)]
    actions = [action for action, _ in credited]
    for index, event in enumerate(events):
        for action in _unique(_own_actions(event, template, epic, now)):
            if action not in actions and not _same_comment_planned(action, actions):
                credited.append((action, index))
                actions.append(action)
    return credited


def _own_actions(event: Event, template: Template, epic: Epic, now: datetime) -> list[Action]:
    if event.ticket_key == epic.key:
        return []
    extra: list[Action] = []
    if event.kind is EventKind.WORK_STARTED:
        extra += engine.on_work_started(template, epic, event.ticket_key, now)
    sha = event.detail.get("sha")
    if sha:
        extra += engine.check_status(template, epic, event.ticket_key, sha, now, event.detail.get("pr", ""))
    return extra


def credited_to(action: Action, credited: Sequence[tuple[Action, int]]) -> int:
    """The index of the event an applied action is credited to (see `batch_actions`)."""
    return next((index for planned, index in credited if planned == action), 0)


def _unique(actions: Iterable[Action]) -> list[Action]:
    seen: list[Action] = []
    for action in actions:
        if action not in seen:
            seen.append(action)
    return seen


def _same_comment_planned(action: Action, planned: Sequence[Action]) -> bool:
    """One comment per ticket per pass: the plan's version wins over the event's."""
    return isinstance(action, UpsertComment) and any(
        isinstance(p, UpsertComment) and p.ticket_key == action.ticket_key for p in planned)


def gates_now_exist(outcomes: Sequence[Outcome]) -> bool:
    """Whether gates the plan's snapshot lacked exist now: created by this pass, or found already there
    (another process created them after this one's read)."""
    return any(isinstance(o.action, CreateGates) and (o.created_keys or o.gates_exist) for o in outcomes)


def plan_again(event: Event | None, template: Template, epic: Epic, now: datetime,
               outcomes: Sequence[Outcome]) -> bool:
    """After applying a plan to `epic`: whether a fresh snapshot and plan can add anything (comments
    that waited for the gates just created); otherwise the second snapshot is not worth its calls."""
    return plan_batch_again([event] if event is not None else [], template, epic, now, outcomes)


def plan_batch_again(events: Sequence[Event], template: Template, epic: Epic, now: datetime,
                     outcomes: Sequence[Outcome]) -> bool:
    """`plan_again` for the events handled in one pass: any of their started tickets counts."""
    if not gates_now_exist(outcomes):
        return False
    started = tuple(e.ticket_key for e in events if e.kind is EventKind.WORK_STARTED and e.ticket_key != epic.key)
    return engine.needs_second_pass(template, epic, now, started)


def ticket_of(action: Action) -> str:
    if isinstance(action, CreateGates):
        return action.epic_key
    if isinstance(action, AddBlocksLink):
        return action.blocked_key
    if isinstance(action, (UpsertComment, AddLabel, SetCheck)):
        return action.ticket_key
    raise TypeError(f"unknown action {action!r}")


def rule_of(action: Action) -> str:
    if isinstance(action, UpsertComment):
        return action.rule
    if isinstance(action, CreateGates):
        return ",".join(spec.gate for spec in action.gates)
    if isinstance(action, AddBlocksLink):
        return f"{action.blocker_key} blocks"
    if isinstance(action, AddLabel):
        return action.label
    return "passed" if action.passed else "failing"


def audit_records(delivery: str, tracker: Tracker, epic_key: str, outcomes: Sequence[Outcome],
                  nothing: str = "epic already in shape") -> list[AuditRecord]:
    """One record per action taken or skipped; one "nothing to do" record, saying `nothing`, when there was none."""
    if not outcomes:
        return [AuditRecord(delivery, tracker, epic_key, epic_key, "none", False, nothing)]
    return [
        AuditRecord(delivery, tracker, epic_key, ticket_of(o.action), action_kind(o.action), o.done,
                    _reason(o), rule_of(o.action))
        for o in outcomes
    ]


def _reason(outcome: Outcome) -> str:
    if outcome.created_keys:
        return "created " + ", ".join(outcome.created_keys)
    return outcome.reason
