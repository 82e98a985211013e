"""GitHub webhook deliveries, validated with marshmallow and normalized to Pilot Gate's Event (pure, no I/O)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Callable, Mapping, Sequence

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from connectors.github_markers import issue_key, read_gate_marker
from connectors.webhooks import Ignored, PayloadError
from plugin.model import Event, EventKind, Tracker

# GitHub's closing keywords: "Fixes #12", "closes: owner/repo#12", "resolves https://github.com/o/r/issues/12".
_CLOSES = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?\s+"
    r"(?:(?P<repo>[\w.-]+/[\w.-]+)#|#|https?://[^\s/]+/(?P<url_repo>[\w.-]+/[\w.-]+)/issues/)(?P<number>\d+)\b",
    re.IGNORECASE,
)


class _Loose(Schema):
    """GitHub adds fields often: anything not read here is dropped, never an error."""

    class Meta:
        unknown = EXCLUDE


class UserSchema(_Loose):
    login = fields.String(required=True)
    type = fields.String(load_default="User")


class LabelSchema(_Loose):
    name = fields.String(required=True)


class RepositorySchema(_Loose):
    full_name = fields.String(required=True)


class IssueSchema(_Loose):
    number = fields.Integer(required=True)
    repository_url = fields.String(required=True)
    body = fields.String(allow_none=True, load_default=None)
    labels = fields.List(fields.Nested(LabelSchema), load_default=list)
    updated_at = fields.String(allow_none=True, load_default=None)


class IssuesEventSchema(_Loose):
    action = fields.String(required=True)
    issue = fields.Nested(IssueSchema, required=True)
    label = fields.Nested(LabelSchema, allow_none=True, load_default=None)
    assignee = fields.Nested(UserSchema, allow_none=True, load_default=None)
    sender = fields.Nested(UserSchema, required=True)


class SubIssuesEventSchema(_Loose):
    action = fields.String(required=True)
    sub_issue = fields.Nested(IssueSchema, required=True)
    parent_issue = fields.Nested(IssueSchema, required=True)
    sender = fields.Nested(UserSchema, required=True)


class IssueDependenciesEventSchema(_Loose):
    action = fields.String(required=True)
    blocked_issue = fields.Nested(IssueSchema, required=True)
    blocking_issue = fields.Nested(IssueSchema, required=True)
    sender = fields.Nested(UserSchema, required=True)


class ProjectItemSchema(_Loose):
    node_id = fields.String(allow_none=True, load_default=None)  # optional in GitHub's current schema
    # The worker finds the issue by this id alone: an empty one would queue an event about nothing.
    content_node_id = fields.String(required=True, validate=validate.Length(min=1, error="must not be empty"))
    content_type = fields.String(allow_none=True, load_default=None)
    updated_at = fields.String(allow_none=True, load_default=None)


class ProjectsV2ItemEventSchema(_Loose):
    action = fields.String(required=True)
    projects_v2_item = fields.Nested(ProjectItemSchema, required=True)
    changes = fields.Dict(allow_none=True, load_default=None)
    sender = fields.Nested(UserSchema, required=True)


class HeadSchema(_Loose):
    sha = fields.String(required=True)


class PullRequestSchema(_Loose):
    number = fields.Integer(required=True)
    body = fields.String(allow_none=True, load_default=None)
    head = fields.Nested(HeadSchema, required=True)
    updated_at = fields.String(allow_none=True, load_default=None)


class PullRequestEventSchema(_Loose):
    action = fields.String(required=True)
    pull_request = fields.Nested(PullRequestSchema, required=True)
    repository = fields.Nested(RepositorySchema, required=True)
    changes = fields.Dict(allow_none=True, load_default=None)
    sender = fields.Nested(UserSchema, required=True)


@dataclass(frozen=True)
class _Delivery:
    delivery_id: str
    name: str
    action: str
    in_progress: frozenset[str]
    pilot_label: str

    def event(self, kind: EventKind, data: Mapping[str, Any], ticket_key: str, *, epic_key: str | None = None,
              stamp: str | None = None, detail: Mapping[str, str] | None = None) -> Event:
        return Event(Tracker.GITHUB, kind, self.delivery_id, ticket_key, epic_key=epic_key,
                     actor=data["sender"]["login"], occurred_at=_timestamp(stamp),
                     detail=MappingProxyType(dict(detail or {})))


def unused_github_event(headers: Mapping[str, str]) -> Ignored | None:
    """Ignored for an event kind no handler reads, known from its header alone (the body need not be
    decoded); None when the body has to be parsed."""
    name = headers.get("X-GitHub-Event")
    if not name or name == "ping" or name in _HANDLERS or not headers.get("X-GitHub-Delivery"):
        return None
    return Ignored(f"{name} events are not used")


def parse_github_webhook(
    headers: Mapping[str, str],
    payload: Mapping[str, Any],
    *,
    in_progress: Sequence[str],
    bot_login: str | None,
    pilot_label: str,
) -> Event | Ignored:
    """One delivery as an Event, or Ignored with the reason; PayloadError when its shape is wrong.

    Work starts on GitHub in three ways: an assignee is set on a (non-gate) issue, its Projects Status
    moves to one of `in_progress`, or a pull request that closes it is opened.
    """
    name = _header(headers, "X-GitHub-Event")
    delivery_id = _header(headers, "X-GitHub-Delivery")
    if name == "ping":
        return Ignored("ping")
    if not isinstance(payload, Mapping):
        raise PayloadError(f"{name}: the body must be a JSON object")
    action = payload.get("action")
    handled = _HANDLERS.get(name)
    if handled is None:
        return Ignored(f"{name} events are not used")
    schema, actions, handler = handled
    if not isinstance(action, str):
        raise PayloadError(f"{name}: action must be a string, not {type(action).__name__}")
    if action not in actions:
        return Ignored(f"{name}.{action} is not used")
    data = _load(schema, payload, f"{name}.{action}")
    if _is_own(data["sender"], bot_login):
        return Ignored("own event")
    delivery = _Delivery(delivery_id, name, action, frozenset(s.lower() for s in in_progress), pilot_label.lower())
    return handler(delivery, data)


def _on_issue(d: _Delivery, data: Mapping[str, Any]) -> Event | Ignored:
    issue = data["issue"]
    key = _issue_key(issue)
    mark = read_gate_marker(issue["body"])
    if mark is not None:
        return d.event(EventKind.GATE_CHANGED, data, key, epic_key=mark.epic, stamp=issue["updated_at"])
    touched = {label["name"].lower() for label in issue["labels"]}
    if data["label"] is not None:
        touched.add(data["label"]["name"].lower())  # unlabeled: the pilot label is gone from issue.labels
    if d.pilot_label in touched and d.action != "assigned":
        return d.event(EventKind.EPIC_CHANGED, data, key, epic_key=key, stamp=issue["updated_at"])
    if d.action == "assigned" and d.pilot_label not in touched:
        assignee = (data["assignee"] or {}).get("login", "")
        return d.event(EventKind.WORK_STARTED, data, key, stamp=issue["updated_at"],
                       detail={"assignee": assignee} if assignee else None)
    return Ignored(f"issues.{d.action} on {key}: neither a pilot epic nor a gate")


def _on_sub_issue(d: _Delivery, data: Mapping[str, Any]) -> Event | Ignored:
    parent, child = data["parent_issue"], data["sub_issue"]
    if d.pilot_label not in {label["name"].lower() for label in parent["labels"]}:
        return Ignored(f"sub_issues.{d.action}: parent {_issue_key(parent)} is not a pilot epic")
    kind = EventKind.CHILD_ADDED if d.action.endswith("_added") else EventKind.CHILD_REMOVED
    return d.event(kind, data, _issue_key(child), epic_key=_issue_key(parent), stamp=child["updated_at"])


def _on_dependency(d: _Delivery, data: Mapping[str, Any]) -> Event:
    blocked, blocking = data["blocked_issue"], data["blocking_issue"]
    return d.event(EventKind.LINK_CHANGED, data, _issue_key(blocked), stamp=blocked["updated_at"],
                   detail={"blocking": _issue_key(blocking), "action": d.action})


def _on_project_item(d: _Delivery, data: Mapping[str, Any]) -> Event | Ignored:
    """Status moved to an in-progress option. The issue is only named by node id: the worker resolves
    `content_node_id` (ticket_key stays "" until then); the old payload shape, without field name and
    from/to, also needs the item's Status read (`needs_status_lookup` = the item's node id)."""
    item = data["projects_v2_item"]
    if item["content_type"] not in (None, "Issue"):
        return Ignored(f"projects_v2_item.edited on a {item['content_type']}, not an issue")
    change = (data["changes"] or {}).get("field_value")
    if not isinstance(change, Mapping):
        return Ignored("projects_v2_item.edited without a field value change")
    detail = {"content_node_id": item["content_node_id"]}
    if item["node_id"]:
        detail["item_node_id"] = item["node_id"]
    if change.get("field_type") not in (None, "single_select"):
        return Ignored(f"projects_v2_item.edited: a {change.get('field_type')} field changed, not Status")
    if "to" not in change or not change.get("field_name"):
        if not item["node_id"]:
            raise PayloadError("projects_v2_item.edited: projects_v2_item.node_id is needed to read the Status")
        detail["needs_status_lookup"] = item["node_id"]
        return d.event(EventKind.WORK_STARTED, data, "", stamp=item["updated_at"], detail=detail)
    if not isinstance(change["field_name"], str):
        raise PayloadError("projects_v2_item.edited: changes.field_value.field_name must be a string")
    if change["field_name"].lower() != "status":
        return Ignored(f"projects_v2_item.edited: field {change['field_name']} changed, not Status")
    status = _option_name(change["to"])
    if status is None or status.lower() not in d.in_progress:
        return Ignored(f"projects_v2_item.edited: Status is now {status!r}, not an in-progress status")
    detail["status"] = status
    return d.event(EventKind.WORK_STARTED, data, "", stamp=item["updated_at"], detail=detail)


def _on_pull_request(d: _Delivery, data: Mapping[str, Any]) -> Event | Ignored:
    """A pull request that will close an issue means work on it began; the first issue it closes wins."""
    pr, repository = data["pull_request"], data["repository"]["full_name"]
    if d.action == "edited" and "body" not in (data["changes"] or {}):
        return Ignored("pull_request.edited without a body change")
    closes = closing_references(pr["body"], repository)
    pr_key = issue_key(repository, pr["number"])
    if not closes:
        return Ignored(f"pull request {pr_key} closes no issue")
    detail = {"sha": pr["head"]["sha"], "pr": pr_key}
    if len(closes) > 1:
        detail["also_closes"] = " ".join(closes[1:])
    return d.event(EventKind.WORK_STARTED, data, closes[0], stamp=pr["updated_at"], detail=detail)


def closing_references(body: str | None, repository: str) -> list[str]:
    """Issue keys a pull request body closes with GitHub's keywords, in order, without repeats."""
    found: list[str] = []
    for match in _CLOSES.finditer(body or ""):
        key = issue_key(match.group("repo") or match.group("url_repo") or repository, int(match.group("number")))
        if key not in found:
            found.append(key)
    return found


