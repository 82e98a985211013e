"""The ledger and outbox: dedupe under concurrency, Memory, run slots, epic locks, recovery of a dead worker."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from plugin.ledger import Ledger, database_url
from plugin.model import Event, EventKind, Tracker
from plugin.outbox import Outbox
from plugin.queue import Queue


@pytest.fixture
def ledger(tmp_path) -> Ledger:
    built = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    built.create_schema()
    yield built
    built.dispose()


def event(delivery: str, ticket: str = "AI-2") -> Event:
    return Event(Tracker.JIRA, EventKind.WORK_STARTED, delivery, ticket)


def test_same_delivery_accepted_from_many_threads_is_stored_once(ledger):
    outbox = Outbox(ledger)
    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(lambda _: outbox.accept(event("same")), range(64)))
    assert len([i for i in ids if i is not None]) == 1
    assert outbox.stats().depth == 1


def test_same_delivery_id_from_the_other_tracker_is_a_different_delivery(ledger):
    outbox = Outbox(ledger)
    assert outbox.accept(event("d")) is not None
    assert outbox.accept(Event(Tracker.GITHUB, EventKind.WORK_STARTED, "d", "o/r#1")) is not None


def test_first_recorded_gate_ticket_wins(ledger):
    ledger.record_gate(Tracker.JIRA, "AI-1", "success-metric", "AI-10", "10010")
    ledger.record_gate(Tracker.JIRA, "AI-1", "success-metric", "AI-11", "10011")
    assert ledger.gate_tickets(Tracker.JIRA, "AI-1") == {"success-metric": "AI-10"}
    assert ledger.gate_refs(Tracker.JIRA, "AI-1") == {"success-metric": "10010"}
    assert ledger.gate_tickets(Tracker.GITHUB, "AI-1") == {}


def test_comment_id_is_remembered_and_replaced(ledger):
    assert ledger.comment_id(Tracker.GITHUB, "o/r#2") is None
    ledger.record_comment(Tracker.GITHUB, "o/r#2", "100")
    ledger.record_comment(Tracker.GITHUB, "o/r#2", "101")
    assert ledger.comment_id(Tracker.GITHUB, "o/r#2") == "101"


def test_a_run_slot_goes_to_exactly_one_of_many_claimants(ledger):
    with ThreadPoolExecutor(max_workers=8) as pool:
        won = list(pool.map(lambda _: ledger.claim_slot("sweep", 900), range(8)))
    assert won.count(True) == 1
    assert ledger.claim_slot("sweep", 900) is False


def test_epic_lock_is_exclusive_between_threads_and_free_after(ledger):
    with ledger.locks.hold(Tracker.JIRA, "AI-1") as first:
        results = []
        thread = threading.Thread(target=lambda: results.append(_try_lock(ledger, "AI-1")))
        thread.start()
        thread.join()
        assert first and results == [False]
        assert _try_lock(ledger, "AI-9")  # another epic is not held up
    assert _try_lock(ledger, "AI-1")


def _try_lock(ledger: Ledger, epic: str) -> bool:
    with ledger.locks.hold(Tracker.JIRA, epic) as held:
        return held


def _hold_in_child(url: str, ready, release) -> None:
    child = Ledger(url)
    with child.locks.hold(Tracker.JIRA, "AI-1"):
        ready.set()
        release.wait(10)


def test_epic_lock_is_exclusive_between_processes(ledger):
    ready, release = multiprocessing.Event(), multiprocessing.Event()
    child = multiprocessing.Process(target=_hold_in_child, args=(ledger.url, ready, release))
    child.start()
    try:
        assert ready.wait(10)
        assert not _try_lock(ledger, "AI-1")
    finally:
        release.set()
        child.join(10)
    assert _try_lock(ledger, "AI-1")


def test_event_left_processing_by_a_dead_worker_is_requeued_but_not_one_in_hand(ledger, config):
    outbox = Outbox(ledger)
    orphan, in_hand = outbox.accept(event("a")), outbox.accept(event("b", "AI-7"))
    for event_id, epic in ((orphan, "AI-1"), (in_hand, "AI-6")):
        outbox.set_epic(event_id, epic)
        assert outbox.claim(event_id)
    queue = Queue(config, ledger)
    with ledger.locks.hold(Tracker.JIRA, "AI-6"):  # a live worker is on AI-6
        assert queue.recover() == 1
    assert outbox.get(orphan).status == "queued"
    assert outbox.get(in_hand).status == "processing"


def test_dispatch_hands_out_each_due_event_once(ledger):
    outbox = Outbox(ledger)
    ids = [outbox.accept(event(f"d-{n}")) for n in range(5)]
    assert outbox.dispatch_due() == ids
    assert outbox.dispatch_due() == []
    assert outbox.dispatch_due(redispatch_after=0.0) == ids  # handed out again when never claimed


def test_relative_sqlite_paths_are_resolved_against_the_config_folder(tmp_path):
    assert database_url("sqlite:///pilotgate.db", tmp_path) == f"sqlite:///{tmp_path / 'pilotgate.db'}"
    assert database_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
