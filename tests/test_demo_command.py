"""`pilotgate demo` as a newcomer runs it: a subprocess in an empty folder, no credentials, no configuration."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from plugin.demo_scenes import Story
from plugin.demo_stack import DemoFailure
from plugin.demo_story import JiraTeam
from plugin.model import Tracker
from tests.e2e_world import open_pilot, started_stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
PILOTGATE = [sys.executable, "-c", "import sys; from plugin.cli import main; sys.exit(main())"]


def clean_env() -> dict[str, str]:
    """The environment without anything that could point Pilot Gate at a configuration or a tracker."""
    dropped = ("PILOTGATE_", "JIRA_", "GITHUB_")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)}


def run_demo(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(PILOTGATE + ["demo", *args], cwd=folder, env=clean_env(), capture_output=True, text=True,
                          timeout=150)


def test_demo_tells_the_whole_story_and_exits_0_in_well_under_a_minute(tmp_path):
    began = time.monotonic()
    result = run_demo(tmp_path)
    elapsed = time.monotonic() - began

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count("Four gate tickets") == 2  # one pilot in Jira, one on GitHub
    assert "Pilot Gate comments on PILOT-2:" in out
    assert "| Work on PILOT-2 has started while 4 gates are still open:" in out
    assert "| Update: every gate that blocks PILOT-2 is now done." in out
    assert "| Work on example-org/ml-pilots#2 has started while 4 gates are still open:" in out
    assert "| Update: every gate that blocks example-org/ml-pilots#2 is now done." in out
    assert re.search(r"\| 2 pilots at .*: 2 ready", out)
    assert "Demo finished in" in out
    assert "Traceback" not in result.stderr
    assert elapsed < 60
    storage = re.search(r"storage in (\S+)\)", out).group(1)
    assert not Path(storage).exists()  # the scratch folder goes with the demo
    assert list(tmp_path.iterdir()) == []  # nothing written where it was run


def test_demo_keep_leaves_the_dashboard_up_until_interrupted(tmp_path):
    demo = subprocess.Popen(PILOTGATE + ["demo", "--keep"], cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _read_until(demo, "Everything keeps running")
        urls = [demo.stdout.readline() for _ in range(6)]
        dashboard = next(m.group(1) for m in map(re.compile(r"^\s+dashboard\s+(http\S+)").search, urls) if m)
        with urllib.request.urlopen(dashboard, timeout=60) as page:
            assert page.status == 200 and "PILOT-1" in page.read().decode()
        with urllib.request.urlopen(dashboard + "api/pilots", timeout=60) as answer:
            assert len(json.loads(answer.read())["pilots"]) == 2
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=30) == 0
        assert "Stopping." in demo.stdout.read()
    finally:
        _stop(demo)


def test_demo_stopped_by_sigterm_takes_its_scratch_folder_with_it(tmp_path):
    demo = subprocess.Popen(PILOTGATE + ["demo"], cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = _read_until(demo, "storage in")[-1]
        storage = Path(re.search(r"storage in (\S+)\)", line).group(1))
        assert storage.is_dir()

        demo.send_signal(signal.SIGTERM)

        assert demo.wait(timeout=60) == 128 + signal.SIGTERM
        assert not storage.exists()
    finally:
        _stop(demo)


def test_demo_step_that_never_happens_fails_with_the_step_and_the_service_log(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from plugin.commands.demo import demo

    def stalls(story: Story) -> None:
        # Every real step finishes within the 1 s minimum now; the story is what waits, so it fails here.
        raise DemoFailure("Gate tickets in PILOT-1: did not happen within 1 s")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(Story, "run", stalls)
    previous = signal.getsignal(signal.SIGTERM)  # the command installs its own SIGTERM handler
    try:
        result = CliRunner().invoke(demo, ["--timeout", "1"])
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert result.exit_code == 1
    assert "Error: Gate tickets in PILOT-1: did not happen within 1 s" in result.output
    assert "Last lines of the service log:" in result.output or "The service log is empty." in result.output
    assert "pilotgate demo --timeout 90" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_story_names_the_step_that_did_not_happen(tmp_path):
    stack = started_stack(tmp_path)
    try:
        pilot = open_pilot(stack, Tracker.JIRA)
        stack.sweep(pilot.key)  # gates in place, then the service goes away before work starts
        stack.stop_service()
        story = Story(stack, lambda line: None, timeout=1)

        with pytest.raises(DemoFailure, match=r"^Pilot Gate's comment on PILOT-2 after work started: "
                                              r"did not happen within 1 s$"):
            story.work_starts(JiraTeam(stack.sandbox), pilot, "PILOT-2", "Train the invoice classifier")
    finally:
        stack.close()


def _read_until(process: subprocess.Popen, marker: str, timeout: float = 90) -> list[str]:
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError("demo ended early:\n" + "".join(lines) + process.stderr.read())
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"no {marker!r} within {timeout} s:\n" + "".join(lines))


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()  # the demo cleans up on SIGTERM
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_other_commands_never_load_the_sandbox():
    probe = "import sys, plugin.cli; print('connectors.sandbox' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
