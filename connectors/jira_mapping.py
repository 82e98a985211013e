"""Raw Jira issues (REST v2 JSON) to Tickets, and the markers Pilot Gate stamps on what it creates."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Iterable, Mapping

from connectors.base import PermanentError
from plugin.model import StatusCategory, Ticket, Tracker

# Issue property stamped on each gate ticket in its create payload: survives edits of title and labels.
GATE_PROPERTY = "pilotgate.gate"
# Comment property on the bot's comment: an invisible marker (comment properties never render).
COMMENT_PROPERTY = "pilotgate"
GATE_LABEL_PREFIX = "pilotgate-gate-"

CHILD_FIELDS = (
    "summary", "status", "assignee", "labels", "issuelinks", "duedate", "created",
    "statuscategorychangedate", "description", "issuetype", "parent", "comment",
)
EPIC_FIELDS = CHILD_FIELDS + ("project",)

_CATEGORIES = {
    "new": StatusCategory.NEW,
    "indeterminate": StatusCategory.IN_PROGRESS,
    "done": StatusCategory.DONE,
}
_ISSUE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*-[0-9]+$")
_LABEL_UNSAFE = re.compile(r"\s+")


def checked_key(key: str) -> str:
    """An issue key safe to put into JQL unquoted; anything else is refused, never interpolated."""
    if not isinstance(key, str) or not _ISSUE_KEY.match(key):
        raise PermanentError(f"{key!r} is not a Jira issue key (expected PROJECT-123)")
    return key.upper()


def checked_ref(ref: str) -> str:
    """An issue key or a numeric issue id (what issuelink webhooks carry)."""
    if isinstance(ref, str) and ref.isdigit():
        return ref
    return checked_key(ref)


def gate_label(gate: str) -> str:
    """The label that lets JQL find a gate ticket (`labels = pilotgate-gate-success-metric`)."""
    return GATE_LABEL_PREFIX + safe_label(gate)


def safe_label(label: str) -> str:
    """Jira refuses labels containing spaces."""
    return _LABEL_UNSAFE.sub("-", label.strip())


def gate_of(raw: Mapping[str, Any]) -> str | None:
    """The gate key of a gate ticket: the issue property first, the label when the property is gone."""
    marker = (raw.get("properties") or {}).get(GATE_PROPERTY)
    if isinstance(marker, Mapping) and marker.get("gate"):
        return str(marker["gate"])
    for label in (raw.get("fields") or {}).get("labels") or []:
        if label.startswith(GATE_LABEL_PREFIX) and len(label) > len(GATE_LABEL_PREFIX):
            return label[len(GATE_LABEL_PREFIX):]
    return None


def to_ticket(raw: Mapping[str, Any], site: str, link_type: str) -> Ticket:
    """One issue from GET issue or search/jql (fields as in CHILD_FIELDS) as a Ticket."""
    fields = raw.get("fields") or {}
    status = fields.get("status") or {}
    return Ticket(
        tracker=Tracker.JIRA,
        key=raw["key"],
        title=fields.get("summary") or "",
        url=f"{site.rstrip('/')}/browse/{raw['key']}",
        status=status.get("name") or "",
        category=_CATEGORIES.get((status.get("statusCategory") or {}).get("key"), StatusCategory.NEW),
        assignee=_person(fields.get("assignee")),
        labels=frozenset(fields.get("labels") or ()),
        issue_type=(fields.get("issuetype") or {}).get("name"),
        gate=gate_of(raw),
        parent=(fields.get("parent") or {}).get("key"),
        created=_timestamp(fields.get("created")),
        status_changed=_timestamp(fields.get("statuscategorychangedate")),
        due=date.fromisoformat(fields["duedate"]) if fields.get("duedate") else None,
        body=fields.get("description") if isinstance(fields.get("description"), str) else "",
        blocked_by=blockers(fields.get("issuelinks") or (), link_type),
        ref=str(raw.get("id", "")),
    )


def blockers(issuelinks: Iterable[Mapping[str, Any]], link_type: str) -> frozenset[str]:
    """Keys of the issues that block this one.

    Seen from an issue, a link lists the *other* issue: `inwardIssue` Y under type Blocks
    (inward "is blocked by") reads "this issue is blocked by Y"; `outwardIssue` Y reads "this blocks Y".
    """
    return frozenset(
        link["inwardIssue"]["key"]
        for link in issuelinks
        if (link.get("type") or {}).get("name") == link_type and (link.get("inwardIssue") or {}).get("key")
    )


def comment_page(fields: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], bool]:
    """The comments a search returned for an issue, and whether that is all of them (search caps at 20)."""
    value = fields.get("comment")
    if isinstance(value, list):  # the shape in the OpenAPI example
        return list(value), True
    if not isinstance(value, Mapping):
        return [], True
    comments = list(value.get("comments") or [])
    total = value.get("total")
    return comments, total is None or total <= len(comments)


def author_of(comment: Mapping[str, Any]) -> str | None:
    author = comment.get("author") or {}
    return author.get("accountId") or author.get("name")


def comment_text(body: Any) -> str:
    """Comment text as compared with what the engine wants: line endings and outer blanks normalized."""
    return body.replace("\r\n", "\n").strip() if isinstance(body, str) else ""


def _person(user: Mapping[str, Any] | None) -> str | None:
    if not user:
        return None
    return user.get("displayName") or user.get("accountId") or user.get("name")


def _timestamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
