"""Signed webhook deliveries for the load generator: real-sized GitHub and Jira payloads, each body distinct.

GitHub bodies start from octokit's official examples in shared/upstream (read, never copied into the
repo); Jira bodies follow the `jira:issue_updated` shape in shared/upstream/JIRA-FACTS.md with the
field objects of Jira's OpenAPI description, padded with the usual fields to a realistic size.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
from pathlib import Path
from typing import Callable, Iterator


UPSTREAM = Path(os.environ.get("PILOTGATE_UPSTREAM", Path(__file__).resolve().parents[2] / "shared" / "upstream"))
GITHUB_DELIVERY = "X-GitHub-Delivery"
JIRA_DELIVERY = "X-Atlassian-Webhook-Identifier"


@functools.lru_cache(maxsize=None)
def _example_text(name: str) -> str:
    path = UPSTREAM / "github-webhooks" / name
    if not path.exists():
        raise SystemExit(f"{path} is missing: set PILOTGATE_UPSTREAM to shared/upstream to build payloads")
    return path.read_text(encoding="utf-8")


def _example(name: str, repo: str) -> dict:
    """A fresh copy of an official example, every repository reference pointed at `repo`."""
    return json.loads(_example_text(name).replace("Codertocat/Hello-World", repo))


def github_assigned(repo: str, number: int) -> tuple[str, dict]:
    """Work started: a plain (non-pilot, non-gate) issue got an assignee."""
    payload = _example("issues.assigned.json", repo)
    issue = payload["issue"]
    issue["number"] = number
    issue["id"] = 500_000_000 + number
    issue["title"] = f"Train the baseline model, part {number}"
    issue["body"] = "Collect the labelled data set and train the first model."
    issue["updated_at"] = f"2026-03-{1 + number % 28:02d}T{number % 24:02d}:{number % 60:02d}:00Z"
    return "issues", payload


def github_comment(repo: str, number: int) -> tuple[str, dict]:
    """The most common noise: someone commented on an issue."""
    payload = _example("issue_comment.created.json", repo)
    payload["issue"]["number"] = number
    payload["comment"]["id"] = 900_000_000 + number
    payload["comment"]["body"] = f"Looks good to me ({number})."
    return "issue_comment", payload


def jira_issue_updated(project: str, number: int, *, work_started: bool) -> dict:
    """A status change into In Progress (work started) or a plain field edit (ignored)."""
    status = {"self": f"https://example.atlassian.net/rest/api/2/status/{3 if work_started else 10000}",
              "description": "", "iconUrl": "https://example.atlassian.net/images/icons/statuses/inprogress.png",
              "name": "In Progress" if work_started else "To Do", "id": "3" if work_started else "10000",
              "statusCategory": {"self": "https://example.atlassian.net/rest/api/2/statuscategory/4",
                                 "id": 4 if work_started else 2,
                                 "key": "indeterminate" if work_started else "new",
                                 "colorName": "yellow" if work_started else "blue-gray",
                                 "name": "In Progress" if work_started else "To Do"}}
    user = {"self": "https://example.atlassian.net/rest/api/2/user?accountId=557058:e3611",
            "accountId": "557058:e3611", "displayName": "Emil Wong", "active": True, "timeZone": "Europe/Berlin",
            "accountType": "atlassian",
            "avatarUrls": {size: f"https://avatar.example/{size}.png" for size in ("48x48", "24x24", "16x16", "32x32")}}
    change = ({"field": "status", "fieldtype": "jira", "fieldId": "status", "from": "10000",
               "fromString": "To Do", "to": "3", "toString": "In Progress"} if work_started else
              {"field": "summary", "fieldtype": "jira", "fieldId": "summary", "from": None,
               "fromString": "Old title", "to": None, "toString": f"Train the baseline model {number}"})
    issue_id = str(20_000 + number)
    fields_ = {
        "summary": f"Train the baseline model {number}",
        "description": "Collect the labelled data set and train the first model. " * 8,
        "status": status,
        "issuetype": {"self": "https://example.atlassian.net/rest/api/2/issuetype/10001", "id": "10001",
                      "description": "A small, distinct piece of work.", "name": "Task", "subtask": False,
                      "hierarchyLevel": 0, "avatarId": 10318,
                      "iconUrl": "https://example.atlassian.net/secure/viewavatar?avatarId=10318"},
        "parent": {"id": "10000", "key": f"{project}-1", "self": "https://example.atlassian.net/rest/api/2/issue/10000",
                   "fields": {"summary": "AI pilot: invoice triage", "status": status}},
        "project": {"self": "https://example.atlassian.net/rest/api/2/project/10000", "id": "10000",
                    "key": project, "name": "AI Pilots", "projectTypeKey": "software", "simplified": False},
        "labels": ["ml", "data"],
        "assignee": user, "reporter": user, "creator": user,
        "priority": {"self": "https://example.atlassian.net/rest/api/2/priority/3", "name": "Medium", "id": "3"},
        "created": "2026-03-01T09:00:00.000+0000", "updated": "2026-03-02T10:00:00.000+0000",
        "issuelinks": [], "subtasks": [], "components": [], "fixVersions": [], "versions": [],
        "watches": {"self": "https://example.atlassian.net/rest/api/2/issue/SD/watchers", "watchCount": 1,
                    "isWatching": False},
        "votes": {"self": "https://example.atlassian.net/rest/api/2/issue/SD/votes", "votes": 0, "hasVoted": False},
    }
    fields_.update({f"customfield_{10000 + i}": None for i in range(40)})
    return {
        "timestamp": 1_767_000_000_000 + number, "webhookEvent": "jira:issue_updated",
        "issue_event_type_name": "issue_generic", "user": user,
        "issue": {"id": issue_id, "self": f"https://example.atlassian.net/rest/api/2/{issue_id}",
                  "key": f"{project}-{number}", "fields": fields_},
        "changelog": {"id": str(30_000 + number), "items": [change]},
    }


def jira_comment(project: str, number: int) -> dict:
    base = jira_issue_updated(project, number, work_started=False)
    return {"timestamp": base["timestamp"], "webhookEvent": "comment_created", "issue": base["issue"],
            "comment": {"id": str(40_000 + number), "body": f"Looks good to me ({number}).",
                        "author": base["user"], "created": "2026-03-02T10:00:00.000+0000"}}


def sign_sha256(secret: str, body: bytes) -> str:
    """The `sha256=<hex>` value of X-Hub-Signature(-256): HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


