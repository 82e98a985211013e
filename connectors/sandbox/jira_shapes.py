"""Jira REST v2 JSON shapes (IssueBean, Comment, User, IssueLink...) rendered from the sandbox's records."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, Iterable

from connectors.sandbox.jira_store import CATEGORIES, ISSUE_TYPES, LINK_TYPES, STATUSES, USERS, JiraStore

ALL_FIELDS = ("summary", "description", "issuetype", "status", "statuscategorychangedate", "labels", "parent",
              "assignee", "reporter", "creator", "duedate", "created", "updated", "project", "issuelinks",
              "comment", "subtasks")
SEARCH_COMMENT_LIMIT = 20  # search returns at most 20 comments per issue (JIRA-FACTS)


# Rendered shapes of fixed things (users, statuses, types) and timestamps are cached: a chaos run renders
# the same few thousand of them over and over, and the sandbox shares two cores with the service it
# tests. Nothing mutates a rendered shape; each answer is encoded as it is.
@functools.lru_cache(maxsize=65536)
def jira_time(iso: str | None) -> str | None:
    """Jira's timestamp format: 2024-05-01T10:00:00.000+0000."""
    if not iso:
        return None
    stamp = datetime.fromisoformat(iso)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}" + stamp.strftime("%z")


class JiraShapes:
    """Renders records for one base URL (the sandbox's own address, as Jira puts its own in `self`)."""

    def __init__(self, jira: JiraStore, base: str) -> None:
        self.jira = jira
        self.api = base.rstrip("/") + "/rest/api/2"

    def user(self, account_id: str | None) -> dict[str, Any] | None:
        return None if account_id is None else _user(self.api, account_id)

    def status(self, name: str) -> dict[str, Any]:
        return _status(self.api, name)

    def category(self, key: str) -> dict[str, Any]:
        return _category(self.api, key)

    def issue_type(self, name: str) -> dict[str, Any]:
        return _issue_type(self.api, name)

    def link_type(self, link_type: dict[str, str]) -> dict[str, Any]:
        return {**link_type, "self": f"{self.api}/issueLinkType/{link_type['id']}"}

    def issue_ref(self, key: str) -> dict[str, Any]:
        """The short form Jira nests for parents and linked issues."""
        issue = self.jira.issue(key)
        return {"id": issue["id"], "key": key, "self": f"{self.api}/issue/{issue['id']}",
                "fields": {"summary": issue["summary"], "status": self.status(issue["status"]),
                           "issuetype": self.issue_type(issue["issuetype"])}}

    def link(self, link: dict[str, Any], seen_from: str) -> dict[str, Any]:
        link_type = next(t for t in LINK_TYPES if t["id"] == link["type"])
        # On the outward (source) side the other issue is the outwardIssue: "source blocks other".
        side, other = ("outwardIssue", link["inward"]) if seen_from == link["outward"] else \
            ("inwardIssue", link["outward"])
        return {"id": link["id"], "self": f"{self.api}/issueLink/{link['id']}", "type": self.link_type(link_type),
                side: self.issue_ref(other)}

    def comment(self, comment: dict[str, Any], with_properties: bool = False) -> dict[str, Any]:
        issue = self.jira.issue(comment["issue"])
        shaped = {"self": f"{self.api}/issue/{issue['id']}/comment/{comment['id']}", "id": comment["id"],
                  "author": self.user(comment["author"]), "body": comment["body"],
                  "updateAuthor": self.user(comment["updateAuthor"]), "created": jira_time(comment["created"]),
                  "updated": jira_time(comment["updated"]), "jsdPublic": True}
        if with_properties:
            shaped["properties"] = [{"key": k, "value": v} for k, v in comment["properties"].items()]
        return shaped

    def comment_page(self, key: str, start: int, limit: int) -> dict[str, Any]:
        comments = self.jira.comments_of(key)
        return {"comments": [self.comment(c) for c in comments[start:start + limit]],
                "self": f"{self.api}/issue/{self.jira.issue(key)['id']}/comment",
                "maxResults": limit, "total": len(comments), "startAt": start}

    def field(self, issue: dict[str, Any], name: str, comment_limit: int) -> Any:
        if name in ("summary", "description", "labels", "duedate"):
            return issue[name]
        if name in ("created", "updated", "statuscategorychangedate"):
            return jira_time(issue[name])
        if name in ("assignee", "reporter", "creator"):
            return self.user(issue["reporter" if name == "creator" else name])
        if name == "issuetype":
            return self.issue_type(issue["issuetype"])
        if name == "status":
            return self.status(issue["status"])
        if name == "parent":
            return self.issue_ref(issue["parent"]) if issue["parent"] else None
        if name == "project":
            return {"self": f"{self.api}/project/{issue['project']}", "key": issue["project"],
                    "id": str(10000 + sum(map(ord, issue["project"]))), "name": issue["project"],
                    "projectTypeKey": "software", "simplified": False}
        if name == "issuelinks":
            return [self.link(link, issue["key"]) for link in self.jira.links_of(issue["key"])]
        if name == "comment":
            return self.comment_page(issue["key"], 0, comment_limit)
        if name == "subtasks":
            return []
        return issue["custom"].get(name)

    def issue(self, issue: dict[str, Any], fields: Iterable[str] | None = None,
              properties: Iterable[str] = (), comment_limit: int = 5000) -> dict[str, Any]:
        """An IssueBean: `fields` is the request's list (None = all, as GET issue does)."""
        bean: dict[str, Any] = {"expand": "", "id": issue["id"], "self": f"{self.api}/issue/{issue['id']}",
                                "key": issue["key"]}
        wanted = select_fields(fields, issue)
        if wanted:
            bean["fields"] = {name: self.field(issue, name, comment_limit) for name in wanted}
        props = {k: issue["properties"][k] for k in properties if k in issue["properties"]}
        if props:
            bean["properties"] = props
        return bean


