"""The sandbox's Jira REST v2: JQL, paging, fields, properties, creates, links, comments, transitions."""

from __future__ import annotations

import pytest
import requests

from connectors.sandbox import Sandbox
from connectors.sandbox.jira_store import BOT
from tests.openapi_jira import assert_valid_response

API = "/rest/api/2"


@pytest.fixture
def sandbox():
    with Sandbox.start(schema="trimmed") as running:
        yield running


@pytest.fixture
def jira(sandbox):
    session = requests.Session()
    session.auth = ("bot@example.com", "token")

    def call(method: str, path: str, body=None, status: int = 200, **params):
        answer = session.request(method, f"{sandbox.url}{API}/{path}", json=body, params=params or None, timeout=10)
        assert answer.status_code == status, answer.text
        data = answer.json() if answer.content else None
        if answer.status_code < 300 and data is not None:
            assert_valid_response(method, answer.url, answer.status_code, data)
        return data

    return call


@pytest.fixture
def pilot(sandbox):
    client = sandbox.client
    epic = client.jira_epic("Pilot")["key"]
    return epic, [client.jira_issue(f"Work {n}", parent=epic)["key"] for n in range(3)]


def search(jira, jql: str, **body) -> dict:
    return jira("POST", "search/jql", {"jql": jql, **body})


@pytest.mark.parametrize("jql, expected", [
    ("issuetype = Epic AND labels = ai-pilot", ["PILOT-1"]),
    ("parent = PILOT-1", ["PILOT-2", "PILOT-3", "PILOT-4"]),
    ("parent in (PILOT-1) AND key in (PILOT-3, PILOT-4) ORDER BY created ASC", ["PILOT-3", "PILOT-4"]),
    ("key = PILOT-2 OR (issuetype = \"Epic\" AND NOT labels = other)", ["PILOT-1", "PILOT-2"]),
    ("parent = PILOT-1 AND statusCategory = \"To Do\" AND key != PILOT-2", ["PILOT-3", "PILOT-4"]),
    ("labels in (nothing, ai-pilot)", ["PILOT-1"]),
])
def test_jql_subset_selects_what_jira_would(jira, pilot, jql, expected):
    assert [i["key"] for i in search(jira, jql)["issues"]] == expected


@pytest.mark.parametrize("jql, message", [
    ("summary ~ churn", "Field 'summary' does not exist"),
    ("parent = ", "Expecting a value"),
    ("order by key", "Unbounded JQL queries are not allowed"),
    ("key in (PILOT-1", "Expecting ',' or ')'"),
    ("key = NOPE-9", "An issue with key 'NOPE-9' does not exist"),
    ("labels = a labels = b", "Expecting either 'OR' or 'AND'"),
])
def test_jql_it_cannot_run_is_refused_with_jiras_error_shape(jira, pilot, jql, message):
    answer = jira("POST", "search/jql", {"jql": jql}, status=400)
    assert answer["errors"] == {} and message in answer["errorMessages"][0]


def test_search_pages_with_next_page_token_and_returns_only_ids_by_default(jira, pilot):
    first = search(jira, "parent = PILOT-1", maxResults=2)
    assert not first["isLast"] and set(first["issues"][0]) == {"expand", "id", "key", "self"}
    second = search(jira, "parent = PILOT-1", maxResults=2, nextPageToken=first["nextPageToken"])
    assert second["isLast"] and [i["key"] for i in second["issues"]] == ["PILOT-4"]


def test_search_returns_requested_fields_and_properties(jira, pilot):
    jira("PUT", "issue/PILOT-2/properties/pilotgate.gate", {"gate": "metric"}, status=201)
    found = search(jira, "key = PILOT-2", fields=["summary", "parent", "-parent"], properties=["pilotgate.gate"])
    issue = found["issues"][0]
    assert issue["fields"] == {"summary": "Work 0"} and issue["properties"] == {"pilotgate.gate": {"gate": "metric"}}


def test_new_issues_lag_behind_search_until_reconciled():
    with Sandbox.start(schema="trimmed", search_lag=30) as lagging:
        key = lagging.client.jira_epic("Fresh")["key"]
        session = requests.Session()
        session.auth = ("bot@example.com", "token")
        url = f"{lagging.url}{API}/search/jql"
        assert session.post(url, json={"jql": "labels = ai-pilot"}).json()["issues"] == []
        issue_id = int(session.get(f"{lagging.url}{API}/issue/{key}").json()["id"])
        found = session.post(url, json={"jql": "labels = ai-pilot", "reconcileIssues": [issue_id]}).json()
        assert [i["key"] for i in found["issues"]] == [key]


