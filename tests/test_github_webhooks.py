"""GitHub webhook parsing: official examples, and minimal payloads proven valid against GitHub's current schemas."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from connectors.github_webhooks import closing_references, parse_github_webhook
from connectors.webhooks import Ignored, PayloadError, verify_hmac_sha256
from plugin.model import Event, EventKind, Tracker
from tests.openapi_github import webhook_errors
from tests.upstream import upstream_json

FIXTURES = Path(__file__).parent / "fixtures" / "github"
OPTIONS = dict(in_progress=("In Progress",), bot_login="pilotgate[bot]", pilot_label="ai-pilot")


def fixture(name: str) -> dict:
    """A minimal payload made from GitHub's schema; the test proves it still validates before using it."""
    payload = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    official = name.split(".")[0]
    assert webhook_errors(official, payload) == [], f"{name} is not a valid {official} payload"
    return payload


def parse(event: str, payload: dict, delivery: str = "72d3162e-cc78-11e3-81ab-4c9367dc0958", **options):
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery}
    return parse_github_webhook(headers, payload, **{**OPTIONS, **options})


def test_signature_matches_githubs_documented_test_vector():
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert verify_hmac_sha256("It's a Secret to Everybody", b"Hello, World!", header)
    assert not verify_hmac_sha256("another secret", b"Hello, World!", header)
    assert not verify_hmac_sha256("It's a Secret to Everybody", b"Hello, World!", None)


def test_assigning_a_work_issue_starts_work_official_example():
    event = parse("issues", upstream_json("github-webhooks/issues.assigned.json"))
    assert event == Event(Tracker.GITHUB, EventKind.WORK_STARTED, "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                          "Codertocat/Hello-World#1", actor="Codertocat", occurred_at=event.occurred_at,
                          detail={"assignee": "Codertocat"})
    assert event.occurred_at.isoformat() == "2019-05-15T15:20:18+00:00"


def test_a_timestamp_with_an_offset_in_seconds_is_queued_as_the_same_instant_in_utc():
    payload = fixture("issues-assigned.work")
    payload["issue"]["updated_at"] = "2019-05-15T20:50:48+05:30:30"
    event = parse("issues", payload)
    assert event.occurred_at.isoformat() == "2019-05-15T15:20:18+00:00"
    assert Event.from_dict(json.loads(event.to_json())).occurred_at == event.occurred_at


def test_opening_an_ordinary_issue_is_ignored_official_example():
    result = parse("issues", upstream_json("github-webhooks/issues.opened.json"))
    assert result == Ignored("issues.opened on Codertocat/Hello-World#1: neither a pilot epic nor a gate")


def test_reopening_an_issue_with_the_pilot_label_changes_the_epic_official_example():
    payload = copy.deepcopy(upstream_json("github-webhooks/issues.reopened.json"))
    payload["issue"]["labels"].append({"name": "ai-pilot"})
    event = parse("issues", payload)
    assert (event.kind, event.ticket_key, event.epic_key) == (
        EventKind.EPIC_CHANGED, "Codertocat/Hello-World#1", "Codertocat/Hello-World#1")


def test_project_item_edited_in_the_old_shape_asks_for_a_status_lookup_official_example():
    payload = copy.deepcopy(upstream_json("github-webhooks/projects_v2_item.edited.json"))
    assert parse("projects_v2_item", payload) == Ignored("projects_v2_item.edited on a DraftIssue, not an issue")
    payload["projects_v2_item"]["content_type"] = "Issue"
    event = parse("projects_v2_item", payload)
    assert (event.kind, event.ticket_key) == (EventKind.WORK_STARTED, "")
    assert dict(event.detail) == {"content_node_id": "DI_lADOAWcTxs07G84AIjOy",
                                  "item_node_id": "PVTI_lADOAWcTxs07G84AVqWu",
                                  "needs_status_lookup": "PVTI_lADOAWcTxs07G84AVqWu"}


def test_project_item_created_is_ignored_official_example():
    result = parse("projects_v2_item", upstream_json("github-webhooks/projects_v2_item.created.json"))
    assert result == Ignored("projects_v2_item.created is not used")