Builder = Callable[[int], tuple[str, dict]]


def scenarios(repo: str, project: str) -> dict[str, tuple[str, str, Builder]]:
    """Scenario name -> (path, delivery header, builder of (event name, payload) for a number)."""
    return {
        "github-relevant": ("/webhooks/github", GITHUB_DELIVERY, lambda n: github_assigned(repo, 100 + n)),
        "github-ignored": ("/webhooks/github", GITHUB_DELIVERY, lambda n: github_comment(repo, 100 + n)),
        "jira-relevant": ("/webhooks/jira", JIRA_DELIVERY,
                          lambda n: ("", jira_issue_updated(project, 100 + n, work_started=True))),
        "jira-ignored": ("/webhooks/jira", JIRA_DELIVERY, lambda n: ("", jira_comment(project, 100 + n))),
    }


def signed_requests(path: str, build: Builder, secret: str, count: int) -> Iterator[tuple[str, dict, bytes]]:
    for number in range(count):
        event, payload = build(number)
        body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json", "User-Agent": "pilotgate-bench"}
        if path.endswith("github"):
            headers.update({"X-GitHub-Event": event, "X-Hub-Signature-256": sign_sha256(secret, body)})
        else:
            headers["X-Hub-Signature"] = sign_sha256(secret, body)
        yield path, headers, body


def write_pool(file: Path, requests: Iterator[tuple[str, dict, bytes]]) -> int:
    """The three-line records wrk_webhooks.lua reads: path, tab-joined headers, body."""
    count = 0
    with open(file, "wb") as out:
        for path, headers, body in requests:
            if b"\n" in body:
                raise ValueError("bodies must be one line for the wrk pool")
            out.write(path.encode() + b"\n")
            out.write("\t".join(f"{k}: {v}" for k, v in headers.items()).encode() + b"\n")
            out.write(body + b"\n")
            count += 1
    return count
