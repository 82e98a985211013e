"""How `pilotgate sync` words a reconciliation: the plan per epic (dry run) and the one-line summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from connectors.base import Outcome
from plugin.model import Action, AddBlocksLink, AddLabel, CreateGates, SetCheck, UpsertComment
from plugin.reconcile import Summary


@dataclass(frozen=True)
class Counts:
    epics: int = 0
    gates: int = 0
    links: int = 0
    comments: int = 0
    errors: int = 0
    busy: int = 0


def counts(summary: Summary) -> Counts:
    """What was done; in a dry run, what would be done."""
    gates = links = comments = 0
    for result in summary.epics:
        items = [(a, None) for a in result.planned] if summary.dry_run else [(o.action, o) for o in result.outcomes]
        for action, outcome in items:
            if outcome is not None and not outcome.done:
                continue
            made = _gates_made(action, outcome)
            gates += made
            if isinstance(action, CreateGates) and made == len(action.gates):
                links += sum(len(spec.blocks) for spec in action.gates)  # each new gate is born blocking
            links += isinstance(action, AddBlocksLink)
            comments += isinstance(action, UpsertComment)
    errors = len(summary.errors) + sum(1 for r in summary.epics if r.error)
    return Counts(len(summary.epics), gates, links, comments, errors, sum(1 for r in summary.epics if r.busy))


def _gates_made(action: Action, outcome: Outcome | None) -> int:
    if not isinstance(action, CreateGates):
        return 0
    return len(action.gates) if outcome is None else len(outcome.created_keys)


def summary_line(summary: Summary) -> str:
    c = counts(summary)
    verb = "would be" if summary.dry_run else ""
    parts = [f"{c.epics} epic{'s' if c.epics != 1 else ''} seen",
             f"{c.gates} gate{'s' if c.gates != 1 else ''} {verb + ' ' if verb else ''}created",
             f"{c.links} link{'s' if c.links != 1 else ''} {verb + ' ' if verb else ''}added",
             f"{c.comments} comment{'s' if c.comments != 1 else ''} {verb + ' ' if verb else ''}written",
             f"{c.errors} error{'s' if c.errors != 1 else ''}"]
    if c.busy:
        parts.append(f"{c.busy} busy (a worker is on them)")
    prefix = "Dry run: " if summary.dry_run else ""
    return prefix + ", ".join(parts)


def describe_plan(summary: Summary) -> Iterator[str]:
    """Per epic, the actions a real sync would take, in the order it would take them."""
    for result in summary.epics:
        where = f"{result.epic_key} ({result.tracker.value})"
        if result.error:
            yield f"{where}: cannot plan: {result.error}"
        elif not result.planned:
            yield f"{where}: nothing to do"
        else:
            yield f"{where}: {len(result.planned)} action{'s' if len(result.planned) != 1 else ''}"
            for action in result.planned:
                yield f"  {describe_action(action)}"
            if any(isinstance(a, CreateGates) and any(spec.blocks for spec in a.gates) for a in result.planned):
                yield "  (comments on work started early follow once the gates exist)"


def describe_action(action: Action) -> str:
    if isinstance(action, CreateGates):
        blocked = sorted({k for spec in action.gates for k in spec.blocks})
        names = ", ".join(spec.gate for spec in action.gates)
        return f"create {len(action.gates)} gates: {names}" + (f" (blocking {', '.join(blocked)})" if blocked else "")
    if isinstance(action, AddBlocksLink):
        return f"link {action.blocker_key} blocks {action.blocked_key}"
    if isinstance(action, UpsertComment):
        return f"comment on {action.ticket_key} ({action.rule})"
    if isinstance(action, AddLabel):
        return f"label {action.ticket_key} with {action.label}"
    if isinstance(action, SetCheck):
        return f"commit status on {action.ticket_key}@{action.sha[:7]}: {'passing' if action.passed else 'failing'}"
    raise TypeError(f"unknown action {action!r}")
