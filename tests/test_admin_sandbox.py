"""The admin commands end to end: real connectors, real configuration file, the sandbox tracker over HTTP."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from connectors.sandbox import Sandbox
from connectors.sandbox.github_store import BOT_LOGIN
from connectors.sandbox.jira_store import BOT
from plugin.cli import main
from tests.conftest import TEMPLATES

REPO = "example-org/ml-pilots"
# POSTs that only read; GraphQL mutations are counted apart, as "POST /graphql mutation", so they are writes.
READ_ROUTES = {"POST /rest/api/2/search/jql", "POST /rest/api/2/search", "POST /graphql", "POST /rest/api/2/comment/list"}
GITHUB_WRITES = ("POST /repos", "PATCH /repos", "POST /graphql mutation")


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox.start() as running:
        yield running


@pytest.fixture
def config_file(sandbox, tmp_path):
    client = sandbox.client
    client.reset()
    epic = client.jira_epic("Invoice triage assistant")["key"]
    started = client.jira_issue("Train the classifier", parent=epic)["key"]
    client.jira_issue("Label invoices", parent=epic)
    client.jira_transition(started, "In Progress")
    number = client.github_issue(REPO, "Forecasting copilot", labels=["ai-pilot"])["number"]
    client.github_issue(REPO, "Data pipeline spike", parent=number)
    config = {
        "templates": str(TEMPLATES),
        "database": f"sqlite:///{tmp_path / 'pilotgate.db'}",
        "queue": f"sqlite:///{tmp_path / 'queue.db'}",
        "jira": {"url": sandbox.url, "email": "bot@example.com", "token": "jira-token", "webhook_secret": "s1",
                 "pilots": "issuetype = Epic AND labels = ai-pilot", "bot_account": BOT["accountId"]},
        "github": {"api_url": sandbox.url, "token": "gh-token", "webhook_secret": "s2", "repositories": [REPO],
                   "bot_login": BOT_LOGIN},
    }
    path = tmp_path / "pilotgate.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    client.reset_calls()
    return str(path)


def writes(sandbox) -> int:
    """API calls that could change a tracker: every non-GET call except the read-only POST endpoints."""
    routes = sandbox.client.calls()["routes"]
    return sum(n for route, n in routes.items() if not route.startswith("GET ") and route not in READ_ROUTES)


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_dry_run_on_the_sandbox_writes_nothing(sandbox, config_file):
    result = run("sync", "--dry-run", "--config", config_file)
    assert result.exit_code == 0, result.output
    assert writes(sandbox) == 0
    assert sandbox.client.calls()["total"] > 0  # it did read both trackers
    assert "PILOT-1 (jira): 1 action" in result.output and f"{REPO}#1 (github): 1 action" in result.output
    assert result.output.splitlines()[-1].startswith("Dry run: 2 epics seen, 8 gates would be created")


def test_sync_provisions_the_sandbox_and_a_second_sync_is_quiet(sandbox, config_file):
    first = run("sync", "--config", config_file)
    assert first.exit_code == 0, first.output
    assert first.output.startswith("2 epics seen, 8 gates created") and "1 comment written" in first.output
    assert sandbox.client.calls()["routes"]["POST /graphql mutation"] >= 2  # GitHub's gates and their links
    sandbox.client.reset_calls()
    second = run("sync", "--config", config_file)
    assert "0 gates created, 0 links added, 0 comments written, 0 errors" in second.output
    assert writes(sandbox) == 0


def test_sync_of_one_epic_touches_only_that_epic(sandbox, config_file):
    result = run("sync", "--epic", "PILOT-1", "--config", config_file)
    assert result.output.startswith("1 epic seen, 4 gates created"), result.output
    assert not any(route.startswith(GITHUB_WRITES) for route in sandbox.client.calls()["routes"])


def test_report_after_sync_shows_both_trackers(sandbox, config_file):
    run("sync", "--epic", "PILOT-1", "--config", config_file)
    document = json.loads(run("report", "--format", "json", "--config", config_file).output)
    pilots = {p["epic"]["key"]: p for p in document["pilots"]}
    assert set(pilots) == {"PILOT-1", f"{REPO}#1"}
    assert pilots["PILOT-1"]["early_work"]["count"] == 1
    assert all(g["ticket"]["url"].startswith(sandbox.url) for g in pilots["PILOT-1"]["gates"])
    assert pilots[f"{REPO}#1"]["verdict"] == "not_provisioned"
    table = run("report", "--config", config_file).output
    assert table.splitlines()[0].startswith("2 pilots at")


def test_doctor_authenticates_against_both_trackers(sandbox, config_file):
    result = run("doctor", "--config", config_file)
    assert "OK    jira credentials" in result.output
    assert "1 pilot epics in PILOT" in result.output
    assert f"OK    github permissions  {REPO}: can create issues" in result.output