@functools.lru_cache(maxsize=1024)
def _user(api: str, account_id: str) -> dict[str, Any]:
    known = USERS.get(account_id, {"accountId": account_id, "displayName": account_id, "accountType": "atlassian"})
    avatar = f"{api}/universal_avatar/view/type/user/avatar/{account_id}"
    return {"self": f"{api}/user?accountId={account_id}", **known, "active": True, "timeZone": "UTC",
            "avatarUrls": {size: f"{avatar}?size={size}" for size in ("16x16", "24x24", "32x32", "48x48")}}


@functools.lru_cache(maxsize=256)
def _status(api: str, name: str) -> dict[str, Any]:
    status_id, category = STATUSES[name]
    return {"self": f"{api}/status/{status_id}", "description": "", "iconUrl": "", "name": name,
            "id": status_id, "statusCategory": _category(api, category)}


@functools.lru_cache(maxsize=256)
def _category(api: str, key: str) -> dict[str, Any]:
    return {"self": f"{api}/statuscategory/{CATEGORIES[key]['id']}", **CATEGORIES[key]}


@functools.lru_cache(maxsize=256)
def _issue_type(api: str, name: str) -> dict[str, Any]:
    type_id = ISSUE_TYPES[name]
    return {"self": f"{api}/issuetype/{type_id}", "id": type_id, "description": "", "iconUrl": "",
            "name": name, "subtask": name == "Subtask", "hierarchyLevel": 1 if name == "Epic" else 0}


def select_fields(requested: Iterable[str] | None, issue: dict[str, Any]) -> list[str]:
    """Jira's `fields` rules: *all, *navigable, names, -name to exclude; `id` alone means none."""
    every = list(ALL_FIELDS) + sorted(issue["custom"])
    if requested is None:
        return every
    names = [n.strip() for part in requested for n in str(part).split(",") if n.strip()]
    chosen: list[str] = []
    for name in names:
        if name in ("*all", "*navigable"):
            chosen.extend(f for f in every if f not in chosen and (name == "*all" or f != "comment"))
        elif not name.startswith("-") and name in every and name not in chosen:
            chosen.append(name)
    excluded = {n[1:] for n in names if n.startswith("-")}
    return [name for name in chosen if name not in excluded]
