"""Events waiting for one epic are handled in one pass, each still accounted for; lost huey messages come back."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from connectors.base import PermanentError
from plugin.model import StatusCategory, UpsertComment
from plugin.queue import Heartbeat, Queue
from tests.fakes import FakeConnector
from tests.worker_world import EPIC, WORK, comments_posted, gate_tickets, make_worker, new_pilot, work_started

OTHER_WORK = "AI-3"


class CountingFake(FakeConnector):
    """Counts snapshots; refuses for good any comment on the tickets in `refuse_comments_on`."""

    def __init__(self) -> None:
        super().__init__()
        self.snapshots = 0
        self.refuse_comments_on: set[str] = set()

    def snapshot(self, epic_key):
        self.snapshots += 1
        return super().snapshot(epic_key)

    def apply(self, epic, actions):
        refused = [a for a in actions if isinstance(a, UpsertComment) and a.ticket_key in self.refuse_comments_on]
        if refused:
            raise PermanentError(f"comment on {refused[0].ticket_key} refused")
        return super().apply(epic, actions)


@pytest.fixture
def fake() -> CountingFake:
    fake = new_pilot(CountingFake())
    fake.add_work(EPIC, "Label the invoices", key=OTHER_WORK)  # to do in the snapshot: the search lags
    return fake


def deliver_burst(deliveries) -> None:
    for number, ticket in enumerate((WORK, OTHER_WORK, WORK)):
        assert deliveries.jira(work_started(ticket), delivery=f"burst-{number}").status_code == 202


def test_waiting_events_of_one_epic_are_handled_in_one_pass_each_audited_once(config, deliveries, fake):
    setup = make_worker(config, fake)
    deliver_burst(deliveries)
    first, *others = setup.outbox.dispatch_due()
    setup.worker.process(first)

    assert [setup.outbox.get(i).status for i in [first, *others]] == ["done"] * 3
    assert fake.snapshots == 2  # one pass: a snapshot, and one more after creating the gates
    assert len(gate_tickets(fake)) == 4
    assert comments_posted(fake, WORK) == 1 and comments_posted(fake, OTHER_WORK) == 1
    trail = setup.ledger.audit_trail()
    assert {r["delivery"] for r in trail} == {"burst-0", "burst-1", "burst-2"}
    done = Counter((r["action"], r["ticket_key"]) for r in trail if r["done"])
    assert set(done.values()) == {1}  # no write twice, though three events asked for the same plan
    assert {("create_gates", EPIC), ("upsert_comment", WORK), ("upsert_comment", OTHER_WORK)} <= set(done)
    # The other ticket's comment is credited to the event that asked for it.
    assert any(r["delivery"] == "burst-1" and r["ticket_key"] == OTHER_WORK for r in trail if r["done"])
    assert setup.ledger.counts()[("coalesced", "tracker=jira")] == 2


def test_later_wakeups_of_events_handled_in_an_earlier_pass_change_nothing(config, deliveries, fake):
    setup = make_worker(config, fake)
    deliver_burst(deliveries)
    ids = setup.outbox.dispatch_due()
    for event_id in ids:
        setup.worker.process(event_id)
    assert fake.snapshots == 2
    assert len(setup.ledger.audit_trail()) == len({(r["delivery"], r["action"], r["ticket_key"])
                                                   for r in setup.ledger.audit_trail()})


def test_one_event_refused_for_good_fails_alone_not_its_whole_pass(config, deliveries, fake):
    setup = make_worker(config, fake)
    fake.refuse_comments_on = {OTHER_WORK}
    deliver_burst(deliveries)
    first, *_ = setup.outbox.dispatch_due()
    setup.worker.process(first)

    [failed] = setup.outbox.failed()
    assert failed.delivery == "burst-1" and "refused" in failed.error
    assert setup.outbox.stats().depth == 0
    assert comments_posted(fake, WORK) == 1 and len(gate_tickets(fake)) == 4


def test_events_not_yet_tied_to_an_epic_join_the_pass_that_snapshots_their_ticket(config, deliveries, fake):
    setup = make_worker(config, fake)
    fake.set(OTHER_WORK, category=StatusCategory.IN_PROGRESS, status="In Progress")
    for number, ticket in enumerate((WORK, OTHER_WORK)):
        deliveries.jira(work_started(ticket), delivery=f"adopt-{number}")
    first, second = setup.outbox.dispatch_due()
    assert setup.outbox.get(second).epic_key is None  # not resolved: its worker has not run yet
    setup.worker.process(first)
    assert setup.outbox.get(second).status == "done" and setup.outbox.get(second).epic_key == EPIC
    setup.worker.process(second)  # its own wakeup, late: nothing left to do
    assert comments_posted(fake, OTHER_WORK) == 1


class Clock:
    def __init__(self) -> None:
        self.now = time.time() + 1  # events the web app accepts are stamped with the real clock: due by now

    def __call__(self) -> float:
        return self.now


def two_consumers(config):
    """A worker setup on a clock the test moves, and two consumers' heartbeats (1 s, lost after 5 s)."""
    setup = make_worker(config, new_pilot(FakeConnector()))
    clock = setup.ledger.clock = Clock()
    queue = Queue(config, setup.ledger)
    return setup, clock, Heartbeat(queue, every=1, lost_after=5), Heartbeat(queue, every=1, lost_after=5)


def test_events_a_dead_consumer_took_are_handed_out_again_once_its_heartbeat_is_stale(config, deliveries):
    setup, clock, dead, alive = two_consumers(config)
    dead.beat()
    alive.beat()
    deliveries.jira(work_started(), delivery="lost-1")
    taken = setup.outbox.dispatch_due()
    assert taken and setup.outbox.dispatch_due() == []  # handed out, its message now lost with `dead`

    clock.now += 4
    assert alive.beat() == 0  # `dead` is late, not lost yet
    clock.now += 2
    assert alive.beat() == len(taken)
    assert setup.outbox.dispatch_due() == taken
    assert setup.ledger.counts()[("redispatched", "")] == len(taken)


def test_consumer_that_stops_cleanly_is_not_taken_for_dead(config, deliveries):
    _, clock, leaving, staying = two_consumers(config)
    leaving.beat()
    staying.beat()
    leaving.stop()
    clock.now += 10
    assert staying.beat() == 0


def test_heartbeat_longer_than_the_loss_threshold_is_refused(config):
    setup = make_worker(config, new_pilot(FakeConnector()))
    with pytest.raises(ValueError, match="shorter than lost_after"):
        Heartbeat(Queue(config, setup.ledger), every=20, lost_after=15)
