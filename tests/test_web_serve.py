"""`pilotgate serve` for real: granian on loopback plus the worker, one delivery end to end, clean stop."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import JIRA_SECRET, config_mapping, sign

pytestmark = pytest.mark.e2e
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def test_serve_answers_webhooks_and_stops_cleanly_on_sigterm(tmp_path):
    config_file = tmp_path / "pilotgate.yaml"
    config_file.write_text(yaml.safe_dump(config_mapping(tmp_path, github=None)), encoding="utf-8")
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")
    serve = subprocess.Popen([str(BIN / "pilotgate"), "serve", "--config", str(config_file), "--port", str(port)],
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = get(f"http://127.0.0.1:{port}/healthz")
                break
            except OSError:
                if time.monotonic() > deadline or serve.poll() is not None:
                    raise AssertionError((tmp_path / "serve.log").read_text())
                time.sleep(0.2)
        assert health["status"] == "ok"
        body = json.dumps({"webhookEvent": "sprint_started", "timestamp": 1}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/jira", data=body,
                                         headers={"X-Hub-Signature": sign(body, JIRA_SECRET)})
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert json.loads(answer.read())["status"] == "ignored"
        forged = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/jira", data=body,
                                        headers={"X-Hub-Signature": sign(body, JIRA_SECRET + "x")})
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(forged, timeout=5)
    finally:
        serve.send_signal(signal.SIGTERM)
        try:
            assert serve.wait(timeout=30) == 0
        finally:
            if serve.poll() is None:
                os.killpg(serve.pid, signal.SIGKILL)
            log.close()
    assert web_server_gone(port, within=15)
    # The web server's own processes log through Pilot Gate's handler too (timestamped, secrets masked).
    assert re.search(r"WARNING pilotgate\.web delivery refused tracker=jira status=401",
                     (tmp_path / "serve.log").read_text())


def web_server_gone(port: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            get(f"http://127.0.0.1:{port}/healthz")
        except OSError:
            return True
        time.sleep(0.2)
    return False


def test_serve_runs_one_granian_process_on_sqlite_and_the_configured_count_otherwise(tmp_path):
    from plugin.commands.service import server_command, web_processes
    from plugin.config import config_from_mapping

    on_sqlite = config_from_mapping(config_mapping(tmp_path, workers=4), base_dir=tmp_path)
    on_postgres = config_from_mapping(config_mapping(tmp_path, workers=4, database="postgresql://pg/pilotgate"),
                                      base_dir=tmp_path)
    assert web_processes(on_sqlite) == 1  # one writer at a time: a second process only waits for the lock
    assert web_processes(on_postgres) == 4
    assert web_processes(on_sqlite, "gunicorn") == 4  # sync workers: the processes are the concurrency
    command = server_command("granian", "127.0.0.1", 8080, web_processes(on_sqlite))
    assert command[command.index("--workers") + 1] == "1"
