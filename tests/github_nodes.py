"""GraphQL answers shaped like the PilotIssue/PilotEpic fragments, and a clock that sleeps instantly."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from graphql import FragmentDefinitionNode, parse

from connectors.base import DictMemory
from connectors.github import GitHubConnector
from connectors.github_graphql import SEARCH_EPICS
from plugin.config import GitHubConfig
from tests.openapi_github import check_calls
from tests.upstream import upstream_dir

REPO = "example-org/ml-pilots"


def issue_node(number: int, title: str = "", *, repo: str = REPO, state: str = "OPEN", body: str = "",
               labels: tuple[str, ...] = (), assignees: tuple[str, ...] = (), status: str | None = None,
               issue_type: str | None = None, blocked_by: tuple[str, ...] = (), blocking: int = 0,
               comments: tuple[dict, ...] = (), created: str = "2026-01-05T09:00:00Z") -> dict[str, Any]:
    """One issue as the PilotIssue fragment selects it; `blocked_by` holds keys like `o/r#3`."""
    blockers = [{"number": int(k.split("#")[1]), "repository": {"nameWithOwner": k.split("#")[0]}} for k in blocked_by]
    status_value = {"name": status, "updatedAt": "2026-01-06T08:00:00Z"} if status else None
    return {
        "id": f"I_kwDO{number:04d}",
        "databaseId": 9000 + number,
        "number": number,
        "title": title or f"Issue {number}",
        "body": body,
        "url": f"https://github.com/{repo}/issues/{number}",
        "state": state,
        "createdAt": created,
        "closedAt": "2026-01-07T12:00:00Z" if state == "CLOSED" else None,
        "repository": {"nameWithOwner": repo},
        "labels": {"nodes": [{"name": label} for label in labels]},
        "assignees": {"nodes": [{"login": login} for login in assignees]},
        "issueType": {"name": issue_type} if issue_type else None,
        "projectItems": {"nodes": [{"fieldValueByName": status_value}] if status else []},
        "blockedBy": {"nodes": blockers},
        "issueDependenciesSummary": {"totalBlockedBy": len(blockers), "totalBlocking": blocking},
        "comments": {"nodes": list(comments)},
    }


def epic_node(number: int, children: tuple[dict, ...] = (), *, total: int | None = None, **fields) -> dict:
    fields.setdefault("labels", ("ai-pilot",))
    node = issue_node(number, fields.pop("title", f"Pilot {number}"), **fields)
    node["subIssues"] = {"totalCount": len(children) if total is None else total, "nodes": list(children)}
    return node


def comment(database_id: int, body: str, *, ours: bool = True) -> dict:
    return {"databaseId": database_id, "body": body, "viewerDidAuthor": ours}


def fragment_fields(name: str) -> set[str]:
    """Response keys the named fragment of the epic query selects (spreads of other fragments excluded)."""
    for definition in parse(SEARCH_EPICS).definitions:
        if isinstance(definition, FragmentDefinitionNode) and definition.name.value == name:
            return {s.name.value for s in definition.selection_set.selections if hasattr(s, "name")
                    and s.kind == "field"}
    raise KeyError(name)


class FakeClock:
    """`clock` and `sleep` for the connector: sleeping advances time at once and is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += seconds


API = "https://api.github.com"
GRAPHQL = f"{API}/graphql"


def github_config(**overrides: Any) -> GitHubConfig:
    values: dict[str, Any] = dict(repositories=(REPO,), webhook_secret="hook-secret", template="ai-pilot",
                                  token="ghp_test_token")
    values.update(overrides)
    return GitHubConfig(**values)


def make_connector(memory: DictMemory | None = None, clock: FakeClock | None = None, **overrides: Any):
    clock = clock or FakeClock()
    return GitHubConnector(github_config(**overrides), memory if memory is not None else DictMemory(),
                           sleep=clock.sleep, clock=clock)


@pytest.fixture
def gh():
    """Fakes GitHub; at the end every request the connector sent is checked against GitHub's descriptions."""
    # Without shared/upstream, tests that need GitHub's example answers skip half-way through: their
    # registered answers then stay unused, which is no failure.
    with responses.RequestsMock(assert_all_requests_are_fired=upstream_dir() is not None) as mock:
        yield mock
        check_calls(mock.calls)


def sent(mock: responses.RequestsMock) -> list[tuple[str, str, Any]]:
    return check_calls(mock.calls)


def graphql_answer(mock: responses.RequestsMock, data: dict, **kwargs: Any) -> None:
    mock.post(GRAPHQL, json={"data": data}, **kwargs)
