"""A real server on loopback and huey's consumer threads: bursts about one epic, and how fast work starts."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from werkzeug.serving import make_server

from plugin.model import StatusCategory
from plugin.queue import Queue, Runner
from tests.conftest import JIRA_SECRET, sign
from tests.fakes import FakeConnector
from tests.worker_world import EPIC, WORK, comments_posted, epic_edited, gate_tickets, make_worker, new_pilot, work_started


@pytest.fixture
def server(app):
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture
def fake() -> FakeConnector:
    return new_pilot(FakeConnector(latency=0.005))


@pytest.fixture
def running(config, fake):
    setup = make_worker(config, fake)
    runner = Runner(Queue(config, setup.ledger).bind(setup.worker.process), workers=4, periodic=False).start()
    yield setup
    runner.stop()


def post(base: str, payload: dict, delivery: str) -> int:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(f"{base}/webhooks/jira", data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Hub-Signature": sign(body, JIRA_SECRET),
        "X-Atlassian-Webhook-Identifier": delivery})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as err:
        return err.code


def wait_until(condition, timeout: float = 10.0) -> float:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)
    return time.monotonic() - start


def test_fifty_concurrent_deliveries_about_one_new_epic_make_one_set_of_gates(server, running, fake):
    distinct = [(work_started(), f"ws-{n}") for n in range(20)] + [(epic_edited(), f"ee-{n}") for n in range(10)]
    burst = distinct + distinct[:20]  # 20 redeliveries racing their originals
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(lambda item: post(server, *item), burst))
    assert answers.count(202) == 30
    assert answers.count(200) == 20
    wait_until(lambda: running.outbox.stats().depth == 0 and running.outbox.stats().processing == 0)
    assert len(gate_tickets(fake)) == 4
    assert sum(1 for entry in fake.recorded if entry.startswith("create ")) == 4
    assert comments_posted(fake, WORK) == 1
    assert all(comments_posted(fake, key) <= 1 for key in fake.tickets)


def test_work_started_on_an_idle_worker_is_commented_within_a_second(server, running, fake):
    post(server, epic_edited(), "provision")
    wait_until(lambda: len(gate_tickets(fake)) == 4)
    took = []
    for number in range(10):
        key = f"AI-{100 + number}"
        fake.add_work(EPIC, f"Task {number}", key=key, category=StatusCategory.IN_PROGRESS)
        time.sleep(0.3)  # let the consumer go idle and back off
        start = time.monotonic()
        assert post(server, work_started(key), str(uuid.uuid4())) == 202
        wait_until(lambda: comments_posted(fake, key) == 1, timeout=5)
        took.append(time.monotonic() - start)
    took.sort()
    assert took[int(len(took) * 0.95) - 1] < 1.0, took
