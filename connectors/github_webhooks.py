"""GitHub webhook deliveries, decoded and validated by msgspec, normalized to Pilot Gate's Event (pure, no I/O).

msgspec rather than marshmallow here: a delivery is decoded straight into the few typed fields Pilot Gate
reads (the rest of a 10-25 KB payload is skipped unbuilt), several times cheaper than json.loads + a schema.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Annotated, Any, Callable, Mapping, Sequence

import msgspec

from connectors.github_markers import issue_key, read_gate_marker
from connectors.webhooks import Ignored, PayloadError, as_json_bytes, decode
from plugin.model import Event, EventKind, Tracker

# GitHub's closing keywords: "Fixes #12", "closes: owner/repo#12", "resolves https://github.com/o/r/issues/12".
_CLOSES = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?\s+"
    r"(?:(?P<repo>[\w.-]+/[\w.-]+)#|#|https?://[^\s/]+/(?P<url_repo>[\w.-]+/[\w.-]+)/issues/)(?P<number>\d+)\b",
    re.IGNORECASE,
)


# GitHub adds fields often: msgspec skips anything not declared here, without building it.
class User(msgspec.Struct, frozen=True):
    login: str
    type: str = "User"


class Label(msgspec.Struct, frozen=True):
    name: str


IssueNumber = Annotated[int, msgspec.Meta(ge=1)]  # GitHub numbers issues and pull requests from 1


class Repository(msgspec.Struct, frozen=True):
    full_name: str


class Issue(msgspec.Struct, frozen=True):
    number: IssueNumber
    repository_url: str
    body: str | None = None
    labels: list[Label] = []
    updated_at: str | None = None


class IssuesEvent(msgspec.Struct, frozen=True):
    action: str
    issue: Issue
    sender: User
    label: Label | None = None
    assignee: User | None = None


class SubIssuesEvent(msgspec.Struct, frozen=True):
    action: str
    sub_issue: Issue
    parent_issue: Issue
    sender: User


class IssueDependenciesEvent(msgspec.Struct, frozen=True):
    action: str
    blocked_issue: Issue
    blocking_issue: Issue
    sender: User


class ProjectItem(msgspec.Struct, frozen=True):
    # The worker finds the issue by this id alone: an empty one would queue an event about nothing.
    content_node_id: Annotated[str, msgspec.Meta(min_length=1)]
    node_id: str | None = None  # optional in GitHub's current schema
    content_type: str | None = None
    updated_at: str | None = None


class ProjectsV2ItemEvent(msgspec.Struct, frozen=True):
    action: str
    projects_v2_item: ProjectItem
    sender: User
    changes: dict[str, Any] | None = None


class Head(msgspec.Struct, frozen=True):
    sha: str


class PullRequest(msgspec.Struct, frozen=True):
    number: IssueNumber
    head: Head
    body: str | None = None
    updated_at: str | None = None


class PullRequestEvent(msgspec.Struct, frozen=True):
    action: str
    pull_request: PullRequest
    repository: Repository
    sender: User
    changes: dict[str, Any] | None = None


class _Action(msgspec.Struct, frozen=True):
    """Only the action: whether the rest is worth decoding."""

    action: Any = None


_ACTION = msgspec.json.Decoder(_Action)


@dataclass(frozen=True)
class _Delivery:
    delivery_id: str
    name: str
    action: str
    in_progress: frozenset[str]
    pilot_label: str

    def event(self, kind: EventKind, data: Any, ticket_key: str, *, epic_key: str | None = None,
              stamp: str | None = None, detail: Mapping[str, str] | None = None) -> Event:
        return Event(Tracker.GITHUB, kind, self.delivery_id, ticket_key, epic_key=epic_key,
                     actor=data.sender.login, occurred_at=_timestamp(stamp),
                     detail=MappingProxyType(dict(detail or {})))


def unused_github_event(headers: Mapping[str, str]) -> Ignored | None:
    """Ignored for an event kind no handler reads, known from its header alone (the body need not be
    decoded); None when the body has to be parsed."""
    name = headers.get("X-GitHub-Event")
    if not name or name == "ping" or name in _HANDLERS or not headers.get("X-GitHub-Delivery"):
        return None
    return Ignored(f"{name} events are not used", event=name[:64])


def parse_github_webhook(
    headers: Mapping[str, str],
    body: bytes | Mapping[str, Any],
    *,
    in_progress: Sequence[str],
    bot_login: str | None,
    pilot_label: str,
) -> Event | Ignored:
    """One delivery (the raw body, or its decoded JSON object) as an Event, or Ignored with the reason;
    Unreadable when the body is not JSON, PayloadError when its shape is wrong (naming the field).

    Work starts on GitHub in three ways: an assignee is set on a (non-gate) issue, its Projects Status
    moves to one of `in_progress`, or a pull request that closes it is opened.
    """
    name = _header(headers, "X-GitHub-Event")
    delivery_id = _header(headers, "X-GitHub-Delivery")
    if name == "ping":
        return Ignored("ping", event=name)
    handled = _HANDLERS.get(name)
    if handled is None:
        return Ignored(f"{name} events are not used", event=name[:64])
    decoder, actions, handler = handled
    raw = as_json_bytes(body)
    try:
        data = decoder.decode(raw)  # the common case in one pass; the action is checked after
        action = data.action
    except msgspec.MsgspecError:
        # Malformed for this event: an action Pilot Gate does not use is still only ignored.
        action, data = decode(_ACTION, raw, name, name).action, None
    if not isinstance(action, str):
        raise PayloadError(f"{name}: action must be a string, not {type(action).__name__}", event=name)
    if action not in actions:
        return Ignored(f"{name}.{action} is not used", event=name)
    if data is None:
        data = decode(decoder, raw, f"{name}.{action}", name)  # raises, naming the field
    if _is_own(data.sender, bot_login):
        return Ignored("own event", event=name)
    delivery = _Delivery(delivery_id, name, action, _folded(tuple(in_progress)), pilot_label.lower())
    return handler(delivery, data)


@functools.cache
def _folded(names: tuple[str, ...]) -> frozenset[str]:
    # The configured status names, lower-cased once rather than on every delivery.
    return frozenset(name.lower() for name in names)


def _on_issue(d: _Delivery, data: IssuesEvent) -> Event | Ignored:
    issue = data.issue
    key = _issue_key(issue)
    mark = read_gate_marker(issue.body)
    if mark is not None:
        return d.event(EventKind.GATE_CHANGED, data, key, epic_key=mark.epic, stamp=issue.updated_at)
    touched = {label.name.lower() for label in issue.labels}
    if data.label is not None:
        touched.add(data.label.name.lower())  # unlabeled: the pilot label is gone from issue.labels
    if d.pilot_label in touched and d.action != "assigned":
        return d.event(EventKind.EPIC_CHANGED, data, key, epic_key=key, stamp=issue.updated_at)
    if d.action == "assigned" and d.pilot_label not in touched:
        assignee = data.assignee.login if data.assignee else ""
        return d.event(EventKind.WORK_STARTED, data, key, stamp=issue.updated_at,
                       detail={"assignee": assignee} if assignee else None)
    return Ignored(f"issues.{d.action} on {key}: neither a pilot epic nor a gate", event=d.name)


def _on_sub_issue(d: _Delivery, data: SubIssuesEvent) -> Event | Ignored:
    parent, child = data.parent_issue, data.sub_issue
    if d.pilot_label not in {label.name.lower() for label in parent.labels}:
        return Ignored(f"sub_issues.{d.action}: parent {_issue_key(parent)} is not a pilot epic", event=d.name)
    kind = EventKind.CHILD_ADDED if d.action.endswith("_added") else EventKind.CHILD_REMOVED
    return d.event(kind, data, _issue_key(child), epic_key=_issue_key(parent), stamp=child.updated_at)


def _on_dependency(d: _Delivery, data: IssueDependenciesEvent) -> Event | Ignored:
    blocked, blocking = data.blocked_issue, data.blocking_issue
    if d.action.endswith("_added"):  # a new dependency can only satisfy a gate, never ask for one
        return Ignored(f"issue_dependencies.{d.action}: a new link asks for nothing", event=d.name)
    return d.event(EventKind.LINK_CHANGED, data, _issue_key(blocked), stamp=blocked.updated_at,
                   detail={"blocking": _issue_key(blocking), "action": d.action})


def _on_project_item(d: _Delivery, data: ProjectsV2ItemEvent) -> Event | Ignored:
    """Status moved to an in-progress option. The issue is only named by node id: the worker resolves
    `content_node_id` (ticket_key stays "" until then); the old payload shape, without field name and
    from/to, also needs the item's Status read (`needs_status_lookup` = the item's node id)."""
    item = data.projects_v2_item
    if item.content_type not in (None, "Issue"):
        return Ignored(f"projects_v2_item.edited on a {item.content_type}, not an issue", event=d.name)
    change = (data.changes or {}).get("field_value")
    if not isinstance(change, Mapping):
        return Ignored("projects_v2_item.edited without a field value change", event=d.name)
    detail = {"content_node_id": item.content_node_id}
    if item.node_id:
        detail["item_node_id"] = item.node_id
    if change.get("field_type") not in (None, "single_select"):
        return Ignored(f"projects_v2_item.edited: a {change.get('field_type')} field changed, not Status",
                       event=d.name)
    if "to" not in change or not change.get("field_name"):
        if not item.node_id:
            raise PayloadError("projects_v2_item.edited: projects_v2_item.node_id is needed to read the Status",
                               event=d.name)
        detail["needs_status_lookup"] = item.node_id
        return d.event(EventKind.WORK_STARTED, data, "", stamp=item.updated_at, detail=detail)
    if not isinstance(change["field_name"], str):
        raise PayloadError("projects_v2_item.edited: changes.field_value.field_name must be a string", event=d.name)
    if change["field_name"].lower() != "status":
        return Ignored(f"projects_v2_item.edited: field {change['field_name']} changed, not Status", event=d.name)
    status = _option_name(change["to"])
    if status is None or status.lower() not in d.in_progress:
        return Ignored(f"projects_v2_item.edited: Status is now {status!r}, not an in-progress status",
                       event=d.name)
    detail["status"] = status
    return d.event(EventKind.WORK_STARTED, data, "", stamp=item.updated_at, detail=detail)


def _on_pull_request(d: _Delivery, data: PullRequestEvent) -> Event | Ignored:
    """A pull request that will close an issue means work on it began; the first issue it closes wins."""
    pr, repository = data.pull_request, data.repository.full_name
    if d.action == "edited" and "body" not in (data.changes or {}):
        return Ignored("pull_request.edited without a body change", event=d.name)
    closes = closing_references(pr.body, repository)
    pr_key = issue_key(repository, pr.number)
    if not closes:
        return Ignored(f"pull request {pr_key} closes no issue", event=d.name)
    detail = {"sha": pr.head.sha, "pr": pr_key}
    if len(closes) > 1:
        detail["also_closes"] = " ".join(closes[1:])
    return d.event(EventKind.WORK_STARTED, data, closes[0], stamp=pr.updated_at, detail=detail)


def closing_references(body: str | None, repository: str) -> list[str]:
    """Issue keys a pull request body closes with GitHub's keywords, in order, without repeats."""
    found: list[str] = []
    for match in _CLOSES.finditer(body or ""):
        key = issue_key(match.group("repo") or match.group("url_repo") or repository, int(match.group("number")))
        if key not in found:
            found.append(key)
    return found


