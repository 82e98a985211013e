"""The real connectors and engine against the sandbox over HTTP: every request answered, every answer documented."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from connectors.base import DictMemory
from connectors.github import GitHubConnector
from connectors.jira import JiraConnector
from connectors.jira_http import jira_session
from connectors.sandbox import Sandbox
from connectors.sandbox.github_store import BOT_LOGIN
from connectors.sandbox.jira_store import BOT
from plugin.config import GitHubConfig, JiraConfig
from plugin.engine import plan
from plugin.model import StatusCategory, UpsertComment
from plugin.templates import default_templates_dir, load_templates
from tests.sandbox_support import CheckedSession, github_response_errors, jira_response_errors

NOW = datetime.now(timezone.utc)
REPO = "example-org/ml-pilots"


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox.start() as running:
        yield running


@pytest.fixture(scope="module")
def template():
    return load_templates(default_templates_dir())["ai-pilot"]


def _unserved(sandbox: Sandbox) -> list[str]:
    """Calls that matched no sandbox route (they are counted under their raw path)."""
    return [route for route in sandbox.client.calls()["routes"] if "<" not in route and route.split()[1] not in
            ("/graphql", "/user", "/search/issues", "/rest/api/2/search/jql", "/rest/api/2/issue",
             "/rest/api/2/issue/bulk", "/rest/api/2/issueLink", "/rest/api/2/search", "/rest/api/2/comment/list",
             "/rest/api/2/myself", "/rest/api/2/serverInfo", "/rest/api/2/field", "/rest/api/2/issueLinkType")]


def _provision(connector, template, only=None):
    """One sweep: snapshot every pilot epic, plan, apply; returns (epics, outcomes)."""
    outcomes = []
    epics = list(connector.pilot_epics(only))
    for epic in epics:
        outcomes += connector.apply(epic, plan(template, epic, NOW))
    return epics, outcomes


def test_jira_connector_provisions_a_pilot_and_the_second_sweep_changes_nothing(sandbox, template):
    client = sandbox.client
    epic = client.jira_epic("Churn model pilot", project="CHURN")["key"]
    work = [client.jira_issue(f"Work item {n}", parent=epic, project="CHURN")["key"] for n in range(3)]
    client.jira_transition(work[0], "In Progress")
    config = JiraConfig(url=sandbox.url, token="jira-token", webhook_secret="s", email="bot@example.com",
                        pilots="issuetype = Epic AND labels = ai-pilot", template="ai-pilot",
                        bot_account=BOT["accountId"])
    session = CheckedSession(jira_response_errors)
    session.auth, session.headers = jira_session(config).auth, jira_session(config).headers
    connector = JiraConnector(config, DictMemory(), session=session, sleep=lambda _: None)

    _provision(connector, template, [epic])
    snapshot = connector.snapshot(epic)
    gates = snapshot.gates()
    assert len(gates) == len(template.gates)
    started = snapshot.child(work[0])
    assert started.category is StatusCategory.IN_PROGRESS
    assert {g.key for g in gates.values()} <= started.blocked_by

    _provision(connector, template, [epic])  # now the early start is commented on
    before = client.calls()["total"]
    again = connector.apply(connector.snapshot(epic), plan(template, connector.snapshot(epic), NOW))
    assert not any(o.done for o in again)
    record = client.jira_record(work[0])
    assert [c["author"] for c in record["comments"]] == [BOT["accountId"]]
    assert client.calls()["total"] > before
    assert not session.problems, session.problems
    assert not _unserved(sandbox)
    assert all(status < 400 for _, _, status in session.seen), session.seen


def test_github_connector_provisions_a_pilot_and_the_second_sweep_changes_nothing(sandbox, template):
    client = sandbox.client
    epic = client.github_issue(REPO, "Fraud scoring pilot", labels=["ai-pilot"])["number"]
    work = [client.github_issue(REPO, f"Work {n}", parent=epic)["number"] for n in range(2)]
    client.github_project_status(REPO, work[0], "In Progress")
    config = GitHubConfig(repositories=(REPO,), webhook_secret="s", template="ai-pilot", api_url=sandbox.url,
                          token="gh-token", bot_login=BOT_LOGIN)
    session = CheckedSession(github_response_errors)
    connector = GitHubConnector(config, DictMemory(), session=session, sleep=lambda _: None)

    _provision(connector, template)
    snapshot = connector.snapshot(f"{REPO}#{epic}")
    gates = snapshot.gates()
    assert len(gates) == len(template.gates)
    started = snapshot.child(f"{REPO}#{work[0]}")
    assert started.category is StatusCategory.IN_PROGRESS
    assert {g.key for g in gates.values()} <= started.blocked_by

    _, outcomes = _provision(connector, template)
    assert any(isinstance(o.action, UpsertComment) and o.done for o in outcomes)
    epics, quiet = _provision(connector, template)
    assert epics and not any(o.done for o in quiet)
    comments = client.github_record(REPO, work[0])["comment_bodies"]
    assert [c["user"] for c in comments] == [BOT_LOGIN]
    assert not session.problems, session.problems
    assert not _unserved(sandbox)
    assert all(status < 400 for _, _, status in session.seen), session.seen
