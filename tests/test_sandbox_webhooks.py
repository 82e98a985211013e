"""Webhooks the sandbox sends: headers, signatures and payload shapes as the real trackers send them."""

from __future__ import annotations

import uuid

import pytest
import requests

from connectors.github_webhooks import parse_github_webhook
from connectors.jira_webhooks import parse_jira_webhook
from connectors.sandbox import Sandbox
from connectors.sandbox.hooks import signature
from connectors.webhooks import Ignored, verify_hmac_sha256
from plugin.model import EventKind
from tests import openapi_github, openapi_jira
from tests.sandbox_support import WebhookSink

REPO = "example-org/ml-pilots"
JIRA_SECRET, GITHUB_SECRET = "jira-sandbox-secret", "github-sandbox-secret"


@pytest.fixture
def sink():
    receiver = WebhookSink()
    yield receiver
    receiver.close()


@pytest.fixture
def sandbox(sink):
    with Sandbox.start(schema="trimmed", webhook_retry_delay=0.05) as running:
        running.configure_webhooks("jira", sink.url, JIRA_SECRET)
        running.configure_webhooks("github", sink.url, GITHUB_SECRET)
        yield running


def _github(sink) -> list[dict]:
    return [r for r in sink.received if "X-Github-Event" in r["headers"]]


def _jira(sink) -> list[dict]:
    return [r for r in sink.received if "X-Atlassian-Webhook-Identifier" in r["headers"]]


def test_signature_matches_githubs_published_test_vector():
    assert signature("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")


def test_github_deliveries_match_the_official_webhook_schemas(sandbox, sink):
    client = sandbox.client
    epic = client.github_issue(REPO, "Pilot epic", labels=["ai-pilot"])["number"]
    child = client.github_issue(REPO, "Work", parent=epic)["number"]
    client.github_assign(REPO, child, "bob")
    client.github_project_status(REPO, child, "In Progress")
    client.github_pull(REPO, "Start work", body=f"Closes #{child}")
    client.github_state(REPO, child, "closed")
    rest = {"Authorization": "token t"}
    requests.post(f"{sandbox.url}/repos/{REPO}/issues/{child}/dependencies/blocked_by",
                  json={"issue_id": client.github_record(REPO, epic)["id"]}, headers=rest, timeout=10)
    requests.post(f"{sandbox.url}/repos/{REPO}/issues/{child}/comments", json={"body": "hi"}, headers=rest, timeout=10)
    assert sandbox.wait_for_webhooks()

    seen = set()
    for delivery in _github(sink):
        payload, headers = delivery["json"], delivery["headers"]
        name = f"{headers['X-Github-Event']}-{payload['action']}".replace("_", "-")
        seen.add(name)
        assert openapi_github.webhook_errors(name, payload) == [], name
        assert headers["User-Agent"].startswith("GitHub-Hookshot/")
        assert uuid.UUID(headers["X-Github-Delivery"])
        assert verify_hmac_sha256(GITHUB_SECRET, delivery["raw"], headers["X-Hub-Signature-256"])
    assert {"issues-opened", "issues-labeled", "sub-issues-sub-issue-added", "issues-assigned",
            "projects-v2-item-created", "projects-v2-item-edited", "pull-request-opened",
            "issues-closed", "issue-dependencies-blocked-by-added", "issue-comment-created"} <= seen


def test_github_project_status_edit_carries_from_and_to(sandbox, sink):
    number = sandbox.client.github_issue(REPO, "Work", status="Todo")["number"]
    sandbox.client.github_project_status(REPO, number, "In Progress")
    assert sandbox.wait_for_webhooks()
    edits = [d["json"] for d in _github(sink) if d["json"].get("action") == "edited"]
    change = edits[-1]["changes"]["field_value"]
    assert (change["field_name"], change["from"]["name"], change["to"]["name"]) == ("Status", "Todo", "In Progress")


def test_github_deliveries_parse_into_the_events_the_service_acts_on(sandbox, sink):
    client = sandbox.client
    epic = client.github_issue(REPO, "Pilot epic", labels=["ai-pilot"])["number"]
    child = client.github_issue(REPO, "Work", parent=epic)["number"]
    client.github_project_status(REPO, child, "In Progress")
    assert sandbox.wait_for_webhooks()
    kinds = []
    for delivery in _github(sink):
        event = parse_github_webhook(delivery["headers"], delivery["json"], in_progress=("In Progress",),
                                     bot_login="pilotgate-bot", pilot_label="ai-pilot")
        kinds.append(getattr(event, "kind", None))
    assert EventKind.CHILD_ADDED in kinds and EventKind.WORK_STARTED in kinds


