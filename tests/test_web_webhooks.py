"""The webhook contract through Flask's HTTP stack: every answer a tracker (or anyone) can get."""

from __future__ import annotations

import io
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from plugin.config import ConfigError
from plugin.outbox import Outbox
from tests.conftest import GITHUB_SECRET, JIRA_SECRET, config_mapping, fixture_json, sign


def queued(app) -> int:
    return app.extensions["pilotgate"].outbox.stats().depth


def test_signed_work_started_delivery_is_queued(app, deliveries):
    answer = deliveries.jira(fixture_json("jira/issue_updated.status.json"), delivery="d-1")
    assert answer.status_code == 202
    assert answer.get_json() == {"status": "queued", "delivery": "d-1"}
    assert queued(app) == 1


def test_queued_event_is_the_normalized_event(app, deliveries):
    deliveries.github("issues", fixture_json("github/issues-assigned.work.json"), delivery="gh-1")
    outbox: Outbox = app.extensions["pilotgate"].outbox
    [event_id] = outbox.dispatch_due()
    record = outbox.get(event_id)
    assert (record.event.tracker.value, record.event.kind.value, record.delivery) == ("github", "work_started", "gh-1")
    assert "#" in record.event.ticket_key


def test_same_delivery_twice_is_answered_duplicate(app, deliveries):
    payload = fixture_json("jira/issue_updated.status.json")
    assert deliveries.jira(payload, delivery="d-2").status_code == 202
    again = deliveries.jira(payload, delivery="d-2")
    assert again.status_code == 200
    assert again.get_json() == {"status": "duplicate", "delivery": "d-2"}
    assert queued(app) == 1


def test_bad_signature_is_refused(app, deliveries):
    answer = deliveries.jira(fixture_json("jira/issue_updated.status.json"), secret="not-the-secret")
    assert answer.status_code == 401
    assert "does not match" in answer.get_json()["error"]
    assert queued(app) == 0


def test_missing_signature_is_refused(client):
    body = json.dumps(fixture_json("jira/issue_updated.status.json")).encode()
    answer = client.post("/webhooks/jira", data=body, headers={"X-Atlassian-Webhook-Identifier": "d-3"})
    assert answer.status_code == 401
    assert "missing X-Hub-Signature" in answer.get_json()["error"]


@pytest.mark.parametrize("prefix", ["sha1", "md5", "SHA512", ""])
def test_other_signature_algorithm_is_refused(client, prefix):
    body = json.dumps(fixture_json("github/issues-assigned.work.json")).encode()
    digest = sign(body, GITHUB_SECRET).partition("=")[2]
    answer = client.post("/webhooks/github", data=body, headers={
        "X-Hub-Signature-256": f"{prefix}={digest}", "X-GitHub-Event": "issues", "X-GitHub-Delivery": "g-1"})
    assert answer.status_code == 401
    assert "sha256=" in answer.get_json()["error"]


def test_signature_is_checked_before_the_body_is_read_as_json(deliveries):
    answer = deliveries.jira(b"{not json", secret="wrong")
    assert answer.status_code == 401


def test_unreadable_json_is_400(deliveries):
    answer = deliveries.jira(b"{\"webhookEvent\": ")
    assert answer.status_code == 400
    assert answer.get_json() == {"error": "body is not JSON (Input data was truncated)"}


def test_github_event_kind_no_handler_reads_is_ignored_without_reading_the_body(app, deliveries):
    answer = deliveries.github("issue_comment", b"{not json")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ignored", "reason": "issue_comment events are not used"}
    assert queued(app) == 0


def test_github_event_kind_a_handler_reads_still_needs_json(deliveries):
    answer = deliveries.github("issues", b"{not json")
    assert answer.status_code == 400
    assert answer.get_json() == {"error": "body is not JSON (JSON is malformed: object keys must be strings (byte 1))"}


def test_body_that_is_not_utf8_is_400(deliveries):
    assert deliveries.jira(b"\xff\xfe\x00garbage").status_code == 400


def test_payload_of_the_wrong_shape_is_400_with_the_reason(deliveries):
    answer = deliveries.jira({"webhookEvent": "jira:issue_updated", "issue": {"fields": {}}})
    assert answer.status_code == 400
    assert "issue" in answer.get_json()["error"]


def test_body_over_the_limit_is_413_before_anything_else(client, config):
    body = b"x" * (config.max_body_bytes + 1)
    answer = client.post("/webhooks/jira", data=body, headers={"X-Hub-Signature": sign(body, JIRA_SECRET)})
    assert answer.status_code == 413


def test_body_over_the_limit_without_content_length_is_413(client, config):
    body = b"y" * (config.max_body_bytes + 10)
    answer = client.post("/webhooks/jira", input_stream=io.BytesIO(body),
                         headers={"X-Hub-Signature": sign(body, JIRA_SECRET), "Transfer-Encoding": "chunked"},
                         environ_overrides={"wsgi.input_terminated": True})  # what servers set for chunked bodies
    assert answer.status_code == 413


def test_event_pilot_gate_does_not_use_is_ignored_with_the_reason(app, deliveries):
    answer = deliveries.github("star", {"action": "created"})
    assert answer.status_code == 200
    assert answer.get_json()["status"] == "ignored"
    assert "star" in answer.get_json()["reason"]
    assert queued(app) == 0


def test_github_ping_is_ignored(deliveries):
    answer = deliveries.github("ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
    assert answer.get_json() == {"status": "ignored", "reason": "ping"}


def test_unknown_jira_event_is_ignored(deliveries):
    answer = deliveries.jira({"webhookEvent": "sprint_started", "timestamp": 1})
    assert (answer.status_code, answer.get_json()["status"]) == (200, "ignored")


def test_unconfigured_tracker_is_404(tmp_path):
    from plugin.web import create_app

    app = create_app(config_mapping(tmp_path, github=None))
    answer = app.test_client().post("/webhooks/github", data=b"{}")
    assert answer.status_code == 404


def test_webhooks_accept_only_post(client):
    assert client.get("/webhooks/jira").status_code == 405


def test_create_app_reads_the_file_named_by_the_environment(tmp_path, monkeypatch):
    import yaml

    from plugin.web import create_app

    path = tmp_path / "pilotgate.yaml"
    path.write_text(yaml.safe_dump(config_mapping(tmp_path)), encoding="utf-8")
    monkeypatch.setenv("PILOTGATE_CONFIG", str(path))
    app = create_app()
    assert app.extensions["pilotgate"].config.jira.webhook_secret == JIRA_SECRET


def test_bad_configuration_stops_start_up_naming_the_key(tmp_path):
    from plugin.web import create_app

    with pytest.raises(ConfigError) as raised:
        create_app(config_mapping(tmp_path, max_body_bytes="lots"))
    assert "max_body_bytes" in str(raised.value)
    assert "\n" not in str(raised.value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=300), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12).map(lambda value: json.dumps(value).encode())),
    tracker=st.sampled_from(["jira", "github"]),
    event=st.sampled_from(["issues", "sub_issues", "pull_request", "projects_v2_item", "issue_dependencies", "x"]))
def test_nothing_a_client_sends_gets_a_500(client, body, tracker, event):
    secret = JIRA_SECRET if tracker == "jira" else GITHUB_SECRET
    headers = {"X-Hub-Signature": sign(body, secret), "X-Hub-Signature-256": sign(body, secret),
               "X-GitHub-Event": event, "X-GitHub-Delivery": os.urandom(4).hex()}
    answer = client.post(f"/webhooks/{tracker}", data=body, headers=headers)
    assert answer.status_code in (200, 202, 400), (answer.status_code, answer.get_data())
