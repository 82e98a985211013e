"""A worker process SIGKILLed in the middle of provisioning, then restarted: one set of gates, one comment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from plugin.ledger import Ledger
from plugin.outbox import Outbox
from tests.conftest import config_mapping
from tests.filefake import FileConnector
from tests.worker_world import WORK, comments_posted, gate_tickets, new_pilot, work_started

ROOT = Path(__file__).resolve().parents[1]


def start_worker(config_file: Path, state: Path, gate_delay: float, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "tests.filefake", str(config_file), str(state), str(gate_delay)],
                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for(condition, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {timeout}s; worker log:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


@pytest.fixture
def world(tmp_path):
    config_file = tmp_path / "pilotgate.yaml"
    config_file.write_text(yaml.safe_dump(config_mapping(tmp_path, github=None)), encoding="utf-8")
    state = tmp_path / "tracker.json"
    new_pilot(FileConnector(state)).save()
    return config_file, state, tmp_path / "worker.log"


def test_worker_killed_mid_provisioning_then_restarted_leaves_one_set_of_gates(world, deliveries):
    config_file, state, log = world
    assert deliveries.jira(work_started(), delivery="crash-1").status_code == 202
    tracker = FileConnector(state)

    worker = start_worker(config_file, state, gate_delay=0.5, log=log)
    try:
        wait_for(lambda: len(gate_tickets(tracker.load())) >= 2, 20, "two gates created", log)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    created_before_kill = len(gate_tickets(tracker.load()))
    assert 2 <= created_before_kill < 4

    ledger = Ledger(yaml.safe_load(config_file.read_text())["database"])
    outbox = Outbox(ledger)
    assert outbox.stats().processing == 1  # the killed worker had claimed it

    worker = start_worker(config_file, state, gate_delay=0.0, log=log)
    try:
        wait_for(lambda: outbox.stats().processing == 0 and outbox.stats().depth == 0, 20, "event done", log)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=20)
    tracker.load()
    assert len(gate_tickets(tracker)) == 4
    assert sum(1 for entry in tracker.recorded if entry.startswith("create ")) == 4
    assert comments_posted(tracker, WORK) == 1
    assert outbox.failed() == []
