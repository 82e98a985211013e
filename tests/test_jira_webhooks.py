"""Jira webhook deliveries: real payloads normalized to Events, malformed ones refused with a reason, signatures."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from connectors.jira_webhooks import parse_jira_webhook, verify_jira_signature
from connectors.webhooks import Ignored, PayloadError
from plugin.model import Event, EventKind, Tracker

FIXTURES = Path(__file__).parent / "fixtures" / "jira"
DELIVERY = {"X-Atlassian-Webhook-Identifier": "3f1e7c2a-delivery", "X-Atlassian-Webhook-Flow": "Primary"}
ACTOR = "557058:e361…"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def parse(payload: dict, headers: dict | None = None, bot: str | None = "pilotgate-bot") -> Event | Ignored:
    return parse_jira_webhook(DELIVERY if headers is None else headers, payload, bot_account=bot)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_status_change_into_an_in_progress_category_is_work_started():
    event = parse(fixture("issue_updated.status.json"))
    assert event.kind is EventKind.WORK_STARTED
    assert (event.tracker, event.ticket_key, event.epic_key) == (Tracker.JIRA, "SD-2139", None)
    assert event.delivery_id == "3f1e7c2a-delivery"
    assert event.actor == ACTOR
    assert event.occurred_at.isoformat() == "2017-11-16T10:55:45.851000+00:00"


def test_status_change_into_a_done_category_is_not_work_started():
    payload = fixture("issue_updated.status.json")
    payload["issue"]["fields"]["status"]["statusCategory"] = {"id": 3, "key": "done"}
    assert parse(payload) == Ignored("no change Pilot Gate acts on")


def test_created_child_names_its_epic():
    event = parse(fixture("issue_created.child.json"))
    assert (event.kind, event.ticket_key, event.epic_key) == (EventKind.CHILD_ADDED, "SD-2140", "SD-2130")


def test_created_epic_is_an_epic_change_and_a_created_orphan_is_ignored():
    epic = fixture("issue_created.child.json")
    del epic["issue"]["fields"]["parent"]
    epic["issue"]["fields"]["issuetype"] = {"name": "Epic", "hierarchyLevel": 1}
    assert (parse(epic).kind, parse(epic).epic_key) == (EventKind.EPIC_CHANGED, "SD-2140")
    orphan = fixture("issue_created.child.json")
    del orphan["issue"]["fields"]["parent"]
    assert parse(orphan) == Ignored("new issue has no parent")


def test_parent_change_is_a_child_added_to_the_new_epic():
    event = parse(fixture("issue_updated.parent.json"))
    assert (event.kind, event.ticket_key, event.epic_key) == (EventKind.CHILD_ADDED, "SD-2139", "SD-2100")


def test_parent_removed_is_a_child_removed():
    payload = fixture("issue_updated.parent.json")
    del payload["issue"]["fields"]["parent"]
    payload["changelog"]["items"][0].update({"from": "14614", "to": None})
    event = parse(payload)
    assert (event.kind, event.epic_key, event.detail["previous_parent_id"]) == (EventKind.CHILD_REMOVED, None, "14614")


def test_any_change_to_a_gate_ticket_is_a_gate_change_even_a_start():
    payload = fixture("issue_updated.status.json")
    payload["issue"]["fields"]["labels"] = ["pilotgate-gate-success-metric"]
    payload["issue"]["fields"]["parent"] = {"id": "12290", "key": "SD-2130"}
    event = parse(payload)
    assert (event.kind, event.epic_key) == (EventKind.GATE_CHANGED, "SD-2130")


def test_other_change_on_an_epic_is_an_epic_change():
    payload = fixture("issue_updated.parent.json")
    payload["issue"]["fields"]["issuetype"] = {"name": "Epic", "hierarchyLevel": 1}
    del payload["issue"]["fields"]["parent"]
    payload["changelog"]["items"] = [{"field": "labels", "fieldtype": "jira", "fieldId": "labels",
                                      "from": None, "fromString": "", "to": None, "toString": "ai-pilot"}]
    assert parse(payload).kind is EventKind.EPIC_CHANGED


def test_deleted_issue_is_a_child_removed():
    event = parse(fixture("issue_deleted.json"))
    assert (event.kind, event.ticket_key, event.epic_key) == (EventKind.CHILD_REMOVED, "SD-2140", "SD-2130")


def test_deleted_issue_link_event_carries_ids_only():
    deleted = fixture("issuelink_created.json")
    deleted["webhookEvent"] = "issuelink_deleted"
    event = parse(deleted)
    assert (event.kind, event.ticket_key) == (EventKind.LINK_CHANGED, "11917")
    assert dict(event.detail) == {"link_id": "23161", "source_issue_id": "18715",
                                  "destination_issue_id": "11917", "link_type": "Duplicate"}


def test_created_issue_link_is_ignored_because_a_new_link_asks_for_nothing():
    # Jira names no actor on link events: the bot's own gate links would otherwise all come back as work.
    assert parse(fixture("issuelink_created.json")) == Ignored("a new link asks for nothing")


def test_own_events_are_ignored_by_cloud_account_id_and_by_data_center_name():
    assert parse(fixture("issue_updated.status.json"), bot=ACTOR) == Ignored("own event")
    data_center = fixture("issue_updated.status.json")
    data_center["user"] = {"name": "pilotgate", "key": "JIRAUSER10100"}
    assert parse(data_center, bot="pilotgate") == Ignored("own event")


def test_events_pilot_gate_does_not_handle_are_ignored_by_name():
    assert parse({"webhookEvent": "comment_created", "comment": {}}) == Ignored(
        "Jira event comment_created is not one Pilot Gate acts on")


def test_missing_delivery_header_derives_an_id_stable_across_retries():
    first = parse(fixture("issue_updated.status.json"), headers={})
    again = parse(fixture("issue_updated.status.json"), headers={"X-Atlassian-Webhook-Retry": "1"})
    other = parse(fixture("issue_created.child.json"), headers={})
    assert first.delivery_id == again.delivery_id != other.delivery_id
    assert first.delivery_id.startswith("derived-")


def test_header_names_are_matched_case_insensitively():
    event = parse(fixture("issue_deleted.json"), headers={"x-atlassian-webhook-identifier": "abc"})
    assert event.delivery_id == "abc"


def test_events_survive_a_round_trip_through_the_queue():
    event = parse(fixture("issue_updated.parent.json"))
    assert Event.from_dict(json.loads(event.to_json())) == event


@pytest.mark.parametrize("break_it, reason", [
    (lambda p: p.pop("issue"), "issue: missing, and it is required"),
    (lambda p: p["issue"].pop("key"), "issue.key: missing, and it is required"),
    (lambda p: p["issue"].update(key=12), "issue.key: Expected `str`, got `int`"),
    (lambda p: p.update(issue="SD-2139"), "issue: Expected `object`, got `str`"),
    (lambda p: p.update(timestamp="yesterday"), "timestamp: Expected `int | null`, got `str`"),
    (lambda p: p["changelog"].update(items="status"), "changelog.items: Expected `array`, got `str`"),
    (lambda p: p["issue"]["fields"]["status"].update(statusCategory={"id": 4}),
     "issue.fields.status.statusCategory.key: missing, and it is required"),
])
def test_malformed_issue_payloads_are_refused_with_where_and_why(break_it, reason):
    payload = copy.deepcopy(fixture("issue_updated.status.json"))
    break_it(payload)
    with pytest.raises(PayloadError) as caught:
        parse(payload)
    assert str(caught.value) == f"jira:issue_updated payload: {reason}"


def test_malformed_link_payload_and_missing_event_name_are_refused():
    link = fixture("issuelink_created.json")
    del link["issueLink"]["destinationIssueId"]
    with pytest.raises(PayloadError, match="issueLink.destinationIssueId: missing, and it is required"):
        parse(link)
    with pytest.raises(PayloadError, match="webhookEvent"):
        parse({"issue": {}})
    with pytest.raises(PayloadError, match="JSON object"):
        parse(["not", "an", "object"])


def test_signature_of_the_raw_body_is_verified():
    body = (FIXTURES / "issue_updated.status.json").read_bytes()
    assert verify_jira_signature("hook-secret", body, sign("hook-secret", body))
    assert not verify_jira_signature("hook-secret", body + b" ", sign("hook-secret", body))
    assert not verify_jira_signature("other-secret", body, sign("hook-secret", body))
    assert not verify_jira_signature("hook-secret", body, None)
    assert not verify_jira_signature("hook-secret", body, "sha1=" + sign("hook-secret", body)[7:])
    assert not verify_jira_signature("", body, sign("", body))