def test_pull_request_without_closing_keyword_is_ignored_official_example():
    result = parse("pull_request", upstream_json("github-webhooks/pull_request.opened.json"))
    assert result == Ignored("pull request Codertocat/Hello-World#2 closes no issue")


def test_comments_are_not_used_official_example():
    result = parse("issue_comment", upstream_json("github-webhooks/issue_comment.created.json"))
    assert result == Ignored("issue_comment events are not used")


@pytest.mark.parametrize("name", ["issues-typed.epic", "issues-labeled.epic", "issues-unlabeled.epic"])
def test_typing_or_labelling_a_pilot_epic_changes_the_epic(name):
    event = parse("issues", fixture(name))
    assert (event.kind, event.ticket_key, event.epic_key, event.actor) == (
        EventKind.EPIC_CHANGED, "example-org/ml-pilots#1", "example-org/ml-pilots#1", "alice")


def test_closing_a_gate_changes_the_gate_and_names_its_epic():
    event = parse("issues", fixture("issues-closed.gate"))
    assert (event.kind, event.ticket_key, event.epic_key) == (
        EventKind.GATE_CHANGED, "example-org/ml-pilots#21", "example-org/ml-pilots#1")


def test_assigning_a_gate_changes_the_gate_rather_than_starting_work():
    payload = fixture("issues-assigned.work")
    payload["issue"]["body"] = "<!-- pilotgate:gate=operations-owner epic=example-org/ml-pilots#1 -->\n\nOwner."
    assert parse("issues", payload).kind is EventKind.GATE_CHANGED


def test_assigning_a_work_issue_starts_work():
    event = parse("issues", fixture("issues-assigned.work"))
    assert (event.kind, event.ticket_key, dict(event.detail)) == (
        EventKind.WORK_STARTED, "example-org/ml-pilots#7", {"assignee": "bob"})


def test_own_events_are_ignored_whether_bot_login_has_the_bot_suffix_or_not():
    payload = fixture("issues-edited.by-bot")
    assert parse("issues", payload) == Ignored("own event")
    assert parse("issues", payload, bot_login="pilotgate") == Ignored("own event")
    assert parse("issues", payload, bot_login=None).kind is EventKind.EPIC_CHANGED


def test_sub_issue_added_to_a_pilot_epic_adds_a_child():
    event = parse("sub_issues", fixture("sub-issues-sub-issue-added"))
    assert (event.kind, event.ticket_key, event.epic_key) == (
        EventKind.CHILD_ADDED, "example-org/ml-pilots#7", "example-org/ml-pilots#1")


def test_parent_removed_from_an_issue_in_another_repository_removes_the_child():
    event = parse("sub_issues", fixture("sub-issues-parent-issue-removed"))
    assert (event.kind, event.ticket_key, event.epic_key) == (
        EventKind.CHILD_REMOVED, "example-org/ml-data#8", "example-org/ml-pilots#1")


def test_sub_issue_of_an_issue_without_the_pilot_label_is_ignored():
    payload = fixture("sub-issues-sub-issue-added")
    payload["parent_issue"]["labels"] = []
    assert parse("sub_issues", payload) == Ignored(
        "sub_issues.sub_issue_added: parent example-org/ml-pilots#1 is not a pilot epic")


def test_dependency_removed_changes_the_links_of_the_blocked_issue():
    payload = fixture("issue-dependencies-blocked-by-added")
    payload["action"] = "blocked_by_removed"
    event = parse("issue_dependencies", payload)
    assert (event.kind, event.ticket_key, dict(event.detail)) == (
        EventKind.LINK_CHANGED, "example-org/ml-pilots#7",
        {"blocking": "example-org/ml-pilots#21", "action": "blocked_by_removed"})


def test_dependency_added_is_ignored_because_a_new_link_asks_for_nothing():
    assert parse("issue_dependencies", fixture("issue-dependencies-blocked-by-added")) == Ignored(
        "issue_dependencies.blocked_by_added: a new link asks for nothing")


