"""Shared fixtures: a configuration in a scratch folder, the app, its test client, and `sign(body, secret)`."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from plugin.config import Config, config_from_mapping

JIRA_SECRET = "jira-hook-secret-7f3a91"
GITHUB_SECRET = "github-hook-secret-52c0de"
JIRA_TOKEN = "jira-api-token-b64d2e"
GITHUB_TOKEN = "ghp_testtoken0123456789"
FIXTURES = Path(__file__).parent / "fixtures"
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def sign(body: bytes, secret: str) -> str:
    """The `sha256=<hex>` signature header a tracker sends for `body` (computed here, not by the code under test)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def fixture_json(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


def config_mapping(folder: Path, **overrides: Any) -> dict:
    """pilotgate.yaml as a mapping: both trackers, SQLite database and queue in `folder`."""
    data = {
        "templates": str(TEMPLATES),
        "database": f"sqlite:///{folder / 'pilotgate.db'}",
        "queue": f"sqlite:///{folder / 'pilotgate-queue.db'}",
        "jira": {"url": "http://127.0.0.1:9/jira", "email": "bot@example.com", "token": JIRA_TOKEN,
                 "webhook_secret": JIRA_SECRET, "pilots": "issuetype = Epic AND labels = ai-pilot",
                 "template": "ai-pilot", "bot_account": "557058:pilotgate-bot"},
        "github": {"api_url": "http://127.0.0.1:9/github", "token": GITHUB_TOKEN, "webhook_secret": GITHUB_SECRET,
                   "repositories": ["example-org/ml-pilots"], "pilot_label": "ai-pilot", "template": "ai-pilot",
                   "bot_login": "pilotgate[bot]"},
    }
    data.update(overrides)
    return data


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return config_from_mapping(config_mapping(tmp_path), base_dir=tmp_path)


@pytest.fixture
def app(config: Config):
    from plugin.web import create_app

    application = create_app(config)
    application.config["TESTING"] = True
    yield application
    application.extensions["pilotgate"].ledger.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class Deliveries:
    """Posts signed deliveries the way Jira and GitHub send them."""

    def __init__(self, client) -> None:
        self.client = client

    def jira(self, payload: Any, *, delivery: str | None = None, secret: str = JIRA_SECRET, **headers: str):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sent = {"Content-Type": "application/json", "X-Hub-Signature": sign(body, secret),
                "X-Atlassian-Webhook-Identifier": delivery or str(uuid.uuid4()), **headers}
        return self.client.post("/webhooks/jira", data=body, headers=sent)

    def github(self, event: str, payload: Any, *, delivery: str | None = None, secret: str = GITHUB_SECRET,
               **headers: str):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sent = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, secret),
                "X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()), **headers}
        return self.client.post("/webhooks/github", data=body, headers=sent)


@pytest.fixture
def deliveries(client) -> Deliveries:
    return Deliveries(client)


@pytest.fixture
def stack(tmp_path):
    """The sandbox tracker and the service over real HTTP, for one end-to-end test."""
    from tests.e2e_world import started_stack  # the sandbox is only imported by the tests that need it

    running = started_stack(tmp_path)
    yield running
    running.close()


@pytest.fixture
def pg_database():
    """A fresh PostgreSQL database on the server .ci/services.sh started; its URL, dropped afterwards."""
    pg_url = os.environ.get("PILOTGATE_TEST_PG")
    if not pg_url:
        pytest.skip("PILOTGATE_TEST_PG is not set: run `source .ci/services.sh` first")
    from sqlalchemy import create_engine, text

    name = f"pg_{uuid.uuid4().hex[:12]}"
    admin = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    yield pg_url.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
    admin.dispose()