def test_bulk_create_reports_partial_failure_in_createdissues_shape(jira, pilot):
    good = {"fields": {"project": {"key": "PILOT"}, "summary": "Gate", "issuetype": {"name": "Task"},
                       "parent": {"key": "PILOT-1"}},
            "update": {"issuelinks": [{"add": {"type": {"name": "Blocks"}, "outwardIssue": {"key": "PILOT-2"}}}]},
            "properties": [{"key": "pilotgate.gate", "value": {"gate": "metric"}}]}
    bad = {"fields": {"project": {"key": "PILOT"}, "issuetype": {"name": "Task"}}}
    answer = jira("POST", "issue/bulk", {"issueUpdates": [good, bad]}, status=201)
    assert [e["failedElementNumber"] for e in answer["errors"]] == [1]
    assert answer["errors"][0]["elementErrors"]["errors"] == {"summary": "You must specify a summary of the issue."}
    gate = answer["issues"][0]["key"]
    links = jira("GET", "issue/PILOT-2", fields="issuelinks")["fields"]["issuelinks"]
    assert [(link["type"]["name"], link["inwardIssue"]["key"]) for link in links] == [("Blocks", gate)]
    assert jira("GET", f"issue/{gate}", properties="pilotgate.gate")["properties"] == {"pilotgate.gate": {"gate": "metric"}}


def test_bulk_create_refuses_more_than_fifty(jira, pilot):
    one = {"fields": {"project": {"key": "PILOT"}, "summary": "x", "issuetype": {"name": "Task"}}}
    jira("POST", "issue/bulk", {"issueUpdates": [one] * 51}, status=400)


def test_issue_link_request_names_the_blocker_inward_issue_and_duplicates_are_harmless(jira, pilot):
    body = {"type": {"name": "Blocks"}, "inwardIssue": {"key": "PILOT-3"}, "outwardIssue": {"key": "PILOT-4"}}
    jira("POST", "issueLink", body, status=201)
    jira("POST", "issueLink", body, status=201)
    blocked = jira("GET", "issue/PILOT-4", fields="issuelinks")["fields"]["issuelinks"]
    blocker = jira("GET", "issue/PILOT-3", fields="issuelinks")["fields"]["issuelinks"]
    assert [link["inwardIssue"]["key"] for link in blocked] == ["PILOT-3"]
    assert [link["outwardIssue"]["key"] for link in blocker] == ["PILOT-4"]


def test_comments_with_properties_are_created_listed_and_edited(jira, pilot):
    made = jira("POST", "issue/PILOT-2/comment", {"body": "Gates open", "properties": [
        {"key": "pilotgate", "value": {"rule": "work_started_early"}}]}, status=201)
    assert made["author"]["accountId"] == BOT["accountId"]
    jira("PUT", f"issue/PILOT-2/comment/{made['id']}", {"body": "Gates clear"})
    listed = jira("GET", "issue/PILOT-2/comment", expand="properties")
    assert [(c["body"], c["properties"][0]["key"]) for c in listed["comments"]] == [("Gates clear", "pilotgate")]
    by_id = jira("POST", "comment/list", {"ids": [int(made["id"])]}, expand="properties")
    assert by_id["values"][0]["properties"] == [{"key": "pilotgate", "value": {"rule": "work_started_early"}}]
    jira("PUT", f"comment/{made['id']}/properties/seen", {"ok": True}, status=201)
    assert jira("GET", f"comment/{made['id']}/properties/seen")["value"] == {"ok": True}


def test_transition_moves_status_and_category(jira, pilot):
    transitions = jira("GET", "issue/PILOT-2/transitions")["transitions"]
    start = next(t["id"] for t in transitions if t["to"]["name"] == "In Progress")
    jira("POST", "issue/PILOT-2/transitions", {"transition": {"id": start}}, status=204)
    status = jira("GET", "issue/PILOT-2", fields="status")["fields"]["status"]
    assert (status["name"], status["statusCategory"]["id"], status["statusCategory"]["key"]) == (
        "In Progress", 4, "indeterminate")


def test_edit_adds_a_label_and_missing_issue_is_404(jira, pilot):
    jira("PUT", "issue/PILOT-2", {"update": {"labels": [{"add": "pilotgate-early"}]}}, status=204)
    assert jira("GET", "issue/PILOT-2", fields="labels")["fields"]["labels"] == ["pilotgate-early"]
    assert jira("GET", "issue/PILOT-99", status=404)["errorMessages"]


def test_requests_without_credentials_are_refused(sandbox):
    assert requests.get(f"{sandbox.url}{API}/myself", timeout=10).status_code == 401


def test_jira_library_talks_to_the_sandbox(sandbox, pilot):
    from jira import JIRA

    client = JIRA(sandbox.url, basic_auth=("bot@example.com", "token"), max_retries=0)
    assert client.myself()["accountId"] == BOT["accountId"]
    found = client.enhanced_search_issues("parent = PILOT-1", maxResults=0, fields="summary")
    assert sorted(issue.key for issue in found) == pilot[1]
    routes = sandbox.client.calls()["routes"]
    assert {"GET /rest/api/2/serverInfo", "GET /rest/api/2/field"} <= set(routes)
