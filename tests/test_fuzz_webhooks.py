"""Fuzzing both webhook endpoints: random bytes, headers, signatures and sizes, and mutated real payloads
with valid signatures. No answer is a 5xx, and whatever is queued is a well-formed event."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from plugin.ledger import intake
from plugin.model import Event, Tracker
from tests.conftest import FIXTURES, GITHUB_SECRET, JIRA_SECRET, sign
from tests.upstream import upstream_dir

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])
ANSWERS = {200, 202, 400, 401, 413}
JIRA_KEY = re.compile(r"^[A-Z][A-Z0-9_]*-[0-9]+$|^[0-9]+$")  # link events carry numeric issue ids
GITHUB_KEY = re.compile(r"^[\w.-]+/[\w.-]+#[0-9]+$")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=10)


def _github_examples() -> list[tuple[str, dict]]:
    found = []
    folders = [FIXTURES / "github"]
    base = upstream_dir()
    if base is not None:
        folders.append(base / "github-webhooks")
    for folder in folders:
        for path in sorted(Path(folder).glob("*.json")):
            if path.name.endswith(".schema.json"):
                continue
            found.append((_event_name(path.name), json.loads(path.read_text(encoding="utf-8"))))
    return found


def _event_name(file_name: str) -> str:
    """`issues.opened.json`, `issues-assigned.work.json` -> `issues`; `projects-v2-item-...` -> projects_v2_item."""
    stem = file_name.split(".")[0].replace("-", "_")
    for name in ("issue_dependencies", "projects_v2_item", "pull_request", "issue_comment", "sub_issues", "issues"):
        if stem.startswith(name):
            return name
    return stem


def _jira_examples() -> list[dict]:
    from benchmarks.payloads import jira_comment, jira_issue_updated

    return [jira_issue_updated("PILOT", 7, work_started=True), jira_issue_updated("PILOT", 8, work_started=False),
            jira_comment("PILOT", 9),
            {"timestamp": 1510829745851, "webhookEvent": "issuelink_created",
             "issueLink": {"id": 10300, "sourceIssueId": 10100, "destinationIssueId": 10101,
                           "issueLinkType": {"id": 10000, "name": "Blocks"}}}]


GITHUB_EXAMPLES = _github_examples()
JIRA_EXAMPLES = _jira_examples()


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, prefix + (key,))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += _paths(inner, prefix + (index,))
    return found


@st.composite
def mutated(draw, examples: list) -> Any:
    """A real payload with one to four of: a value replaced, removed, retyped, or an unknown key added."""
    payload = json.loads(json.dumps(draw(st.sampled_from(examples))))
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(payload)
        path = draw(st.sampled_from(paths))
        if not path:
            payload = draw(json_values) if draw(st.integers(0, 9)) == 0 else payload
            continue
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        operation = draw(st.sampled_from(["replace", "remove", "none", "unknown", "number", "string"]))
        last = path[-1]
        if operation == "remove" and isinstance(parent, dict):
            del parent[last]
        elif operation == "unknown" and isinstance(parent[last], dict):
            parent[last][draw(st.text(min_size=1, max_size=8))] = draw(json_values)
        elif operation == "none":
            parent[last] = None
        elif operation == "number":
            parent[last] = draw(st.integers(-10**12, 10**12))
        elif operation == "string":
            parent[last] = draw(st.text(max_size=40))
        else:
            parent[last] = draw(json_values)
    return payload


def queued_rows(app) -> int:
    """Rows the webhook wrote: they wait in the intake until a dispatcher moves them (none runs here)."""
    with app.extensions["pilotgate"].ledger.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(intake)).scalar_one()


def newest_event(app) -> Event:
    with app.extensions["pilotgate"].ledger.engine.connect() as conn:
        payload = conn.execute(select(intake.c.payload).order_by(intake.c.id.desc()).limit(1)).scalar_one()
    return Event.from_dict(json.loads(payload))


def assert_well_formed(event: Event, tracker: str) -> None:
    assert event.tracker is Tracker(tracker)
    assert event.delivery_id.strip(), "queued without a delivery id"
    pattern = JIRA_KEY if tracker == "jira" else GITHUB_KEY
    if tracker == "github" and event.ticket_key == "":
        assert event.detail.get("content_node_id"), "a GitHub event without a ticket must name the item's content"
    else:
        assert pattern.match(event.ticket_key), f"queued ticket key {event.ticket_key!r} is not a {tracker} key"
    if event.epic_key is not None:
        assert pattern.match(event.epic_key), f"queued epic key {event.epic_key!r} is not a {tracker} key"


def post(client, tracker: str, body: bytes, headers: dict[str, str]):
    return client.post(f"/webhooks/{tracker}", data=body, headers=headers)


def check(app, client, tracker: str, body: bytes, headers: dict[str, str]) -> int:
    before = queued_rows(app)
    answer = post(client, tracker, body, headers)
    assert answer.status_code in ANSWERS, (answer.status_code, answer.get_data()[:300])
    after = queued_rows(app)
    if answer.status_code == 202:
        assert after == before + 1
        assert_well_formed(newest_event(app), tracker)
    else:
        assert after == before, f"answered {answer.status_code} yet queued something"
    return answer.status_code


def signed_headers(tracker: str, body: bytes, event: str = "issues") -> dict[str, str]:
    if tracker == "jira":
        return {"Content-Type": "application/json", "X-Hub-Signature": sign(body, JIRA_SECRET),
                "X-Atlassian-Webhook-Identifier": str(uuid.uuid4())}
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, GITHUB_SECRET),
            "X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4())}


@pytest.mark.skipif(not GITHUB_EXAMPLES, reason="no GitHub payloads found (tests/fixtures/github, shared/upstream)")
@FUZZ
@given(data=st.data())
def test_mutated_real_github_payloads_with_valid_signatures_never_get_a_5xx_nor_queue_garbage(app, client, data):
    event, _ = data.draw(st.sampled_from(GITHUB_EXAMPLES))
    examples = [p for name, p in GITHUB_EXAMPLES if name == event]
    body = json.dumps(data.draw(mutated(examples))).encode()
    check(app, client, "github", body, signed_headers("github", body, event))


@FUZZ
@given(payload=mutated(JIRA_EXAMPLES))
def test_mutated_real_jira_payloads_with_valid_signatures_never_get_a_5xx_nor_queue_garbage(app, client, payload):
    body = json.dumps(payload).encode()
    check(app, client, "jira", body, signed_headers("jira", body))


header_names = st.sampled_from(["X-Hub-Signature", "X-Hub-Signature-256", "X-GitHub-Event", "X-GitHub-Delivery",
                                "X-Atlassian-Webhook-Identifier", "Content-Type", "Content-Encoding",
                                "X-Atlassian-Webhook-Retry"])
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


@FUZZ
@given(tracker=st.sampled_from(["jira", "github"]), body=st.binary(max_size=2000),
       headers=st.dictionaries(header_names, header_values, max_size=6), sign_it=st.booleans())
def test_random_bodies_and_headers_never_get_a_5xx(app, client, tracker, body, headers, sign_it):
    if sign_it:
        secret = JIRA_SECRET if tracker == "jira" else GITHUB_SECRET
        headers["X-Hub-Signature" if tracker == "jira" else "X-Hub-Signature-256"] = sign(body, secret)
    check(app, client, tracker, body, headers)


@FUZZ
@given(tracker=st.sampled_from(["jira", "github"]), signature=st.one_of(
    st.text(max_size=90), st.from_regex(r"\Asha(1|256|512)=[0-9a-fA-F]{0,70}\Z"),
    st.just("sha256="), st.just("sha256=" + "0" * 64)))
def test_wrong_signatures_are_refused_and_nothing_is_queued(app, client, tracker, signature):
    body = json.dumps(JIRA_EXAMPLES[0] if tracker == "jira" else GITHUB_EXAMPLES[0][1]).encode()
    headers = signed_headers(tracker, body)
    headers["X-Hub-Signature" if tracker == "jira" else "X-Hub-Signature-256"] = signature
    try:
        answer = post(client, tracker, body, headers)
    except ValueError:
        return  # werkzeug's test client refuses header values with newlines: no server would see them
    assert answer.status_code == 401, answer.get_data()[:200]
    assert queued_rows(app) == 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tracker=st.sampled_from(["jira", "github"]), size=st.sampled_from(
    [0, 1, 1023, 65536, 1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024]))
def test_bodies_of_any_size_are_answered_without_a_5xx(app, client, tracker, size):
    body = b'{"x": "' + b"a" * max(0, size - 9) + b'"}' if size >= 9 else b"{" * size
    status = check(app, client, tracker, body, signed_headers(tracker, body))
    if size > 1024 * 1024:
        assert status == 413


def test_github_delivery_whose_action_is_not_a_string_is_400_not_500(app, client):
    body = json.dumps({"action": [], "issue": {}, "sender": {"login": "alice"}}).encode()
    assert check(app, client, "github", body, signed_headers("github", body, "issues")) == 400


def test_shared_parser_schemas_give_every_thread_the_same_events():
    from concurrent.futures import ThreadPoolExecutor

    from benchmarks.payloads import github_assigned
    from connectors.github_webhooks import parse_github_webhook
    from connectors.jira_webhooks import parse_jira_webhook

    github = [github_assigned("example-org/ml-pilots", n + 1)[1] for n in range(40)]

    def parse(n: int) -> tuple:
        jira = parse_jira_webhook({"X-Atlassian-Webhook-Identifier": f"j{n}"}, JIRA_EXAMPLES[0], bot_account="x")
        hub = parse_github_webhook({"X-GitHub-Event": "issues", "X-GitHub-Delivery": f"g{n}"}, github[n],
                                   in_progress=["In Progress"], bot_login="x", pilot_label="ai-pilot")
        return jira.ticket_key, jira.kind, hub.ticket_key, hub.kind

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(parse, range(40)))
    assert results == [parse(n) for n in range(40)]
    assert {r[2] for r in results} == {f"example-org/ml-pilots#{n + 1}" for n in range(40)}


@pytest.mark.parametrize("payload", [
    {"webhookEvent": "issuelink_created", "issueLink": {"id": 10300, "sourceIssueId": 10100, "destinationIssueId": -1}},
    {"webhookEvent": "jira:issue_updated", "issue": {"id": "10100", "key": "not a key", "fields": {}}},
    {"webhookEvent": "jira:issue_created", "issue": {"id": "10100", "key": "PILOT-7",
                                                      "fields": {"parent": {"key": "PILOT-1) OR (1=1"}}}},
])
def test_jira_delivery_naming_no_real_issue_is_400_and_not_queued(app, client, payload):
    body = json.dumps(payload).encode()
    assert check(app, client, "jira", body, signed_headers("jira", body)) == 400


def project_item_edited() -> dict:
    """A fresh copy of the official `projects_v2_item.edited` example (skips where it is not available)."""
    examples = [p for name, p in GITHUB_EXAMPLES if name == "projects_v2_item" and p.get("action") == "edited"]
    if not examples:
        pytest.skip("no projects_v2_item.edited payload available")
    return json.loads(json.dumps(examples[0]))


def test_github_project_item_without_its_content_node_id_is_400_and_not_queued(app, client):
    payload = project_item_edited()
    payload["projects_v2_item"]["content_node_id"] = ""
    body = json.dumps(payload).encode()
    assert check(app, client, "github", body, signed_headers("github", body, "projects_v2_item")) == 400


def test_github_project_item_whose_field_name_is_not_a_string_is_400_not_500(app, client):
    payload = project_item_edited()
    payload["projects_v2_item"]["content_type"] = "Issue"
    payload["changes"] = {"field_value": {"field_type": "single_select", "field_name": ["Status"], "to": {}}}
    body = json.dumps(payload).encode()
    assert check(app, client, "github", body, signed_headers("github", body, "projects_v2_item")) == 400


def test_github_project_status_whose_option_name_is_not_a_string_is_ignored_not_500(app, client):
    payload = project_item_edited()
    payload["projects_v2_item"]["content_type"] = "Issue"
    payload["changes"] = {"field_value": {"field_type": "single_select", "field_name": "Status",
                                          "to": {"name": ["In Progress"]}}}
    body = json.dumps(payload).encode()
    assert check(app, client, "github", body, signed_headers("github", body, "projects_v2_item")) == 200
