"""A pilot epic in a fake tracker, the Jira deliveries about it, and a loop that works the outbox off."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

from plugin.config import Config
from plugin.ledger import Ledger
from plugin.model import StatusCategory, Tracker
from plugin.outbox import Outbox
from plugin.wiring import templates_by_tracker
from plugin.worker import RetryPolicy, Worker
from tests.conftest import fixture_json
from tests.fakes import FakeConnector

EPIC, WORK = "AI-1", "AI-2"  # the fake numbers the tickets it creates PILOT-n


def new_pilot(fake: FakeConnector) -> FakeConnector:
    """A new pilot epic with one work ticket already in progress: gates due, and one early-work comment."""
    fake.add_epic("Invoice triage assistant", key=EPIC)
    fake.add_work(EPIC, "Train the classifier", key=WORK, category=StatusCategory.IN_PROGRESS)
    fake.set(WORK, status="In Progress")
    return fake


def work_started(ticket: str = WORK, epic: str = EPIC) -> dict:
    """A real `jira:issue_updated` status change (tests/fixtures), moved onto our ticket and epic."""
    payload = copy.deepcopy(fixture_json("jira/issue_updated.status.json"))
    payload["issue"]["key"] = ticket
    payload["issue"]["fields"]["parent"] = {"id": "10001", "key": epic}
    return payload


def epic_edited(epic: str = EPIC) -> dict:
    payload = copy.deepcopy(fixture_json("jira/issue_updated.status.json"))
    payload["issue"]["key"] = epic
    payload["issue"]["fields"]["issuetype"] = {"name": "Epic", "hierarchyLevel": 1}
    payload["issue"]["fields"]["status"]["statusCategory"]["key"] = "new"
    payload["changelog"]["items"] = [{"field": "summary", "fieldtype": "jira", "from": None, "fromString": "a",
                                      "to": None, "toString": "b"}]
    return payload


@dataclass
class Setup:
    ledger: Ledger
    outbox: Outbox
    worker: Worker


def make_worker(config: Config, fake: FakeConnector, policy: RetryPolicy = RetryPolicy(attempts=4, base=0.01)) -> Setup:
    ledger = Ledger(config.database, base_dir=config.base_dir)
    ledger.create_schema()
    worker = Worker(ledger, {Tracker.JIRA: fake}, templates_by_tracker(config), policy=policy, busy_delay=0.01)
    return Setup(ledger, Outbox(ledger), worker)


def work_off(setup: Setup, timeout: float = 10.0) -> None:
    """Dispatches and processes due events until none waits (retries included) or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event_id in setup.outbox.dispatch_due(redispatch_after=0.0):
            setup.worker.process(event_id)
        stats = setup.outbox.stats()
        if stats.depth == 0 and stats.processing == 0:
            return
        time.sleep(0.01)
    raise AssertionError(f"outbox not worked off in {timeout}s: {setup.outbox.stats()}")


def gate_tickets(fake: FakeConnector, epic: str = EPIC) -> list[str]:
    return sorted(t.gate for t in fake.tickets.values() if t.parent == epic and t.gate)


def comments_posted(fake: FakeConnector, ticket: str) -> int:
    return sum(1 for entry in fake.recorded if entry.startswith(f"comment {ticket}:"))
