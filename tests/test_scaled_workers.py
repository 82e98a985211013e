"""Scaled out: web on PostgreSQL, queue on Redis, two worker processes sharing the work (real servers).

Needs REDIS_URL and PILOTGATE_TEST_PG, which .ci/services.sh exports after starting both on loopback.
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from werkzeug.serving import make_server

from plugin.config import config_from_mapping
from plugin.ledger import Ledger
from plugin.model import StatusCategory
from plugin.outbox import Outbox
from tests.conftest import config_mapping
from tests.filefake import FileConnector
from tests.test_worker_concurrency import post
from tests.test_worker_crash import start_worker, wait_for
from tests.worker_world import EPIC, WORK, comments_posted, epic_edited, gate_tickets, new_pilot, work_started

pytestmark = pytest.mark.scaled
SECOND_EPIC, SECOND_WORK = "AI-50", "AI-51"


@pytest.fixture
def servers(pg_database):
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.skip("REDIS_URL is not set: run `source .ci/services.sh` first")
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    return redis_url, pg_database


@pytest.fixture
def scaled(servers, tmp_path):
    redis_url, database = servers
    data = config_mapping(tmp_path, github=None, database=database, queue=redis_url)
    config_file = tmp_path / "pilotgate.yaml"
    config_file.write_text(yaml.safe_dump(data), encoding="utf-8")
    state = tmp_path / "tracker.json"
    tracker = new_pilot(FileConnector(state))
    tracker.add_epic("Contract summarizer", key=SECOND_EPIC)
    tracker.add_work(SECOND_EPIC, "Prompt library", key=SECOND_WORK, category=StatusCategory.IN_PROGRESS)
    tracker.save()
    return config_from_mapping(data, base_dir=tmp_path), config_file, state


def test_two_workers_on_redis_and_postgres_make_one_set_of_gates_per_epic(scaled, tmp_path):
    config, config_file, state = scaled
    from plugin.web import create_app

    app = create_app(config)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_port}"
    log = tmp_path / "workers.log"
    workers = [start_worker(config_file, state, 0.02, log) for _ in range(2)]
    try:
        deliveries = []
        for epic, work in ((EPIC, WORK), (SECOND_EPIC, SECOND_WORK)):
            deliveries += [(work_started(work, epic), f"{epic}-ws-{n}") for n in range(15)]
            deliveries += [(epic_edited(epic), f"{epic}-ee-{n}") for n in range(5)]
        burst = deliveries + deliveries[::4]  # redeliveries mixed in
        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(lambda item: post(base, *item), burst))
        assert answers.count(202) == len(deliveries)
        assert answers.count(200) == len(burst) - len(deliveries)

        outbox = Outbox(Ledger(config.database))
        wait_for(lambda: outbox.stats().depth == 0 and outbox.stats().processing == 0, 30, "burst worked off", log)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=20)
        httpd.shutdown()
        app.extensions["pilotgate"].ledger.dispose()
    tracker = FileConnector(state).load()
    for epic, work in ((EPIC, WORK), (SECOND_EPIC, SECOND_WORK)):
        assert len(gate_tickets(tracker, epic)) == 4
        assert comments_posted(tracker, work) == 1
    assert sum(1 for entry in tracker.recorded if entry.startswith("create ")) == 8
    assert all(comments_posted(tracker, key) <= 1 for key in tracker.tickets)
    assert outbox.failed() == []
    outbox.ledger.dispose()
