"""Fault injection, call counting, persistence across a killed process, and speed at benchmark scale."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from connectors.sandbox import Sandbox, SandboxClient
from connectors.sandbox.faults import FaultPlan

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sandbox():
    with Sandbox.start(schema="trimmed") as running:
        yield running


def _get(sandbox, path: str) -> requests.Response:
    return requests.get(f"{sandbox.url}{path}", auth=("bot@example.com", "t"), timeout=10)


def test_a_burst_of_429s_with_retry_after_then_normal_answers(sandbox):
    sandbox.client.faults(burst_429=2, retry_after=3)
    answers = [_get(sandbox, "/rest/api/2/myself") for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "3" and answers[0].json()["errorMessages"]
    calls = sandbox.client.calls()
    assert calls["routes"]["GET /rest/api/2/myself"] == 3 and calls["injected"] == {"429": 2}


def test_a_seeded_share_of_500s_repeats_exactly(sandbox):
    def run() -> list[int]:
        sandbox.client.faults(error_rate=0.3, seed=7)
        return [_get(sandbox, "/rest/api/2/serverInfo").status_code for _ in range(40)]

    first = run()
    assert first == run() and 0 < first.count(500) < 40 and set(first) == {200, 500}


def test_delay_applies_to_every_api_call_but_not_to_admin_calls(sandbox):
    sandbox.client.faults(delay=0.2, only=["/rest/"])
    started = time.monotonic()
    _get(sandbox, "/rest/api/2/myself")
    slow = time.monotonic() - started
    started = time.monotonic()
    sandbox.client.health()
    assert slow >= 0.2 > time.monotonic() - started
    assert "GET /_sandbox/health" not in sandbox.client.calls()["routes"]


def test_unknown_fault_settings_are_refused():
    with pytest.raises(ValueError, match="unknown fault setting"):
        FaultPlan.from_dict({"dealy": 1})


def _spawn(state_file: Path) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "connectors.sandbox", "--port", "0", "--schema", "trimmed",
                                "--state-file", str(state_file)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    assert "listening on" in line, line
    return process, line.rsplit(" ", 1)[1].strip()


def test_state_survives_a_killed_sandbox_process(tmp_path):
    state = tmp_path / "sandbox.json"
    process, url = _spawn(state)
    try:
        epic = SandboxClient(url).jira_epic("Survivor")["key"]
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    process, url = _spawn(state)
    try:
        client = SandboxClient(url)
        assert client.jira_record(epic)["summary"] == "Survivor"
        assert client.jira_epic("After restart")["key"] == "PILOT-2"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_children_of_fifty_epics_come_back_from_a_large_tracker_quickly(sandbox):
    jira = sandbox.state.jira
    epics = []
    for n in range(300):
        epic = jira.create({"project": {"key": "PILOT"}, "summary": f"E{n}", "issuetype": {"name": "Epic"},
                            "labels": ["ai-pilot"]}, "557058:alice")
        epics.append(epic["key"])
        for c in range(20):
            jira.create({"project": {"key": "PILOT"}, "summary": f"C{c}", "issuetype": {"name": "Task"},
                         "parent": {"key": epic["key"]}}, "557058:alice")
    jql = f"parent in ({', '.join(epics[:50])})"
    started = time.monotonic()
    answer = requests.post(f"{sandbox.url}/rest/api/2/search/jql", auth=("a", "t"), timeout=10,
                           json={"jql": jql, "fields": ["summary", "parent"], "maxResults": 100}).json()
    assert len(answer["issues"]) == 100 and time.monotonic() - started < 1.0  # the parent index, not a scan