_Handler = Callable[[_Delivery, Mapping[str, Any]], "Event | Ignored"]
_HANDLERS: dict[str, tuple[type[Schema], frozenset[str], _Handler]] = {
    "issues": (IssuesEventSchema, frozenset(
        {"opened", "edited", "labeled", "unlabeled", "assigned", "closed", "reopened", "typed", "untyped"}
    ), _on_issue),
    "sub_issues": (SubIssuesEventSchema, frozenset(
        {"sub_issue_added", "sub_issue_removed", "parent_issue_added", "parent_issue_removed"}
    ), _on_sub_issue),
    "issue_dependencies": (IssueDependenciesEventSchema, frozenset(
        {"blocked_by_added", "blocked_by_removed", "blocking_added", "blocking_removed"}
    ), _on_dependency),
    "projects_v2_item": (ProjectsV2ItemEventSchema, frozenset({"edited"}), _on_project_item),
    "pull_request": (PullRequestEventSchema, frozenset({"opened", "ready_for_review", "edited"}), _on_pull_request),
}


def _header(headers: Mapping[str, str], name: str) -> str:
    # The exact spelling first (werkzeug's headers match any case here): scanning every header
    # cost more than the rest of an ignored delivery.
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    if not value:
        raise PayloadError(f"missing {name} header")
    return value


