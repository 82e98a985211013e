"""Reconciliation of every pilot epic: the periodic sweep and `pilotgate sync` share this one function."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Mapping, Sequence

from connectors.base import Connector, Outcome
from plugin import handlers, logs, metrics
from plugin.ledger import Ledger
from plugin.model import Action, Tracker, action_kind
from plugin.worker import MAX_PASSES, describe

LOG = logging.getLogger("pilotgate.reconcile")
_GITHUB_KEY = re.compile(r"^[\w.-]+/[\w.-]+#\d+$")


@dataclass(frozen=True)
class EpicResult:
    tracker: Tracker
    epic_key: str
    planned: tuple[Action, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    error: str | None = None
    busy: bool = False  # a worker held the epic: it is being reconciled right now anyway


@dataclass
class Summary:
    dry_run: bool
    epics: list[EpicResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # a tracker that could not be read at all

    @property
    def ok(self) -> bool:
        return not self.errors and not any(e.error for e in self.epics)

    def actions_done(self) -> int:
        return sum(1 for e in self.epics for o in e.outcomes if o.done)


def reconcile(
    connectors: Mapping[Tracker, Connector],
    templates: Mapping[Tracker, object],
    ledger: Ledger | None,
    *,
    dry_run: bool = False,
    only: Sequence[str] | None = None,
    now: datetime | None = None,
) -> Summary:
    """Plans (and unless `dry_run`, applies and audits) every pilot epic, or only the keys in `only`.

    One epic failing does not stop the others; its error is in the summary. Epics a worker holds
    are skipped as busy. `ledger` may be None for a dry run without a database.
    """
    now = now or datetime.now(timezone.utc)
    summary = Summary(dry_run=dry_run)
    delivery = f"sweep:{now.strftime('%Y%m%dT%H%M%SZ')}"
    for tracker, connector in connectors.items():
        keys = _keys_for(tracker, only)
        if keys == []:
            continue
        try:
            for epic in connector.pilot_epics(keys):
                summary.epics.append(_one_epic(connector, templates[tracker], ledger, epic, now, dry_run, delivery))
        except Exception as err:  # a tracker that cannot be listed is reported, the other one still runs
            summary.errors.append(f"{tracker.value}: {describe(err)}")
            logs.error(LOG, "could not list pilot epics", tracker=tracker, error=describe(err))
    return summary


def _keys_for(tracker: Tracker, only: Sequence[str] | None) -> list[str] | None:
    """The keys of `only` that belong to this tracker: `owner/repo#n` is GitHub's, anything else Jira's."""
    if only is None:
        return None
    return [k for k in only if bool(_GITHUB_KEY.match(k)) == (tracker is Tracker.GITHUB)]


def _one_epic(connector: Connector, template, ledger: Ledger | None, epic, now: datetime, dry_run: bool,
              delivery: str) -> EpicResult:
    tracker = connector.tracker
    with logs.log_context(delivery=delivery, tracker=tracker, epic=epic.key):
        if dry_run:
            return EpicResult(tracker, epic.key, planned=tuple(handlers.actions_for(None, template, epic, now)))
        with ledger.locks.hold(tracker, epic.key) as held:
            if not held:
                return EpicResult(tracker, epic.key, busy=True)
            try:
                planned, outcomes = _apply(connector, template, epic, now)
            except Exception as err:  # reported per epic; the next sweep tries again
                logs.warning(LOG, "epic not reconciled", error=describe(err))
                return EpicResult(tracker, epic.key, error=describe(err))
            _audit(ledger, delivery, tracker, epic.key, outcomes)
            return EpicResult(tracker, epic.key, tuple(planned), tuple(outcomes))


def _apply(connector: Connector, template, epic, now: datetime) -> tuple[list[Action], list[Outcome]]:
    planned: list[Action] = []
    outcomes: list[Outcome] = []
    for number in range(MAX_PASSES):
        if number:
            epic = connector.snapshot(epic.key)  # gates were just created: plan the comments with them
        actions = handlers.actions_for(None, template, epic, now)
        if not actions:
            break
        planned += actions
        applied = connector.apply(epic, actions)
        outcomes += applied
        if not handlers.plan_again(None, template, epic, now, applied):
            break
    return planned, outcomes


def _audit(ledger: Ledger, delivery: str, tracker: Tracker, epic_key: str, outcomes: list[Outcome]) -> None:
    if not outcomes:
        return  # a sweep over healthy epics leaves no trail of "nothing to do"
    counts: dict = dict(metrics.TRACKER_CALLS.drain())
    for outcome in outcomes:
        key = ("actions", metrics.labels(tracker=tracker.value, kind=action_kind(outcome.action),
                                         outcome="done" if outcome.done else "skipped"))
        counts[key] = counts.get(key, 0.0) + 1
    with ledger.write() as conn:
        ledger.write_audit(conn, handlers.audit_records(delivery, tracker, epic_key, outcomes))
        ledger.add_counts(conn, counts)
    logs.info(LOG, "epic reconciled", actions=len(outcomes))
