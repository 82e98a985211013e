"""Pilot Gate as deployed for a benchmark: a configuration in a scratch folder and the servers' command lines."""

from __future__ import annotations

import json
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmarks.common import BENCH, PYTHON, ROOT
from plugin.commands.service import GRANIAN_THREADS  # as `pilotgate serve` runs it

WORK = BENCH / ".work"
SECRET = "bench-webhook-secret"
REPO = "example-org/ml-pilots"
PROJECT = "PILOT"
WORKERS = 2  # the baselines; the service runs with as many web processes as `pilotgate serve` starts
BIN = Path(PYTHON).parent


@dataclass(frozen=True)
class Deployment:
    """A fresh folder with pilotgate.yaml, its SQLite database and queue."""

    folder: Path
    config: Path

    @property
    def env(self) -> dict[str, str]:
        # As `pilotgate serve` runs the web server: server workers share Prometheus counters via files.
        metrics = self.folder / "metrics"
        metrics.mkdir(exist_ok=True)
        return {"PILOTGATE_CONFIG": str(self.config), "PYTHONPATH": str(ROOT), "PROMETHEUS_MULTIPROC_DIR": str(metrics)}


def deployment(name: str, tracker_url: str = "http://127.0.0.1:9", queue: str | None = None,
               bot_account: str = "557058:pilotgate-bot", bot_login: str = "pilotgate[bot]") -> Deployment:
    """A configuration for both trackers pointing at `tracker_url` (a sandbox; unreachable by default)."""
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    config = {
        "templates": str(ROOT / "templates"),
        "database": f"sqlite:///{folder / 'pilotgate.db'}",
        "queue": queue or f"sqlite:///{folder / 'pilotgate-queue.db'}",
        "jira": {"url": tracker_url, "email": "bot@example.com", "token": "jira-token",
                 "webhook_secret": SECRET, "pilots": "issuetype = Epic AND labels = ai-pilot",
                 "template": "ai-pilot", "bot_account": bot_account},
        "github": {"api_url": tracker_url, "token": "github-token", "webhook_secret": SECRET,
                   "repositories": [REPO], "pilot_label": "ai-pilot", "template": "ai-pilot",
                   "bot_login": bot_login},
    }
    path = folder / "pilotgate.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return Deployment(folder, path)


def server_command(server: str, target: str, port: int, factory: bool = False, workers: int = WORKERS) -> list[str]:
    """Every app under one server with the same settings (keep-alive, loopback); `workers` processes."""
    if server == "gunicorn":
        app = f"{target}()" if factory else target
        return [str(BIN / "gunicorn"), "-w", str(workers), "-b", f"127.0.0.1:{port}", "--keep-alive", "5",
                "--log-level", "warning", app]
    if server == "granian":
        return [str(BIN / "granian"), "--interface", "wsgi", "--workers", str(workers),
                "--blocking-threads", str(GRANIAN_THREADS), "--host", "127.0.0.1",
                "--port", str(port), "--log-level", "warning", *(["--factory"] if factory else []), target]
    raise ValueError(f"unknown server {server!r}: gunicorn or granian")


SERVICE_TARGET = "plugin.web:served_app"
BARE_TARGET = "benchmarks.bare_flask:app"
SERVERS = ("gunicorn", "granian")


def health(port: int) -> dict:
    """GET /healthz: liveness and queue depth, as the service reports them."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
        return json.loads(answer.read())
