"""The ledger and outbox: dedupe under concurrency, Memory, run slots, epic locks, recovery of a dead worker."""

from __future__ import annotations

import gc
import multiprocessing
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from plugin.ledger import Ledger, database_url, intake
from plugin.model import Event, EventKind, Tracker
from plugin.outbox import Outbox, QueueStats
from plugin.queue import Queue


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.scaled)])
def ledger(request, tmp_path) -> Ledger:
    """The ledger on SQLite, and on PostgreSQL where .ci/services.sh started one."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_database")
    built = Ledger(url)
    built.create_schema()
    yield built
    built.dispose()


def event(delivery: str, ticket: str = "AI-2") -> Event:
    return Event(Tracker.JIRA, EventKind.WORK_STARTED, delivery, ticket)


def test_same_delivery_accepted_from_many_threads_is_stored_once(ledger):
    outbox = Outbox(ledger)
    with ThreadPoolExecutor(max_workers=16) as pool:
        ids = list(pool.map(lambda _: outbox.accept(event("same")), range(64)))
    assert ids.count(True) == 1
    assert outbox.stats().depth == 1


def test_same_delivery_id_from_the_other_tracker_is_a_different_delivery(ledger):
    outbox = Outbox(ledger)
    assert outbox.accept(event("d"))
    assert outbox.accept(Event(Tracker.GITHUB, EventKind.WORK_STARTED, "d", "o/r#1"))


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
    outbox.accept(event("a")), outbox.accept(event("b", "AI-7"))
    orphan, in_hand = outbox.dispatch_due()
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
    for n in range(5):
        outbox.accept(event(f"d-{n}"))
    ids = outbox.dispatch_due()
    assert [outbox.get(event_id).delivery for event_id in ids] == [f"d-{n}" for n in range(5)]
    assert outbox.dispatch_due() == []
    assert outbox.dispatch_due(redispatch_after=0.0) == ids  # handed out again when never claimed


def test_dispatch_hands_out_at_most_its_limit_and_the_rest_next_time(ledger):
    outbox = Outbox(ledger)
    for n in range(5):
        outbox.accept(event(f"l-{n}"))
    first, rest = outbox.dispatch_due(limit=3), outbox.dispatch_due(limit=3)
    assert [outbox.get(event_id).delivery for event_id in first + rest] == [f"l-{n}" for n in range(5)]
    assert (len(first), len(rest)) == (3, 2)


def test_retries_of_one_epic_go_out_as_one_message_and_its_pass_takes_them_all(ledger):
    outbox = Outbox(ledger)
    for n in range(4):
        outbox.accept(event(f"r-{n}", f"AI-{n + 2}"))
    ids = outbox.dispatch_due()
    for event_id, epic in zip(ids, ("AI-1", "AI-1", "AI-1", "AI-9")):
        outbox.set_epic(event_id, epic)
        assert outbox.claim(event_id)
        assert outbox.record_failure(event_id, "boom", retry_at=ledger.clock() - 1, status="processing")

    lead, other_epic = outbox.dispatch_due()
    assert (lead, other_epic) == (ids[0], ids[3])  # the oldest of AI-1's three, and AI-9's one
    assert outbox.dispatch_due() == []  # the other two are handed out with the first
    assert sorted(r.id for r in outbox.claim_for_epic(Tracker.JIRA, "AI-1")) == ids[:3]


def test_redelivery_after_the_first_copy_left_the_intake_is_still_a_duplicate(ledger):
    outbox = Outbox(ledger)
    assert outbox.accept(event("d"))
    [event_id] = outbox.dispatch_due()
    assert not outbox.accept(event("d"))
    assert outbox.admit() == 0
    assert outbox.stats().depth == 1 and outbox.get(event_id).delivery == "d"


def test_accepted_deliveries_count_in_the_queue_depth_before_they_are_admitted(ledger):
    outbox = Outbox(ledger)
    ledger.clock = lambda: 1000.0
    outbox.accept(event("a"))
    ledger.clock = lambda: 1030.0
    outbox.accept(event("b"))
    assert outbox.stats() == QueueStats(depth=2, oldest_age=30.0, processing=0, failed=0)
    assert outbox.admit() == 2
    assert outbox.stats() == QueueStats(depth=2, oldest_age=30.0, processing=0, failed=0)


def test_a_delivery_let_into_the_intake_twice_is_queued_once(ledger):
    # On PostgreSQL a webhook can miss, in its snapshot, the move of the first copy that commits
    # meanwhile: the intake then holds a delivery that `events` has already.
    outbox = Outbox(ledger)
    outbox.accept(event("d"))
    outbox.admit()
    with ledger.engine.begin() as conn:
        conn.execute(intake.insert().values(tracker="jira", delivery="d", kind="work_started", ticket_key="AI-2",
                                            payload="{}", received_at=0.0))
    assert outbox.admit() == 1
    assert len(outbox.dispatch_due()) == 1
    assert outbox.stats().depth == 1


def test_deliveries_accepted_while_dispatchers_admit_are_each_queued_once(ledger):
    outbox = Outbox(ledger)
    stop = threading.Event()
    failures = []

    def admit_until_stopped() -> None:
        try:
            while not stop.is_set():
                outbox.admit(limit=7)
        except Exception as err:  # a mover that fails must fail the test, not just end its thread
            failures.append(err)

    movers = [threading.Thread(target=admit_until_stopped) for _ in range(2)]
    for mover in movers:
        mover.start()
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(lambda n: outbox.accept(event(f"d-{n % 100}")), range(300)))
    finally:
        stop.set()
        for mover in movers:
            mover.join()
    assert failures == []
    outbox.admit()
    accepted = answers.count(True)
    if ledger.dialect == "sqlite":  # one writer at a time: every repeat is answered "duplicate"
        assert accepted == 100
    else:  # a repeat racing its first copy's move may be let in, and is dropped by the move
        assert accepted >= 100
    deliveries = [outbox.get(event_id).delivery for event_id in outbox.dispatch_due(limit=1000)]
    assert sorted(deliveries) == sorted(f"d-{n}" for n in range(100))


def test_relative_sqlite_paths_are_resolved_against_the_config_folder(tmp_path):
    assert database_url("sqlite:///pilotgate.db", tmp_path) == f"sqlite:///{tmp_path / 'pilotgate.db'}"
    assert database_url("postgresql://u@h/db").startswith("postgresql+psycopg://")


def _hold_write_lock(path) -> sqlite3.Connection:
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_queue_depth_counts_a_delivery_the_dispatcher_moves_while_it_is_read(ledger, monkeypatch):
    from sqlalchemy.engine import Connection

    outbox = Outbox(ledger)
    outbox.accept(event("d"))
    execute, moved = Connection.execute, []

    def execute_then_move(self, statement, *args, **kwargs):
        frozen = execute(self, statement, *args, **kwargs).freeze()
        if not moved:  # after the first read, the dispatcher moves the delivery from intake into events
            moved.append("moving")
            monkeypatch.setattr(Connection, "execute", execute)
            moved.append(outbox.admit())
        return frozen()

    monkeypatch.setattr(Connection, "execute", execute_then_move)
    assert outbox.stats().depth == 1
    assert moved == ["moving", 1]


def test_webhook_threads_connection_settings_never_reach_the_pool(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.create_schema()
    outbox = Outbox(ledger)
    server_thread = threading.Thread(target=outbox.accept, args=(event("d"),))
    server_thread.start()
    server_thread.join()
    gc.collect()  # the ended thread's connection goes with it (a server retiring an idle thread)
    held = [ledger.engine.raw_connection() for _ in range(ledger.engine.pool.checkedin())]
    try:
        for connection in held:  # the insert's autocommit and no-wait settings stayed on its own connection
            assert connection.driver_connection.isolation_level is not None
            assert connection.driver_connection.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    finally:
        for connection in held:
            connection.close()
    assert outbox.accept(event("e")) and outbox.stats().depth == 2


def test_webhook_insert_waits_out_another_writer_then_commits(tmp_path):
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.create_schema()
    outbox = Outbox(ledger)
    holder = _hold_write_lock(tmp_path / "ledger.db")
    with ThreadPoolExecutor(max_workers=1) as pool:
        accepted = pool.submit(outbox.accept, event("d"))
        time.sleep(0.2)
        assert not accepted.done()  # still waiting for the lock, not failed
        holder.execute("COMMIT")
        assert accepted.result(timeout=5) is True
    assert outbox.stats().depth == 1


def test_webhook_insert_gives_up_on_a_lock_held_too_long_and_recovers(tmp_path, monkeypatch):
    monkeypatch.setattr("plugin.intake.LOCKED_WAIT_SECONDS", 0.2)
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.create_schema()
    outbox = Outbox(ledger)
    holder = _hold_write_lock(tmp_path / "ledger.db")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        outbox.accept(event("d"))
    holder.execute("COMMIT")
    assert outbox.accept(event("d"))  # nothing of the first try was committed
