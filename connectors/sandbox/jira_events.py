"""Jira webhook payloads (jira:issue_created/updated with changelog, comment_*, issuelink_created/deleted)."""

from __future__ import annotations

import time
from typing import Any

from connectors.sandbox.jira_shapes import JiraShapes
from connectors.sandbox.jira_store import LINK_TYPES

# issue_event_type_name per kind of change, as Jira Cloud sends it (JIRA-FACTS: issue_generic for transitions).
_EVENT_TYPES = {"status": "issue_generic", "assignee": "issue_assigned"}


def jira_payload(shapes: JiraShapes, name: str, facts: dict[str, Any], changelog_id: int) -> dict[str, Any]:
    """The body Jira posts for one event; `facts` as the store emitted them."""
    base = {"timestamp": int(time.time() * 1000), "webhookEvent": name}
    if name in ("issuelink_created", "issuelink_deleted"):
        return {**base, "issueLink": _link(shapes, facts.get("removed") or shapes.jira.data["links"][facts["link"]])}
    issue = shapes.jira.issue(facts["key"])
    base["user"] = shapes.user(facts["actor"])
    if name in ("comment_created", "comment_updated"):
        comment = shapes.jira.comment(issue["key"], facts["comment"])
        return {**base, "comment": shapes.comment(comment), "issue": _issue_summary(shapes, issue)}
    bean = shapes.issue(issue, None)
    bean["fields"].pop("comment", None)  # webhooks carry no comment page
    payload = {**base, "issue": bean}
    if name == "jira:issue_created":
        payload["issue_event_type_name"] = "issue_created"
        return payload
    items = facts["changelog"]
    payload["issue_event_type_name"] = next((_EVENT_TYPES[i["fieldId"]] for i in items if i["fieldId"] in
                                             _EVENT_TYPES), "issue_updated")
    payload["changelog"] = {"id": str(changelog_id), "items": items}
    return payload


def _issue_summary(shapes: JiraShapes, issue: dict[str, Any]) -> dict[str, Any]:
    return {"id": issue["id"], "key": issue["key"], "self": f"{shapes.api}/issue/{issue['id']}",
            "fields": {"summary": issue["summary"], "status": shapes.status(issue["status"]),
                       "issuetype": shapes.issue_type(issue["issuetype"]),
                       "parent": shapes.issue_ref(issue["parent"]) if issue["parent"] else None}}


def _link(shapes: JiraShapes, link: dict[str, Any]) -> dict[str, Any]:
    """Numeric ids only, no keys: receivers must resolve them with a GET (JIRA-FACTS)."""
    link_type = next(t for t in LINK_TYPES if t["id"] == link["type"])
    return {"id": int(link["id"]), "sourceIssueId": int(shapes.jira.issue(link["outward"])["id"]),
            "destinationIssueId": int(shapes.jira.issue(link["inward"])["id"]),
            "issueLinkType": {"id": int(link_type["id"]), "name": link_type["name"],
                              "outwardName": link_type["outward"], "inwardName": link_type["inward"],
                              "isSubTaskLinkType": False, "isSystemLinkType": False},
            "systemLink": False}
