"""SQLite WAL checkpoints happen on the web process's background thread, never inside a webhook's commit."""

from __future__ import annotations

import gc
import os
import threading

from tests.conftest import fixture_json

THREAD = "pilotgate-wal-checkpoint"
WORK_STARTED = fixture_json("jira/issue_updated.status.json")


def _checkpoint_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == THREAD]


def test_webhook_commits_never_checkpoint_the_wal(app, deliveries):
    before = set(_checkpoint_threads())
    for n in range(5):
        assert deliveries.jira(WORK_STARTED, delivery=f"wal-{n}").status_code == 202
    insert = app.extensions["pilotgate"].outbox._insert.local.connection
    assert insert.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    assert len(set(_checkpoint_threads()) - before) == 1  # started by the first queued delivery, once


def test_background_checkpoint_copies_every_committed_frame_into_the_database(app, deliveries):
    for n in range(30):
        assert deliveries.jira(WORK_STARTED, delivery=f"ckpt-{n}").status_code == 202
    busy, frames, copied = app.extensions["pilotgate"].checkpointer.checkpoint()
    assert busy == 0
    assert frames > 0  # the 30 commits left their pages in the WAL
    assert copied == frames


def test_checkpoint_thread_ends_with_its_application(config):
    from plugin.web import create_app

    before = set(_checkpoint_threads())
    app = create_app(config)
    app.extensions["pilotgate"].checkpointer.interval = 0.05
    app.extensions["pilotgate"].checkpointer.ensure_running()
    (started,) = set(_checkpoint_threads()) - before
    del app
    gc.collect()
    started.join(timeout=5)
    assert not started.is_alive()


def test_server_worker_forked_after_start_runs_its_own_checkpoint_thread(app):
    checkpointer = app.extensions["pilotgate"].checkpointer
    checkpointer.ensure_running()
    pid = os.fork()
    if pid == 0:  # a server worker forked after the app was loaded (gunicorn --preload): no thread came along
        inherited = len(_checkpoint_threads())
        checkpointer.ensure_running()
        os._exit(0 if (inherited, len(_checkpoint_threads())) == (0, 1) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
