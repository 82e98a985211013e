"""GitHub's rate limits, retries and errors, with an instant clock."""

from __future__ import annotations

import pytest
import requests

from connectors.base import NotFound, PermanentError, TransientError
from connectors.github_http import GitHubHttp, graphql_url
from plugin.model import Tracker, UpsertComment
from tests.github_nodes import (
    API, GRAPHQL, REPO, FakeClock, epic_node, gh, graphql_answer, issue_node, make_connector, sent,
)
from tests.openapi_github import example

__all__ = ["gh"]  # the fixture: imported so pytest finds it
SECONDARY = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
DATE = "Mon, 05 Jan 2026 09:00:00 GMT"  # epoch 1767603600
COMMENTS = f"{API}/repos/{REPO}/issues/7/comments"


def http(clock: FakeClock, **kwargs) -> GitHubHttp:
    return GitHubHttp(API, lambda: "Bearer t", sleep=clock.sleep, clock=clock, jitter=lambda: 0.5, **kwargs)


def test_secondary_rate_limit_with_retry_after_then_success(gh):
    clock = FakeClock()
    connector = make_connector(clock=clock)
    graphql_answer(gh, {"e0": {"issue": epic_node(1, (issue_node(7),))}})
    epic = connector.snapshot(f"{REPO}#1")
    gh.post(COMMENTS, status=403, json={"message": SECONDARY}, headers={"retry-after": "30"})
    gh.post(COMMENTS, status=201, json=example("issue-comment", id=12))

    outcomes = connector.apply(epic, [UpsertComment(f"{REPO}#7", "Gates open.", "work_started_early")])

    body = {"body": "<!-- pilotgate:comment -->\nGates open."}
    assert sent(gh)[1:] == [("POST", f"/repos/{REPO}/issues/7/comments", body)] * 2
    assert clock.sleeps == [30.0] and outcomes[0].reason == "created"
    assert connector.memory.comment_id(Tracker.GITHUB, f"{REPO}#7") == "12"


def test_secondary_rate_limit_without_retry_after_waits_a_minute_then_backs_off(gh):
    clock = FakeClock()
    gh.get(f"{API}/repos/{REPO}/issues/7", status=403, json={"message": SECONDARY})
    gh.get(f"{API}/repos/{REPO}/issues/7", status=429, json={"message": SECONDARY})
    gh.get(f"{API}/repos/{REPO}/issues/7", json=example("issue"))

    http(clock).get(f"/repos/{REPO}/issues/7")

    assert clock.sleeps == [60.0, 120.0]


def test_exhausted_primary_limit_waits_until_reset_by_the_servers_clock(gh):
    clock = FakeClock()
    limited = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1767603645", "Date": DATE}
    gh.get(f"{API}/repos/{REPO}/issues/7", json=example("issue"), headers=limited)
    gh.get(f"{API}/repos/{REPO}/issues/8", json=example("issue"))
    client = http(clock)

    client.get(f"/repos/{REPO}/issues/7")
    client.get(f"/repos/{REPO}/issues/8")

    assert clock.sleeps == [45.0]


def test_primary_limit_403_is_retried_after_reset(gh):
    clock = FakeClock()
    limited = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1767603610", "Date": DATE}
    gh.get(f"{API}/repos/{REPO}/issues/7", status=403, json={"message": "API rate limit exceeded"}, headers=limited)
    gh.get(f"{API}/repos/{REPO}/issues/7", json=example("issue"))

    http(clock).get(f"/repos/{REPO}/issues/7")

    assert clock.sleeps == [10.0]


def test_a_wait_longer_than_max_wait_is_left_to_the_queue(gh):
    gh.get(f"{API}/repos/{REPO}/issues/7", status=403, json={"message": SECONDARY}, headers={"retry-after": "3600"})
    with pytest.raises(TransientError) as raised:
        http(FakeClock(), max_wait=900).get(f"/repos/{REPO}/issues/7")
    assert raised.value.retry_after == 3600.0 and "secondary rate limit" in str(raised.value)


def test_server_errors_on_reads_are_retried_with_bounded_backoff(gh):
    clock = FakeClock()
    for _ in range(3):
        gh.get(f"{API}/repos/{REPO}/issues/7", status=502, json={"message": "Server Error"})
    gh.get(f"{API}/repos/{REPO}/issues/7", json=example("issue"))

    assert http(clock).get(f"/repos/{REPO}/issues/7")["number"] == example("issue")["number"]
    assert clock.sleeps == [1.5, 3.0, 6.0]


def test_server_errors_that_never_clear_raise_transient_with_githubs_message(gh):
    for _ in range(4):
        gh.get(f"{API}/repos/{REPO}/issues/7", status=503, json={"message": "Service Unavailable"})
    expected = rf"GitHub answered 503: Service Unavailable \(GET /repos/{REPO}/issues/7\)"
    with pytest.raises(TransientError, match=expected):
        http(FakeClock()).get(f"/repos/{REPO}/issues/7")


def test_a_create_that_timed_out_is_not_repeated_by_the_transport(gh):
    gh.post(f"{API}/repos/{REPO}/issues", body=requests.ReadTimeout("timed out"))
    with pytest.raises(TransientError, match="did not answer"):
        http(FakeClock()).request("POST", f"/repos/{REPO}/issues", body={"title": "x"}, retry_ambiguous=False)
    assert len(gh.calls) == 1


