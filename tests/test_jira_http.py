"""Jira HTTP faults: rate limits, server errors, refusals, and the rule that creates are never re-sent blindly."""

from __future__ import annotations

from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import pytest
import requests
import responses

from connectors.base import NotFound, PermanentError, TransientError
from connectors.jira_http import MAX_ATTEMPTS, JiraHttp, UncertainWrite, jira_session
from tests.jira_payloads import API, add, jira_config, sent

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def http(sleeps: list[float], **changes) -> JiraHttp:
    return JiraHttp(jira_config(**changes), sleep=sleeps.append, jitter=lambda: 1.0, clock=NOW.timestamp)


@responses.activate
def test_rate_limit_waits_retry_after_seconds_then_succeeds():
    sleeps: list[float] = []
    add("GET", "issue/PG-1", {"errorMessages": ["Rate limit exceeded."]}, status=429, headers={"Retry-After": "7"})
    add("GET", "issue/PG-1", {"id": "10001", "key": "PG-1"})
    assert http(sleeps).get("issue/PG-1") == {"id": "10001", "key": "PG-1"}
    assert sleeps == [7.0]
    assert sent() == [("GET", "issue/PG-1", {}), ("GET", "issue/PG-1", {})]


@responses.activate
def test_rate_limit_with_an_http_date_waits_until_that_moment():
    sleeps: list[float] = []
    later = format_datetime(NOW + timedelta(seconds=12), usegmt=True)
    add("GET", "issue/PG-1", status=429, headers={"Retry-After": later})
    add("GET", "issue/PG-1", {"id": "10001", "key": "PG-1"})
    http(sleeps).get("issue/PG-1")
    assert sleeps == [12.0]


@responses.activate
def test_rate_limit_without_retry_after_waits_for_x_ratelimit_reset():
    sleeps: list[float] = []
    add("GET", "issue/PG-1", status=429, headers={"X-RateLimit-Reset": "2026-01-05T09:01Z"})
    add("GET", "issue/PG-1", {"id": "10001", "key": "PG-1"})
    http(sleeps).get("issue/PG-1")
    assert sleeps == [60.0]


@responses.activate
def test_rate_limit_longer_than_a_worker_should_sleep_goes_back_to_the_queue():
    sleeps: list[float] = []
    add("GET", "issue/PG-1", status=429, headers={"Retry-After": "900"})
    with pytest.raises(TransientError) as caught:
        http(sleeps).get("issue/PG-1")
    assert caught.value.retry_after == 900.0
    assert sleeps == []


@responses.activate
def test_server_errors_twice_then_success_backs_off_exponentially():
    sleeps: list[float] = []
    add("POST", "search/jql", {"errorMessages": ["Internal server error"]}, status=500)
    add("POST", "search/jql", status=502)
    add("POST", "search/jql", {"issues": [], "isLast": True})
    assert http(sleeps).post("search/jql", {"jql": "key = PG-1"}) == {"issues": [], "isLast": True}
    assert sleeps == [0.5, 1.0]
    assert [method for method, _, _ in sent()] == ["POST", "POST", "POST"]


@responses.activate
def test_backoff_jitter_keeps_each_wait_between_half_and_full_step():
    sleeps: list[float] = []
    client = JiraHttp(jira_config(), sleep=sleeps.append, jitter=lambda: 0.0)
    for _ in range(3):
        add("GET", "issue/PG-1", status=503)
    add("GET", "issue/PG-1", {"id": "1", "key": "PG-1"})
    client.get("issue/PG-1")
    assert sleeps == [0.25, 0.5, 1.0]


@responses.activate
def test_server_errors_past_the_budget_raise_transient_error():
    sleeps: list[float] = []
    for _ in range(MAX_ATTEMPTS):
        add("PUT", "issue/PG-2", status=503, headers={"Retry-After": "3"})
    with pytest.raises(TransientError) as caught:
        http(sleeps).put("issue/PG-2", {"update": {"labels": [{"add": "x"}]}})
    assert caught.value.retry_after == 3.0
    assert caught.value.request == "PUT /rest/api/2/issue/PG-2"
    assert len(responses.calls) == MAX_ATTEMPTS


@responses.activate
def test_connection_errors_on_reads_are_retried():
    sleeps: list[float] = []
    responses.add("GET", API + "issue/PG-1", body=requests.ConnectionError("reset by peer"))
    add("GET", "issue/PG-1", {"id": "10001", "key": "PG-1"})
    assert http(sleeps).get("issue/PG-1")["key"] == "PG-1"
    assert sleeps == [0.5]


@responses.activate
def test_bad_request_is_raised_with_jiras_own_message_and_the_request():
    add("PUT", "issue/PG-2", {"errorMessages": ["Field 'duedate' cannot be set."],
                              "errors": {"labels": "The label 'a b' contains spaces which is invalid."}}, status=400)
    with pytest.raises(PermanentError) as caught:
        http([]).put("issue/PG-2", {"update": {"labels": [{"add": "a b"}]}})
    message = str(caught.value)
    assert "Field 'duedate' cannot be set." in message
    assert "labels: The label 'a b' contains spaces which is invalid." in message
    assert "PUT /rest/api/2/issue/PG-2" in message
    assert caught.value.status == 400
    assert len(responses.calls) == 1


@responses.activate
def test_error_messages_never_contain_the_credentials():
    add("GET", "issue/PG-1", {"errorMessages": ["Unauthorized"]}, status=401)
    with pytest.raises(PermanentError) as caught:
        JiraHttp(jira_config()).get("issue/PG-1")
    assert "secret-api-token" not in str(caught.value)
    assert "Basic" not in str(caught.value)


@responses.activate
def test_missing_issue_raises_not_found():
    add("GET", "issue/PG-404", {"errorMessages": ["Issue does not exist or you do not have permission to see it."]},
        status=404)
    with pytest.raises(NotFound, match="Issue does not exist"):
        http([]).get("issue/PG-404")


@responses.activate
def test_create_is_not_resent_after_a_server_error():
    add("POST", "issue/bulk", status=500)
    with pytest.raises(UncertainWrite):
        http([]).post("issue/bulk", {"issueUpdates": []}, repeatable=False)
    assert len(responses.calls) == 1


@responses.activate
def test_create_is_not_resent_after_a_timeout():
    responses.add("POST", API + "issue/bulk", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(UncertainWrite):
        http([]).post("issue/bulk", {"issueUpdates": []}, repeatable=False)
    assert len(responses.calls) == 1


@responses.activate
def test_create_is_resent_after_a_rate_limit_because_jira_did_nothing():
    sleeps: list[float] = []
    add("POST", "issue/bulk", status=429, headers={"Retry-After": "2"})
    add("POST", "issue/bulk", {"issues": [], "errors": []}, status=201)
    http(sleeps).post("issue/bulk", {"issueUpdates": []}, repeatable=False)
    assert sleeps == [2.0]
    assert len(responses.calls) == 2


@responses.activate
def test_every_request_carries_a_timeout():
    add("GET", "issue/PG-1", {"id": "10001", "key": "PG-1"})
    http([], timeout=4.5).get("issue/PG-1")
    assert responses.calls[0].request.req_kwargs["timeout"] == 4.5


def test_cloud_authenticates_with_email_and_token_data_center_with_a_bearer_token():
    cloud = jira_session(jira_config()).prepare_request(requests.Request("GET", API + "myself"))
    assert cloud.headers["Authorization"].startswith("Basic ")
    data_center = jira_session(jira_config(email=None)).prepare_request(requests.Request("GET", API + "myself"))
    assert data_center.headers["Authorization"] == "Bearer secret-api-token"