def test_status_moved_to_in_progress_starts_work_on_the_item_content():
    event = parse("projects_v2_item", fixture("projects-v2-item-edited.status"))
    assert (event.kind, event.ticket_key) == (EventKind.WORK_STARTED, "")
    assert dict(event.detail) == {"content_node_id": "I_kwDOexample7", "item_node_id": "PVTI_lADOexample",
                                  "status": "In Progress"}


def test_status_moved_elsewhere_or_another_field_is_ignored():
    payload = fixture("projects-v2-item-edited.status")
    payload["changes"]["field_value"]["to"]["name"] = "Done"
    assert parse("projects_v2_item", payload) == Ignored(
        "projects_v2_item.edited: Status is now 'Done', not an in-progress status")
    payload["changes"]["field_value"]["field_name"] = "Priority"
    assert parse("projects_v2_item", payload) == Ignored(
        "projects_v2_item.edited: field Priority changed, not Status")


def test_pull_request_that_fixes_an_issue_starts_work_with_its_head_sha():
    event = parse("pull_request", fixture("pull-request-opened.closes"))
    assert (event.kind, event.ticket_key, dict(event.detail)) == (
        EventKind.WORK_STARTED, "example-org/ml-pilots#7",
        {"sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821", "pr": "example-org/ml-pilots#15"})


def test_pull_request_body_edited_to_resolve_issues_elsewhere_starts_work_on_the_first():
    event = parse("pull_request", fixture("pull-request-edited.body"))
    assert (event.ticket_key, event.detail["also_closes"]) == ("example-org/ml-data#8", "example-org/ml-pilots#7")


def test_pull_request_ready_for_review_without_closing_keyword_is_ignored():
    result = parse("pull_request", fixture("pull-request-ready-for-review.no-issue"))
    assert result == Ignored("pull request example-org/ml-pilots#15 closes no issue")


def test_pull_request_title_edit_is_ignored():
    payload = fixture("pull-request-edited.body")
    payload["changes"] = {"title": {"from": "Old"}}
    assert parse("pull_request", payload) == Ignored("pull_request.edited without a body change")


@pytest.mark.parametrize("body, keys", [
    ("Closes #3", ["o/r#3"]),
    ("fixed: other/repo#9, resolves #3 and fixes #3", ["other/repo#9", "o/r#3"]),
    ("Resolves https://github.com/o/x/issues/4", ["o/x#4"]),
    ("Mentions #3 and prefix#4 but closes nothing", []),
    (None, []),
])
def test_closing_references_follow_githubs_keywords(body, keys):
    assert closing_references(body, "o/r") == keys


def test_ping_is_ignored():
    assert parse("ping", {"zen": "Keep it logically awesome.", "hook_id": 1}) == Ignored("ping")


def test_missing_delivery_header_is_a_payload_error():
    with pytest.raises(PayloadError, match="missing X-GitHub-Delivery header"):
        parse_github_webhook({"X-GitHub-Event": "issues"}, {}, **OPTIONS)


def test_malformed_issue_names_the_field():
    payload = fixture("issues-assigned.work")
    payload["issue"]["number"] = "seven"
    with pytest.raises(PayloadError, match=r"issues\.assigned: issue\.number: Expected `int`, got `str`"):
        parse("issues", payload)


@pytest.mark.parametrize("number", [0, -1])
def test_issue_number_below_one_is_refused_not_queued(number):
    # Found by the fuzzing test: "#-1" would have been queued as a ticket key.
    payload = fixture("issues-assigned.work")
    payload["issue"]["number"] = number
    with pytest.raises(PayloadError, match=r"issues\.assigned: issue\.number: Expected `int` >= 1"):
        parse("issues", payload)


def test_missing_sub_issue_is_a_payload_error():
    payload = fixture("sub-issues-sub-issue-added")
    del payload["sub_issue"]
    with pytest.raises(PayloadError, match=r"sub_issues\.sub_issue_added: sub_issue: missing, and it is required"):
        parse("sub_issues", payload)


def test_headers_are_read_case_insensitively_and_events_survive_the_queue():
    headers = {"x-github-event": "issues", "x-github-delivery": "d-1"}
    event = parse_github_webhook(headers, fixture("issues-assigned.work"), **OPTIONS)
    assert Event.from_dict(json.loads(event.to_json())) == event
