"""RecentReads: a read stands in for the next one only if it is fresh and nothing it covers was written since."""

from __future__ import annotations

import threading

from connectors.recent_reads import RecentReads, WriteLog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fresh(ttl: float = 2.0, **kwargs) -> tuple[RecentReads[str], Clock]:
    clock = Clock()
    return RecentReads(ttl, clock=clock, writes=kwargs.pop("writes", WriteLog()), **kwargs), clock


def test_a_kept_read_is_taken_once():
    reads, _ = fresh()
    reads.keep("E-1", reads.ticket(), {"W-1"}, "answer")
    assert reads.take("E-1") == "answer"
    assert reads.take("E-1") is None


def test_a_read_older_than_its_time_to_live_is_not_served():
    reads, clock = fresh(ttl=2.0)
    reads.keep("E-1", reads.ticket(), (), "answer")
    clock.now = 2.5
    assert reads.take("E-1") is None


def test_a_write_to_a_covered_key_after_the_read_began_makes_it_a_miss():
    reads, _ = fresh()
    ticket = reads.ticket()
    reads.written({"W-1"})
    reads.keep("E-1", ticket, {"W-1"}, "answer")
    assert reads.take("E-1") is None


def test_a_write_to_the_epic_after_the_read_was_kept_makes_it_a_miss():
    reads, _ = fresh()
    reads.keep("E-1", reads.ticket(), (), "answer")
    reads.written({"E-1"})
    assert reads.take("E-1") is None


def test_a_write_that_began_before_the_read_and_ended_after_it_makes_it_a_miss():
    reads, _ = fresh()
    reads.written({"E-1"})  # stamped before the write is sent
    ticket = reads.ticket()
    reads.written({"E-1"})  # and after its answer
    reads.keep("E-1", ticket, (), "answer")
    assert reads.take("E-1") is None


def test_writes_finished_before_the_read_or_to_other_keys_do_not_matter():
    reads, _ = fresh()
    reads.written({"E-1", "W-1"})
    ticket = reads.ticket()
    reads.written({"E-2", "W-9"})
    reads.keep("E-1", ticket, {"W-1"}, "answer")
    assert reads.take("E-1") == "answer"


def test_reads_older_than_what_the_write_log_forgot_are_misses_never_served():
    log = WriteLog(keys_kept=2)
    reads, _ = fresh(writes=log)
    ticket = reads.ticket()
    reads.written({"E-1"})
    reads.written({"X-1"})
    reads.written({"X-2"})  # E-1's stamp is dropped: the log can no longer vouch for older reads
    reads.keep("E-1", ticket, (), "answer")
    assert reads.take("E-1") is None
    reads.keep("E-1", reads.ticket(), (), "newer")
    assert reads.take("E-1") == "newer"


def test_the_number_of_kept_reads_is_bounded_oldest_first():
    reads, _ = fresh(reads_kept=2)
    for key in ("E-1", "E-2", "E-3"):
        reads.keep(key, reads.ticket(), (), key)
    assert [reads.take(key) for key in ("E-1", "E-2", "E-3")] == [None, "E-2", "E-3"]


def test_threads_keeping_taking_and_writing_at_once_each_get_their_own_read_back():
    reads, _ = fresh(reads_kept=64)
    failures: list[str] = []

    def worker(number: int) -> None:
        for round_ in range(300):
            key = f"E-{number}"
            reads.keep(key, reads.ticket(), {f"W-{number}"}, f"{key}/{round_}")
            reads.written({f"other-{number}-{round_}"})
            if reads.take(key) != f"{key}/{round_}":
                failures.append(f"{key} round {round_}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
