"""The sandbox's GitHub REST: documented response shapes, GitHub's rules for sub-issues and dependencies, paging."""

from __future__ import annotations

import pytest
import requests

from connectors.sandbox import Sandbox
from tests.sandbox_support import github_response_errors

REPO = "example-org/ml-pilots"


@pytest.fixture
def sandbox():
    with Sandbox.start(schema="trimmed") as running:
        yield running


@pytest.fixture
def github(sandbox):
    session = requests.Session()
    session.headers["Authorization"] = "token t"

    def call(method: str, path: str, body=None, status: int = 200, **params):
        answer = session.request(method, f"{sandbox.url}{path}", json=body, params=params or None, timeout=10)
        assert answer.status_code == status, answer.text
        assert answer.headers["x-ratelimit-resource"] in ("core", "search")
        if status < 300:
            assert github_response_errors(method, answer.url, status, answer.json()) == []
        return answer

    return call


@pytest.fixture
def issues(sandbox):
    client = sandbox.client
    return [client.github_issue(REPO, f"Issue {n}", labels=["ai-pilot"] if n == 0 else []) for n in range(3)]


def test_issue_lifecycle_answers_match_githubs_openapi(github, issues):
    made = github("POST", f"/repos/{REPO}/issues", {"title": "Gate", "body": "b", "labels": ["pilotgate-gate"]},
                  status=201).json()
    number = made["number"]
    github("GET", f"/repos/{REPO}")
    github("GET", f"/repos/{REPO}/issues/{number}")
    github("PATCH", f"/repos/{REPO}/issues/{number}", {"state": "closed"})
    github("POST", f"/repos/{REPO}/issues/{number}/labels", {"labels": ["late"]})
    comment = github("POST", f"/repos/{REPO}/issues/{number}/comments", {"body": "hi"}, status=201).json()
    github("PATCH", f"/repos/{REPO}/issues/comments/{comment['id']}", {"body": "edited"})
    github("GET", f"/repos/{REPO}/issues/comments/{comment['id']}")
    github("GET", f"/repos/{REPO}/issues/{number}/comments")
    github("POST", f"/repos/{REPO}/statuses/{'a' * 40}", {"state": "failure", "context": "pilotgate/gates"}, status=201)
    github("GET", "/search/issues", q=f"repo:{REPO} is:issue label:ai-pilot")
    assert github("GET", "/user").json()["login"] == "pilotgate-bot"


def test_sub_issues_use_database_ids_and_are_removed_by_the_singular_path(github, issues):
    epic, child = issues[0], issues[1]
    github("POST", f"/repos/{REPO}/issues/{epic['number']}/sub_issues", {"sub_issue_id": child["number"]},
           status=422)
    github("POST", f"/repos/{REPO}/issues/{epic['number']}/sub_issues", {"sub_issue_id": child["id"]}, status=201)
    listed = github("GET", f"/repos/{REPO}/issues/{epic['number']}/sub_issues").json()
    assert [i["number"] for i in listed] == [child["number"]]
    assert github("GET", f"/repos/{REPO}/issues/{child['number']}").json()["parent_issue_url"].endswith(
        f"/issues/{epic['number']}")
    github("POST", f"/repos/{REPO}/issues/{issues[2]['number']}/sub_issues", {"sub_issue_id": child["id"]},
           status=422)  # one parent only unless replace_parent
    github("DELETE", f"/repos/{REPO}/issues/{epic['number']}/sub_issues", {"sub_issue_id": child["id"]},
           status=405)
    github("DELETE", f"/repos/{REPO}/issues/{epic['number']}/sub_issue", {"sub_issue_id": child["id"]})
    assert github("GET", f"/repos/{REPO}/issues/{epic['number']}").json()["sub_issues_summary"]["total"] == 0


def test_blocked_by_counts_open_blockers_and_totals_all(github, issues):
    blocked, blocker = issues[1], issues[2]
    github("POST", f"/repos/{REPO}/issues/{blocked['number']}/dependencies/blocked_by", {"issue_id": blocker["id"]},
           status=201)
    github("POST", f"/repos/{REPO}/issues/{blocked['number']}/dependencies/blocked_by", {"issue_id": blocker["id"]},
           status=422)
    assert [i["id"] for i in github("GET", f"/repos/{REPO}/issues/{blocked['number']}/dependencies/blocked_by")
            .json()] == [blocker["id"]]
    github("PATCH", f"/repos/{REPO}/issues/{blocker['number']}", {"state": "closed"})
    summary = github("GET", f"/repos/{REPO}/issues/{blocked['number']}").json()["issue_dependencies_summary"]
    assert (summary["blocked_by"], summary["total_blocked_by"]) == (0, 1)
    github("DELETE", f"/repos/{REPO}/issues/{blocked['number']}/dependencies/blocked_by/{blocker['id']}")
    assert github("GET", f"/repos/{REPO}/issues/{blocker['number']}/dependencies/blocking").json() == []


def test_lists_page_with_link_headers(github, sandbox):
    for n in range(5):
        sandbox.client.github_issue(REPO, f"Issue {n}")
    first = github("GET", f"/repos/{REPO}/issues", per_page=2)
    assert len(first.json()) == 2 and 'rel="next"' in first.headers["Link"] and 'rel="last"' in first.headers["Link"]
    last = github("GET", f"/repos/{REPO}/issues", per_page=2, page=3)
    assert len(last.json()) == 1 and 'rel="next"' not in last.headers["Link"]


def test_unknown_repository_and_missing_token_are_refused(github, sandbox):
    assert github("GET", "/repos/nobody/nothing/issues/1", status=404).json()["message"] == "Not Found"
    assert requests.get(f"{sandbox.url}/repos/{REPO}", timeout=10).status_code == 401


def test_search_qualifiers_it_does_not_know_are_refused(github, issues):
    github("GET", "/search/issues", q="repo:example-org/ml-pilots involves:alice", status=422)


def test_pygithub_reads_issues_and_sub_issues_from_the_sandbox(sandbox, issues):
    from github import Auth, Github

    sandbox.client.github_issue(REPO, "Child", parent=issues[0]["number"])
    client = Github(auth=Auth.Token("t"), base_url=sandbox.url, retry=None)
    epic = client.get_repo(REPO).get_issue(issues[0]["number"])
    assert [label.name for label in epic.labels] == ["ai-pilot"]
    assert [sub.title for sub in epic.get_sub_issues()] == ["Child"]
