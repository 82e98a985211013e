"""reconcile(): the sweep and `pilotgate sync` over every pilot epic."""

from __future__ import annotations

from plugin.ledger import Ledger
from plugin.model import Tracker
from plugin.queue import Queue
from plugin.reconcile import reconcile
from plugin.wiring import templates_by_tracker
from tests.fakes import FakeConnector, transient
from tests.worker_world import EPIC, WORK, comments_posted, gate_tickets, new_pilot


def setup(config):
    ledger = Ledger(config.database, base_dir=config.base_dir)
    ledger.create_schema()
    fake = new_pilot(FakeConnector())
    fake.add_epic("Contract summarizer", key="AI-50")
    return ledger, fake, templates_by_tracker(config)


def test_sweep_provisions_every_pilot_epic_and_audits_it(config):
    ledger, fake, templates = setup(config)
    summary = reconcile({Tracker.JIRA: fake}, templates, ledger)
    assert summary.ok
    assert len(gate_tickets(fake, EPIC)) == 4 and len(gate_tickets(fake, "AI-50")) == 4
    assert comments_posted(fake, WORK) == 1
    assert {r["delivery"].split(":")[0] for r in ledger.audit_trail()} == {"sweep"}


def test_second_sweep_changes_nothing(config):
    ledger, fake, templates = setup(config)
    reconcile({Tracker.JIRA: fake}, templates, ledger)
    before = list(fake.recorded)
    summary = reconcile({Tracker.JIRA: fake}, templates, ledger)
    assert fake.recorded == before and summary.actions_done() == 0


def test_dry_run_plans_without_writing(config):
    ledger, fake, templates = setup(config)
    summary = reconcile({Tracker.JIRA: fake}, templates, None, dry_run=True)
    assert fake.recorded == []
    assert {e.epic_key for e in summary.epics if e.planned} == {EPIC, "AI-50"}


def test_only_named_epics_are_reconciled(config):
    ledger, fake, templates = setup(config)
    reconcile({Tracker.JIRA: fake}, templates, ledger, only=["AI-50"])
    assert gate_tickets(fake, EPIC) == [] and len(gate_tickets(fake, "AI-50")) == 4


def test_epic_a_worker_holds_is_skipped_as_busy(config):
    ledger, fake, templates = setup(config)
    with ledger.locks.hold(Tracker.JIRA, EPIC):
        summary = reconcile({Tracker.JIRA: fake}, templates, ledger)
    assert [e.epic_key for e in summary.epics if e.busy] == [EPIC]
    assert gate_tickets(fake, EPIC) == []


class FailsOnFirstEpic(FakeConnector):
    def apply(self, epic, actions):
        if epic.key == EPIC:
            raise transient()
        return super().apply(epic, actions)


def test_one_failing_epic_does_not_stop_the_others(config):
    ledger, _, templates = setup(config)
    fake = new_pilot(FailsOnFirstEpic())
    fake.add_epic("Contract summarizer", key="AI-50")
    summary = reconcile({Tracker.JIRA: fake}, templates, ledger)
    assert not summary.ok
    assert len([e for e in summary.epics if e.error]) == 1
    assert len([e for e in summary.epics if e.outcomes]) == 1


def test_periodic_sweep_runs_once_per_period_across_consumers(config):
    ledger, fake, templates = setup(config)
    runs = []
    first = Queue(config, ledger).bind(lambda event_id: None, lambda: runs.append("first"))
    second = Queue(config, ledger).bind(lambda event_id: None, lambda: runs.append("second"))
    first.sweep()
    second.sweep()
    assert runs == ["first"]
