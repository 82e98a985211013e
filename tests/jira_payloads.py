"""Jira REST v2 answers for tests, shaped after Atlassian's OpenAPI (IssueBean, SearchAndReconcileResults,
CreatedIssues, PageOfComments), and a reader of what the connector sent, checked against the same description."""

from __future__ import annotations

import json
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlsplit

import responses

from connectors.base import DictMemory
from connectors.jira import JiraConnector
from plugin.config import JiraConfig
from tests.openapi_jira import assert_valid_request, assert_valid_response
from tests.upstream import upstream_dir

SITE = "https://example.atlassian.net"
API = SITE + "/rest/api/2/"
BOT = "5b10a2844c20165700ede21g"  # the bot's accountId
HUMAN = "557058:e3613a34-7c02-4a86-b95b-1c8e6a2b1d7f"
PILOTS = "issuetype = Epic AND labels = ai-pilot"
CREATED = "2026-01-05T09:00:00.000+0000"
BLOCKS = {"id": "10000", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"}
CATEGORIES = {"new": ("To Do", 2), "indeterminate": ("In Progress", 4), "done": ("Done", 3)}


def jira_config(**changes: Any) -> JiraConfig:
    values = dict(url=SITE, email="pilotgate@example.com", token="secret-api-token", webhook_secret="hook",
                  pilots=PILOTS, template="ai-pilot", bot_account=BOT)
    values.update(changes)
    return JiraConfig(**values)


def connector(memory: DictMemory | None = None, **changes: Any) -> tuple[JiraConnector, DictMemory, list]:
    """A connector on a plain session (responses intercepts it) whose sleeps are recorded, not slept."""
    memory = memory if memory is not None else DictMemory()
    sleeps: list[float] = []
    return JiraConnector(jira_config(**changes), memory, sleep=sleeps.append), memory, sleeps


def issue(
    key: str,
    id: str,
    *,
    summary: str = "",
    category: str = "new",
    issuetype: str = "Task",
    parent: str | None = None,
    labels: Iterable[str] = (),
    blocked_by: Iterable[str] = (),
    gate: str | None = None,
    comments: Iterable[dict] = (),
    comment_total: int | None = None,
    created: str = CREATED,
    properties: dict | None = None,
) -> dict:
    """An IssueBean as search/jql or GET issue return it with the fields the connector asks for."""
    name, category_id = CATEGORIES[category]
    comments = list(comments)
    fields: dict[str, Any] = {
        "summary": summary or f"Work {key}",
        "status": {"name": name, "id": str(category_id), "statusCategory": {"id": category_id, "key": category}},
        "assignee": None,
        "labels": list(labels) + ([f"pilotgate-gate-{gate}"] if gate else []),
        "issuelinks": [
            {"id": f"2{n}", "type": BLOCKS, "inwardIssue": {"id": f"9{n}", "key": blocker}}
            for n, blocker in enumerate(blocked_by)
        ],
        "duedate": None,
        "created": created,
        "statuscategorychangedate": created,
        "description": f"About {key}",
        "issuetype": {"name": issuetype, "hierarchyLevel": 1 if issuetype == "Epic" else 0},
        "comment": {"comments": comments, "maxResults": 20, "startAt": 0,
                    "total": len(comments) if comment_total is None else comment_total},
        "project": {"key": key.split("-")[0], "id": "10000"},
    }
    if parent:
        fields["parent"] = {"id": "1" + parent.split("-")[1], "key": parent}
    props = dict(properties or {})
    if gate:
        props["pilotgate.gate"] = {"gate": gate, "epic": parent}
    raw = {"id": id, "key": key, "self": f"{API}issue/{id}", "fields": fields}
    if props:
        raw["properties"] = props
    return raw


def epic(key: str = "PG-1", id: str = "10001", **kwargs: Any) -> dict:
    kwargs.setdefault("labels", ["ai-pilot"])
    return issue(key, id, issuetype="Epic", summary=f"Pilot {key}", **kwargs)


def comment(id: str, body: str, author: str = BOT, properties: list | None = None) -> dict:
    found = {"id": id, "self": f"{API}issue/10001/comment/{id}", "body": body,
             "author": {"accountId": author, "displayName": "someone"}, "created": CREATED}
    if properties is not None:
        found["properties"] = properties
    return found


def page(issues: Iterable[dict], token: str | None = None) -> dict:
    answer: dict[str, Any] = {"issues": list(issues), "isLast": token is None}
    if token:
        answer["nextPageToken"] = token
    return answer


def add(method: str, path: str, body: Any = None, status: int = 200, **kwargs: Any) -> None:
    """Register one answer; answers to the same URL are given in the order registered."""
    url = API + path
    if upstream_dir() is not None and body is not None and status < 500:
        assert_valid_response(method, url, status, body)
    if body is None:
        responses.add(method, url, status=status, **kwargs)
    else:
        responses.add(method, url, json=body, status=status, **kwargs)


def sent(check: bool = True) -> list[tuple[str, str, Any]]:
    """Every request made: (method, path under /rest/api/2/, JSON body or, for GET, the query).

    Each body is validated against Jira's OpenAPI description where shared/upstream is present.
    """
    requests_made = []
    for call in responses.calls:
        request = call.request
        parts = urlsplit(request.url)
        path = parts.path.split("/rest/api/2/", 1)[1]
        if request.method == "GET":
            requests_made.append((request.method, path, dict(parse_qsl(parts.query))))
            continue
        body = json.loads(request.body) if request.body else None
        if check and upstream_dir() is not None:
            assert_valid_request(request.method, request.url, body)
        query = dict(parse_qsl(parts.query))
        requests_made.append((request.method, path + (f"?{parts.query}" if query else ""), body))
    return requests_made


CHILD_FIELDS = ["summary", "status", "assignee", "labels", "issuelinks", "duedate", "created",
                "statuscategorychangedate", "description", "issuetype", "parent", "comment"]
EPIC_FIELDS = ",".join(CHILD_FIELDS + ["project"])


def children_search(keys: Iterable[str], reconcile: Iterable[int] = (), token: str | None = None) -> dict:
    """The body the connector must send to read epics' children."""
    body: dict[str, Any] = {
        "jql": f"parent in ({', '.join(keys)}) ORDER BY created ASC",
        "fields": CHILD_FIELDS,
        "maxResults": 100,
        "properties": ["pilotgate.gate"],
    }
    if reconcile:
        body["reconcileIssues"] = sorted(reconcile)
    if token:
        body["nextPageToken"] = token
    return body


def epic_get() -> dict:
    return {"fields": EPIC_FIELDS}


def ticket_get() -> dict:
    """The query of epic_of's GET: the ticket as a child of its epic would be read."""
    return {"fields": EPIC_FIELDS, "properties": "pilotgate.gate"}


def epic_of_search(candidates: Iterable[str], reconcile: Iterable[int], pilots: str, *, work: bool = False) -> dict:
    """The body of epic_of's one search: the pilots among the ticket and its parent, and the children of
    the ticket or, for `work` (a ticket below epics), of its parent, the ticket left out."""
    keys = list(candidates)
    children = f"(parent = {keys[1]} AND key != {keys[0]})" if work else f"parent = {keys[0]}"
    return {
        "jql": f"(({pilots}) AND key in ({', '.join(keys)})) OR {children} ORDER BY created ASC",
        "fields": EPIC_FIELDS.split(","),
        "maxResults": 100,
        "properties": ["pilotgate.gate"],
        "reconcileIssues": sorted(reconcile),
    }


def epic_search(key: str, reconcile: Iterable[int]) -> dict:
    """The body of a one-search snapshot of an epic whose id is known."""
    return {
        "jql": f"key = {key} OR parent = {key} ORDER BY created ASC",
        "fields": EPIC_FIELDS.split(","),
        "maxResults": 100,
        "properties": ["pilotgate.gate"],
        "reconcileIssues": sorted(reconcile),
    }
