"""The Flask application: `create_app()` loads and checks the configuration once and registers blueprints.

Gunicorn: `gunicorn 'plugin.web:served_app()'`; granian: `granian --interface wsgi --factory plugin.web:served_app`
(`served_app` also sets up logging; `create_app` leaves it to its host).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Mapping

from flask import Flask, current_app
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from plugin.config import Config, ConfigError, config_from_mapping, load_config
from plugin.ledger import Ledger
from plugin.logs import configure_logging
from plugin.metrics import WebMetrics
from plugin.model import Tracker
from plugin.outbox import Outbox
from plugin.queue import make_huey
from plugin.web.wal import WalCheckpointer
from plugin.web.webhooks import WebhookGateway

EXTENSION = "pilotgate"
LOG = logging.getLogger("pilotgate.web")


@dataclass(frozen=True)
class WebhookSource:
    """How one tracker's deliveries are checked and read."""

    tracker: Tracker
    secret: str
    signature_header: str
    parse: Callable[[Mapping[str, str], bytes], Any]  # -> Event | Ignored, or raises PayloadError
    # Ignored from the headers alone (before the body is decoded), or None to parse it.
    unused: Callable[[Mapping[str, str]], Any] = lambda headers: None


@dataclass
class Service:
    """Everything a request needs, built once per application (app.extensions["pilotgate"])."""

    config: Config
    ledger: Ledger
    outbox: Outbox
    queue_ping: Callable[[], Any]
    metrics: WebMetrics
    sources: dict[str, WebhookSource]
    started: float
    checkpointer: WalCheckpointer | None = None  # SQLite only


def _blueprints() -> list:
    from plugin.web import dashboard, health

    # One list of every blueprint; webhooks are answered in front of Flask (plugin/web/webhooks.py).
    return [health.bp, dashboard.bp]


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    """The application. `config`: a Config, a mapping shaped like pilotgate.yaml, or None to read
    the file named by PILOTGATE_CONFIG (else ./pilotgate.yaml). Raises ConfigError on a bad value."""
    settings = _settings(config)
    app = Flask("pilotgate")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False
    ledger = Ledger(settings.database, base_dir=settings.base_dir)
    _create_schema(ledger)
    huey = make_huey(settings.queue, settings.base_dir)
    state = app.extensions[EXTENSION] = Service(
        config=settings, ledger=ledger, outbox=Outbox(ledger), queue_ping=huey.pending_count,
        metrics=WebMetrics(), sources=webhook_sources(settings), started=time.time(),
        checkpointer=WalCheckpointer(ledger.engine) if ledger.engine.dialect.name == "sqlite" else None,
    )
    for blueprint in _blueprints():
        app.register_blueprint(blueprint)
    app.wsgi_app = WebhookGateway(app.wsgi_app, state)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def served_app() -> Flask:
    """The application in a web server's process, as `pilotgate serve` starts it: the configuration
    named by PILOTGATE_CONFIG, and Pilot Gate's log handler (secrets masked), which a server's fresh
    process would otherwise lack."""
    settings = load_config()
    configure_logging(settings)
    return create_app(settings)


def service() -> Service:
    return current_app.extensions[EXTENSION]


def _settings(config: Config | Mapping[str, Any] | None) -> Config:
    if config is None:
        return load_config()
    if isinstance(config, Config):
        return config
    if isinstance(config, Mapping):
        return config_from_mapping(config)
    raise ConfigError(f"create_app: config must be a Config, a mapping or None, not {type(config).__name__}")


def _create_schema(ledger: Ledger, attempts: int = 5) -> None:
    # Several server workers starting at once race to create the tables, one table at a time: the
    # loser of a race finds that table made and tries again (create_all skips what exists).
    for attempt in range(attempts):
        try:
            ledger.create_schema()
            return
        except OperationalError:
            if attempt == attempts - 1:
                raise


def webhook_sources(config: Config) -> dict[str, WebhookSource]:
    sources: dict[str, WebhookSource] = {}
    if config.jira is not None:
        from connectors.jira_webhooks import SIGNATURE_HEADER, parse_jira_webhook

        sources["jira"] = WebhookSource(
            Tracker.JIRA, config.jira.webhook_secret, SIGNATURE_HEADER,
            partial(parse_jira_webhook, bot_account=config.jira.bot_account),
        )
    if config.github is not None:
        from connectors.github_webhooks import parse_github_webhook, unused_github_event

        sources["github"] = WebhookSource(
            Tracker.GITHUB, config.github.webhook_secret, "X-Hub-Signature-256",
            partial(parse_github_webhook, in_progress=config.github.in_progress,
                    bot_login=config.github.bot_login, pilot_label=config.github.pilot_label),
            unused_github_event,
        )
    return sources


def _http_error(error: HTTPException):
    return {"error": error.description or error.name}, error.code or 500


def _unexpected_error(error: Exception):
    LOG.error("request failed on an unexpected error: %s", type(error).__name__, exc_info=error)
    return {"error": "internal error"}, 500