@functools.cache
def _schema(schema: type[Schema]) -> Schema:
    """One instance per schema, shared by every request: building one (and its nested schemas) cost more
    than loading a payload with it. marshmallow schemas keep no per-load state, so sharing is safe."""
    return schema()


def _load(schema: type[Schema], payload: Mapping[str, Any], where: str) -> dict[str, Any]:
    try:
        return _schema(schema).load(payload)
    except ValidationError as err:
        path, reason = _first_error(err.messages)
        raise PayloadError(f"{where}: {path}: {reason}") from None


def _first_error(messages: Any, prefix: str = "") -> tuple[str, str]:
    if isinstance(messages, Mapping):
        name, inner = next(iter(messages.items()))
        return _first_error(inner, f"{prefix}.{name}" if prefix else str(name))
    if isinstance(messages, list) and messages and not isinstance(messages[0], str):
        return _first_error(messages[0], prefix)
    return prefix, messages[0] if isinstance(messages, list) and messages else str(messages)


def _is_own(sender: Mapping[str, Any], bot_login: str | None) -> bool:
    """Our App acts as `<slug>[bot]`; a token's bot user acts under its login. Either spelling matches."""
    if not bot_login:
        return False
    base = bot_login.lower().removesuffix("[bot]")
    return sender["login"].lower() in {base, f"{base}[bot]"}


def _issue_key(issue: Mapping[str, Any]) -> str:
    """From `repository_url` (…/repos/owner/repo): right for sub-issues and blockers in other repositories."""
    _, _, repository = issue["repository_url"].rpartition("/repos/")
    if repository.count("/") != 1:
        raise PayloadError(f"issue #{issue['number']}: repository_url {issue['repository_url']!r} names no repository")
    return issue_key(repository, issue["number"])


def _option_name(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("name")
    return value if isinstance(value, str) else None


def _timestamp(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        raise PayloadError(f"not an ISO 8601 timestamp: {value!r}") from None