def test_not_found_and_forbidden_are_permanent_with_githubs_message(gh):
    gh.get(f"{API}/repos/{REPO}/issues/404", status=404, json={"message": "Not Found"})
    gh.get(f"{API}/repos/{REPO}/issues/403", status=403, json={"message": "Resource not accessible by integration"})
    client = http(FakeClock())
    with pytest.raises(NotFound, match="404: Not Found"):
        client.get(f"/repos/{REPO}/issues/404")
    with pytest.raises(PermanentError, match="Resource not accessible by integration"):
        client.get(f"/repos/{REPO}/issues/403")


def test_graphql_rate_limited_error_waits_and_retries(gh):
    clock = FakeClock()
    gh.post(GRAPHQL, json={"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded"}]})
    graphql_answer(gh, {"node": None})

    assert http(clock).graphql("query Q($id: ID!) { node(id: $id) { id } }", {"id": "I_1"}) == {"node": None}
    assert clock.sleeps == [60.0]


def test_graphql_errors_other_than_not_found_are_raised(gh):
    gh.post(GRAPHQL, json={"data": None, "errors": [{"message": "Field 'blockedBy' doesn't exist on type 'Issue'"}]})
    with pytest.raises(PermanentError, match="Field 'blockedBy' doesn't exist"):
        http(FakeClock()).graphql("query Q($id: ID!) { node(id: $id) { id } }", {"id": "I_1"})


def test_writes_are_spaced_a_second_apart_but_reads_are_not(gh):
    clock = FakeClock()
    gh.post(COMMENTS, status=201, json=example("issue-comment"))
    gh.get(f"{API}/repos/{REPO}/issues/7", json=example("issue"))
    client = http(clock)

    client.request("POST", f"/repos/{REPO}/issues/7/comments", body={"body": "a"})
    client.get(f"/repos/{REPO}/issues/7")
    clock.now += 0.25
    client.request("POST", f"/repos/{REPO}/issues/7/comments", body={"body": "b"})

    assert clock.sleeps == [0.75]


@pytest.mark.parametrize("api, expected", [
    ("https://api.github.com", "https://api.github.com/graphql"),
    ("https://ghe.example.com/api/v3/", "https://ghe.example.com/api/graphql"),
    ("http://127.0.0.1:8765/github", "http://127.0.0.1:8765/github/graphql"),
])
def test_graphql_endpoint_follows_the_api_url(api, expected):
    assert graphql_url(api) == expected


def test_an_exhausted_graphql_budget_does_not_stall_rest_calls(gh):
    clock = FakeClock()
    limited = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1767603645", "Date": DATE,
               "x-ratelimit-resource": "graphql"}
    gh.post(GRAPHQL, json={"data": {"node": None}}, headers=limited)
    gh.get(f"{API}/repos/{REPO}/issues/8", json=example("issue"))
    client = http(clock)

    client.graphql("query Q($id: ID!) { node(id: $id) { id } }", {"id": "I_1"})
    client.get(f"/repos/{REPO}/issues/8")

    assert clock.sleeps == []


MUTATION = "mutation LinkGates($k0: AddBlockedByInput!) { k0: addBlockedBy(input: $k0) { clientMutationId } }"
LINK = {"k0": {"issueId": "I_7", "blockingIssueId": "I_21"}}


def test_mutation_requests_are_spaced_a_second_apart_and_a_rate_limited_one_is_sent_again(gh):
    clock = FakeClock()
    gh.post(GRAPHQL, json={"errors": [{"type": "RATE_LIMIT", "message": "API rate limit already exceeded"}]})
    graphql_answer(gh, {"k0": {"clientMutationId": None}})
    graphql_answer(gh, {"k0": {"clientMutationId": None}})
    client = http(clock)

    first = client.mutate(MUTATION, LINK)
    second = client.mutate(MUTATION, LINK)

    assert (first.failure("k0"), second.failure("k0")) == (None, None)
    assert clock.sleeps == [60.0, 1.0]  # the rate-limit wait, then the spacing before the next mutation


def test_a_mutation_request_that_failed_with_5xx_is_not_sent_again(gh):
    gh.post(GRAPHQL, status=502, json={"message": "Server Error"})
    with pytest.raises(TransientError, match="502") as raised:
        http(FakeClock()).mutate(MUTATION, LINK)
    assert raised.value.status == 502 and len(gh.calls) == 1


@pytest.mark.parametrize("error, kind, retry_after", [
    ({"type": "NOT_FOUND", "message": "Could not resolve to a node"}, NotFound, None),
    ({"type": "FORBIDDEN", "message": "Resource not accessible by integration"}, PermanentError, None),
    ({"type": "UNPROCESSABLE", "message": "was submitted too quickly"}, TransientError, 60.0),
    ({"message": "Something went wrong while executing your query. This may be the result of a timeout"},
     TransientError, None),
], ids=["not-found", "forbidden", "content-limit", "unknown-fate"])
def test_each_alias_of_a_mutation_answer_is_judged_on_its_own_errors(gh, error, kind, retry_after):
    gh.post(GRAPHQL, json={"data": {"k0": None, "k1": {"clientMutationId": None}},
                           "errors": [{**error, "path": ["k0"]}]})
    answer = http(FakeClock()).mutate(MUTATION.replace("$k0: AddBlockedByInput!", "$k0: AddBlockedByInput!, "
                                                       "$k1: AddBlockedByInput!").replace(
        "{ clientMutationId } }", "{ clientMutationId } k1: addBlockedBy(input: $k1) { clientMutationId } }"),
        {**LINK, "k1": LINK["k0"]})

    failure = answer.failure("k0")
    assert type(failure) is kind and getattr(failure, "retry_after", None) == retry_after
    assert answer.failure("k1") is None and error["message"] in str(failure)
