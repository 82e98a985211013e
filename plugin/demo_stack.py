"""The demo's running parts: the sandbox tracker, Pilot Gate's web service and worker, a generated configuration."""

from __future__ import annotations

import logging
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, TypeVar

import yaml
from werkzeug.serving import WSGIRequestHandler, make_server

from connectors.base import Connector
from connectors.sandbox import Sandbox
from connectors.sandbox.github_store import BOT_LOGIN
from connectors.sandbox.jira_store import BOT
from plugin.config import Config, load_config
from plugin.jira_webhook import EVENTS as JIRA_EVENTS
from plugin.ledger import Ledger
from plugin.logs import configure_logging
from plugin.model import Tracker
from plugin.reconcile import Summary, reconcile
from plugin.templates import Template, default_templates_dir

REPO = "example-org/ml-pilots"
HOST = "127.0.0.1"
T = TypeVar("T")


class DemoFailure(Exception):
    """A step of the demo did not happen in time; the message names the step and where to look."""


def wait_for(step: str, check: Callable[[], T | None], timeout: float, poll: float = 0.1) -> T:
    """The first truthy answer of `check`, or DemoFailure naming `step` once `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() >= deadline:
            raise DemoFailure(f"{step}: did not happen within {timeout:g} s")
        time.sleep(poll)


def demo_config(folder: Path, sandbox_url: str, jira_secret: str, github_secret: str) -> dict:
    """pilotgate.yaml for the sandbox: both trackers at its URL, embedded storage in `folder`."""
    return {
        "templates": str(default_templates_dir()),
        "database": f"sqlite:///{folder / 'pilotgate.db'}",
        "queue": f"sqlite:///{folder / 'pilotgate-queue.db'}",
        "workers": 2,
        "jira": {"url": sandbox_url, "email": "pilotgate-demo@example.com", "token": "sandbox-accepts-any-token",
                 "webhook_secret": jira_secret, "pilots": "issuetype = Epic AND labels = ai-pilot",
                 "template": "ai-pilot", "bot_account": BOT["accountId"]},
        "github": {"api_url": sandbox_url, "token": "sandbox-accepts-any-token", "webhook_secret": github_secret,
                   "repositories": [REPO], "pilot_label": "ai-pilot", "in_progress": ["In Progress"],
                   "template": "ai-pilot", "bot_login": BOT_LOGIN},
    }


class _QuietHandler(WSGIRequestHandler):
    """Request lines would drown the demo's story; the service log and /metrics hold the same facts."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logging.getLogger("pilotgate.web").debug("%s %s", self.requestline, code)


class Service:
    """The web app and queue worker `pilotgate serve` runs, in this process (werkzeug serves it, not granian)."""

    def __init__(self, config: Config, port: int = 0) -> None:
        from plugin.web import create_app
        from plugin.wiring import build_worker

        self.app = create_app(config)
        self.runtime = build_worker(config)
        self._http = make_server(HOST, port, self.app, threaded=True, request_handler=_QuietHandler)
        self.port = self._http.port
        self.url = f"http://{HOST}:{self.port}"
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), name="pilotgate-web",
                                        daemon=True)
        self._runner = self.runtime.runner()

    def start(self) -> "Service":
        self._thread.start()
        self._runner.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._runner.stop()
        self.runtime.ledger.dispose()
        self.app.extensions["pilotgate"].ledger.dispose()


class Stack:
    """The sandbox and the service wired together by webhooks, in a scratch folder.

    `connectors` read the trackers the way Pilot Gate does (the demo shows what they see) and
    `sweep()` is `pilotgate sync`: the fallback for webhooks that never arrived.
    """

    def __init__(self, folder: Path | None = None, *, sandbox_options: dict | None = None) -> None:
        self.owns_folder = folder is None
        self.folder = Path(tempfile.mkdtemp(prefix="pilotgate-demo-")) if folder is None else folder
        self.sandbox = Sandbox.start(**(sandbox_options or {}))
        try:
            self._configure()
        except BaseException:
            self.sandbox.stop()
            if self.owns_folder:
                shutil.rmtree(self.folder, ignore_errors=True)
            raise
        self.service: Service | None = None
        self.port = 0

    def _configure(self) -> None:
        self.secrets = {"jira": secrets.token_hex(20), "github": secrets.token_hex(20)}
        self.config_file = self.folder / "pilotgate.yaml"
        self.config_file.write_text(yaml.safe_dump(demo_config(self.folder, self.sandbox.url, self.secrets["jira"],
                                                               self.secrets["github"]), sort_keys=False),
                                    encoding="utf-8")
        self.config_file.chmod(0o600)  # it holds this run's webhook secrets
        self.config = load_config(self.config_file)
        self.ledger = Ledger(self.config.database, base_dir=self.config.base_dir)
        self.ledger.create_schema()
        self.connectors, self.templates = self._admin_side()
        self.log_file = self.folder / "service.log"
        self._log_stream = self.log_file.open("a", encoding="utf-8")
        self._log_handler = configure_logging(self.config, stream=self._log_stream)

    def _admin_side(self) -> tuple[dict[Tracker, Connector], dict[Tracker, Template]]:
        from plugin.wiring import build_connectors, templates_by_tracker

        return build_connectors(self.config, self.ledger), templates_by_tracker(self.config)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start_service(self) -> Service:
        """Starts (or restarts, on the same port) the service and points the sandbox's webhooks at it."""
        if self.service is not None:
            raise RuntimeError("the service is already running")
        self.service = Service(self.config, self.port).start()
        self.port = self.service.port
        for tracker in ("jira", "github"):
            # Jira sends what `pilotgate jira register-webhook` subscribes to; GitHub's app gets every event.
            self.sandbox.configure_webhooks(tracker, f"{self.url}/webhooks/{tracker}", self.secrets[tracker],
                                            JIRA_EVENTS if tracker == "jira" else None)
        return self.service

    def stop_service(self) -> None:
        """The service goes away; the sandbox keeps sending webhooks to its address, which fail."""
        if self.service is not None:
            self.service.stop()
            self.service = None

    def sweep(self, epic_key: str | None = None) -> Summary:
        """`pilotgate sync [--epic KEY]`: every pilot epic (or one) through the engine, now."""
        return reconcile(self.connectors, self.templates, self.ledger, only=[epic_key] if epic_key else None)

    def close(self) -> None:
        self.stop_service()
        self.sandbox.stop()
        self.ledger.dispose()
        for name in ("pilotgate", "huey"):
            logging.getLogger(name).removeHandler(self._log_handler)
        self._log_stream.close()
        if self.owns_folder:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "Stack":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