def test_jira_deliveries_are_signed_and_carry_issue_beans_and_changelogs(sandbox, sink):
    client = sandbox.client
    epic = client.jira_epic("Pilot epic")["key"]
    work = client.jira_issue("Work", parent=epic)["key"]
    client.jira_transition(work, "In Progress")
    client.jira_assign(work, "557058:bob")
    assert sandbox.wait_for_webhooks()

    deliveries = _jira(sink)
    names = [(d["json"]["webhookEvent"], d["json"].get("issue_event_type_name")) for d in deliveries]
    assert names == [("jira:issue_created", "issue_created"), ("jira:issue_created", "issue_created"),
                     ("jira:issue_updated", "issue_generic"), ("jira:issue_updated", "issue_assigned")]
    for delivery in deliveries:
        headers = delivery["headers"]
        assert verify_hmac_sha256(JIRA_SECRET, delivery["raw"], headers["X-Hub-Signature"])
        assert uuid.UUID(headers["X-Atlassian-Webhook-Identifier"])
        openapi_jira._validate("#/components/schemas/IssueBean", delivery["json"]["issue"],
                               "webhook issue")
    status = deliveries[2]["json"]["changelog"]["items"][0]
    assert (status["fieldId"], status["from"], status["to"], status["toString"]) == ("status", "10000", "3",
                                                                                      "In Progress")
    assert deliveries[2]["json"]["issue"]["fields"]["status"]["statusCategory"]["key"] == "indeterminate"
    started = parse_jira_webhook(headers, deliveries[2]["json"], bot_account=None)
    assert started.kind is EventKind.WORK_STARTED and started.ticket_key == work


def test_jira_link_deliveries_name_issues_by_id_and_only_a_deleted_link_is_a_link_change(sandbox, sink):
    client = sandbox.client
    epic = client.jira_epic("Pilot epic")["key"]
    gate, work = (client.jira_issue(name, parent=epic)["key"] for name in ("Gate", "Work"))
    api, auth = f"{sandbox.url}/rest/api/2", ("bot@example.com", "t")
    requests.post(f"{api}/issueLink", auth=auth, timeout=10,
                  json={"type": {"name": "Blocks"}, "inwardIssue": {"key": gate}, "outwardIssue": {"key": work}})
    link_id = client.jira_record(work)["links"][0]["id"]
    assert requests.delete(f"{api}/issueLink/{link_id}", auth=auth, timeout=10).status_code == 204
    assert requests.delete(f"{api}/issueLink/{link_id}", auth=auth, timeout=10).status_code == 404
    assert sandbox.wait_for_webhooks()

    created, deleted = ([d for d in _jira(sink) if d["json"]["webhookEvent"] == name][0]
                        for name in ("issuelink_created", "issuelink_deleted"))
    assert created["json"]["issueLink"] == deleted["json"]["issueLink"]
    link = deleted["json"]["issueLink"]
    assert link["sourceIssueId"] == int(client.jira_record(gate)["id"]) and link["issueLinkType"]["name"] == "Blocks"
    ignored = Ignored("a new link asks for nothing")
    assert parse_jira_webhook(created["headers"], created["json"], bot_account=None) == ignored
    assert parse_jira_webhook(deleted["headers"], deleted["json"], bot_account=None).kind is EventKind.LINK_CHANGED
    assert client.jira_record(work)["links"] == [] and client.jira_record(gate)["links"] == []


def test_jira_webhook_subscribed_to_some_events_is_sent_only_those(sandbox, sink):
    sandbox.configure_webhooks("jira", sink.url, JIRA_SECRET, ["jira:issue_updated"])
    client = sandbox.client
    epic = client.jira_epic("Pilot epic")["key"]  # jira:issue_created: not subscribed
    client.jira_transition(epic, "In Progress")
    assert sandbox.wait_for_webhooks()
    assert [d["json"]["webhookEvent"] for d in _jira(sink)] == ["jira:issue_updated"]


def test_failed_delivery_is_retried_with_the_same_id_and_a_retry_header(sandbox, sink):
    sink.answers = [503, 500]
    sandbox.client.jira_epic("Pilot epic")
    assert sandbox.wait_for_webhooks()
    attempts = _jira(sink)
    assert [a["status"] for a in attempts] == [503, 500, 202]
    assert len({a["headers"]["X-Atlassian-Webhook-Identifier"] for a in attempts}) == 1
    assert [a["headers"].get("X-Atlassian-Webhook-Retry") for a in attempts] == [None, "1", "2"]


def test_redelivery_sends_the_same_delivery_id_and_body_again(sandbox, sink):
    sandbox.client.github_issue(REPO, "Pilot epic")
    assert sandbox.wait_for_webhooks()
    first = _github(sink)[0]
    delivery_id = first["headers"]["X-Github-Delivery"]
    summary = sandbox.client.redeliver(delivery_id)
    assert sandbox.wait_for_webhooks()
    again = _github(sink)[-1]
    assert summary["redelivery"] and again["headers"]["X-Github-Delivery"] == delivery_id
    assert again["raw"] == first["raw"]


def test_no_webhook_url_means_no_deliveries(sink):
    with Sandbox.start(schema="trimmed") as quiet:
        quiet.client.jira_epic("Pilot epic")
        assert quiet.client.deliveries() == [] and sink.received == []