_Handler = Callable[[_Delivery, Any], "Event | Ignored"]
_HANDLERS: dict[str, tuple[msgspec.json.Decoder, frozenset[str], _Handler]] = {
    "issues": (msgspec.json.Decoder(IssuesEvent), frozenset(
        {"opened", "edited", "labeled", "unlabeled", "assigned", "closed", "reopened", "typed", "untyped"}
    ), _on_issue),
    "sub_issues": (msgspec.json.Decoder(SubIssuesEvent), frozenset(
        {"sub_issue_added", "sub_issue_removed", "parent_issue_added", "parent_issue_removed"}
    ), _on_sub_issue),
    "issue_dependencies": (msgspec.json.Decoder(IssueDependenciesEvent), frozenset(
        {"blocked_by_added", "blocked_by_removed", "blocking_added", "blocking_removed"}
    ), _on_dependency),
    "projects_v2_item": (msgspec.json.Decoder(ProjectsV2ItemEvent), frozenset({"edited"}), _on_project_item),
    "pull_request": (msgspec.json.Decoder(PullRequestEvent), frozenset({"opened", "ready_for_review", "edited"}),
                     _on_pull_request),
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


def _is_own(sender: User, bot_login: str | None) -> bool:
    """Our App acts as `<slug>[bot]`; a token's bot user acts under its login. Either spelling matches."""
    if not bot_login:
        return False
    base = bot_login.lower().removesuffix("[bot]")
    return sender.login.lower() in {base, f"{base}[bot]"}


def _issue_key(issue: Issue) -> str:
    """From `repository_url` (…/repos/owner/repo): right for sub-issues and blockers in other repositories."""
    _, _, repository = issue.repository_url.rpartition("/repos/")
    if repository.count("/") != 1:
        raise PayloadError(f"issue #{issue.number}: repository_url {issue.repository_url!r} names no repository")
    return issue_key(repository, issue.number)


def _option_name(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("name")
    return value if isinstance(value, str) else None


def _timestamp(value: str | None) -> datetime | None:
    """In UTC when it names an offset: the queued form keeps whole minutes of offset only (msgspec)."""
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        raise PayloadError(f"not an ISO 8601 timestamp: {value!r}") from None
    return stamp.astimezone(timezone.utc) if stamp is not None and stamp.tzinfo is not None else stamp