"""Jira webhook deliveries to normalized Events: validated with marshmallow, no HTTP, no tracker calls."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, Mapping

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from connectors.base import PermanentError
from connectors.jira_mapping import GATE_LABEL_PREFIX, checked_key
from connectors.webhooks import Ignored, PayloadError, verify_hmac_sha256
from plugin.model import Event, EventKind, Tracker

DELIVERY_HEADER = "X-Atlassian-Webhook-Identifier"
SIGNATURE_HEADER = "X-Hub-Signature"
ISSUE_EVENTS = ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted")
LINK_EVENTS = ("issuelink_created", "issuelink_deleted")
# Team-managed projects log a parent change as IssueParentAssociation, company-managed as Parent,
# Data Center as Epic Link.
_PARENT_FIELDS = {"parent", "issueparentassociation", "epic link", "parent link"}


class _Lenient(Schema):
    """Real payloads carry many more fields than Pilot Gate reads: those are dropped, not refused."""

    class Meta:
        unknown = EXCLUDE


class UserSchema(_Lenient):
    accountId = fields.String(allow_none=True)  # Cloud
    name = fields.String(allow_none=True)  # Data Center


class StatusCategorySchema(_Lenient):
    key = fields.String(required=True)


class StatusSchema(_Lenient):
    name = fields.String(allow_none=True)
    statusCategory = fields.Nested(StatusCategorySchema, allow_none=True)


class IssueTypeSchema(_Lenient):
    name = fields.String(allow_none=True)
    hierarchyLevel = fields.Integer(allow_none=True)


def _issue_key(value: str) -> None:
    """The connector's own rule for keys (they go into JQL): a payload with another key is refused here."""
    try:
        checked_key(value)
    except PermanentError as err:
        raise ValidationError(str(err)) from None


_positive_id = validate.Range(min=1, error="must be a positive issue id")


class KeyedSchema(_Lenient):
    id = fields.String(allow_none=True)
    key = fields.String(required=True, validate=_issue_key)


class IssueFieldsSchema(_Lenient):
    status = fields.Nested(StatusSchema, allow_none=True)
    issuetype = fields.Nested(IssueTypeSchema, allow_none=True)
    parent = fields.Nested(KeyedSchema, allow_none=True)
    labels = fields.List(fields.String(), allow_none=True)


class IssueSchema(_Lenient):
    id = fields.String(required=True)
    key = fields.String(required=True, validate=_issue_key)
    issue_fields = fields.Nested(IssueFieldsSchema, data_key="fields", load_default=dict)


class ChangeItemSchema(_Lenient):
    field = fields.String(required=True)
    fieldId = fields.String(allow_none=True)
    to = fields.String(allow_none=True)
    toString = fields.String(allow_none=True)
    # `from` is a Python keyword: read it under its wire name.
    old = fields.String(allow_none=True, data_key="from")
    fromString = fields.String(allow_none=True)


class ChangelogSchema(_Lenient):
    items = fields.List(fields.Nested(ChangeItemSchema), load_default=list)


class LinkTypeSchema(_Lenient):
    name = fields.String(allow_none=True)


class IssueLinkSchema(_Lenient):
    id = fields.Integer(required=True, validate=_positive_id)
    sourceIssueId = fields.Integer(required=True, validate=_positive_id)
    destinationIssueId = fields.Integer(required=True, validate=_positive_id)
    issueLinkType = fields.Nested(LinkTypeSchema, allow_none=True)


class EnvelopeSchema(_Lenient):
    webhookEvent = fields.String(required=True)
    timestamp = fields.Integer(allow_none=True)
    user = fields.Nested(UserSchema, allow_none=True)
    changelog = fields.Nested(ChangelogSchema, allow_none=True)


class IssueEventSchema(EnvelopeSchema):
    issue = fields.Nested(IssueSchema, required=True)


class LinkEventSchema(EnvelopeSchema):
    issueLink = fields.Nested(IssueLinkSchema, required=True)


# Built once and shared by every request: building a schema (and its nested ones) cost more than
# loading a payload with it. marshmallow schemas keep no per-load state, so sharing is safe.
_ISSUE_EVENT = IssueEventSchema()
_LINK_EVENT = LinkEventSchema()


def verify_jira_signature(secret: str, body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature: sha256=<hex>`, an HMAC-SHA256 of the raw body keyed by the webhook secret."""
    return verify_hmac_sha256(secret, body, header)


def parse_jira_webhook(
    headers: Mapping[str, str], payload: dict, *, bot_account: str | None
) -> Event | Ignored:
    """One delivery as an Event, or Ignored with the reason; PayloadError when it is malformed."""
    if not isinstance(payload, Mapping):
        raise PayloadError("the body must be a JSON object")
    name = payload.get("webhookEvent")
    if name in ISSUE_EVENTS:
        data = _load(_ISSUE_EVENT, payload)
    elif name in LINK_EVENTS:
        data = _load(_LINK_EVENT, payload)
    elif isinstance(name, str) and name:
        return Ignored(f"Jira event {name} is not one Pilot Gate acts on")
    else:
        raise PayloadError("webhookEvent: missing or not a string")
    actor = _actor(data.get("user"))
    if bot_account and actor == bot_account:
        return Ignored("own event")
    delivery = _header(headers, DELIVERY_HEADER) or _derived_delivery_id(payload)
    stamp = data.get("timestamp")
    occurred = datetime.fromtimestamp(stamp / 1000, tz=timezone.utc) if stamp else None
    common = dict(tracker=Tracker.JIRA, delivery_id=delivery, actor=actor, occurred_at=occurred)
    if name in LINK_EVENTS:
        return _link_event(data["issueLink"], common)
    return _issue_event(name, data["issue"], (data.get("changelog") or {}).get("items") or [], common)


def _issue_event(name: str, issue: Mapping, changes: list, common: dict) -> Event | Ignored:
    fields_ = issue.get("issue_fields") or {}
    parent = (fields_.get("parent") or {}).get("key")

    def event(kind: EventKind, epic_key: str | None = parent, **detail: str) -> Event:
        return Event(kind=kind, ticket_key=issue["key"], epic_key=epic_key,
                     detail=MappingProxyType(detail), **common)

    is_gate = any(label.startswith(GATE_LABEL_PREFIX) for label in fields_.get("labels") or [])
    is_epic = _is_epic(fields_)
    if name == "jira:issue_deleted":
        return event(EventKind.CHILD_REMOVED)
    if name == "jira:issue_created":
        if parent:
            return event(EventKind.CHILD_ADDED)
        return event(EventKind.EPIC_CHANGED, issue["key"]) if is_epic else Ignored("new issue has no parent")
    if is_gate:
        return event(EventKind.GATE_CHANGED)
    category = ((fields_.get("status") or {}).get("statusCategory") or {}).get("key")
    if category == "indeterminate" and any(_is_status(item) for item in changes):
        return event(EventKind.WORK_STARTED)
    moved = next((item for item in changes if _is_parent(item)), None)
    if moved is not None:
        previous = moved.get("old") or ""
        if parent:
            return event(EventKind.CHILD_ADDED, previous_parent_id=previous)
        return event(EventKind.CHILD_REMOVED, None, previous_parent_id=previous)
    if is_epic:
        return event(EventKind.EPIC_CHANGED, issue["key"])
    return Ignored("no change Pilot Gate acts on")


def _link_event(link: Mapping, common: dict) -> Event:
    """Ids only: the worker resolves them. The destination is the issue the link blocks."""
    return Event(
        kind=EventKind.LINK_CHANGED,
        ticket_key=str(link["destinationIssueId"]),
        detail=MappingProxyType({
            "link_id": str(link["id"]),
            "source_issue_id": str(link["sourceIssueId"]),
            "destination_issue_id": str(link["destinationIssueId"]),
            "link_type": (link.get("issueLinkType") or {}).get("name") or "",
        }),
        **common,
    )


def _load(schema: Schema, payload: Mapping) -> dict:
    try:
        return schema.load(payload)
    except ValidationError as err:
        where, reason = _first_error(err.messages)
        raise PayloadError(f"{payload.get('webhookEvent')} payload: {where}: {reason}") from None


def _first_error(messages: Any, prefix: str = "") -> tuple[str, str]:
    if isinstance(messages, Mapping) and messages:
        name, inner = next(iter(messages.items()))
        path = prefix if name == "_schema" else (f"{prefix}.{name}" if prefix else str(name))
        return _first_error(inner, path)
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], prefix) if not isinstance(messages[0], str) else (prefix, messages[0])
    return prefix or "(body)", str(messages)


def _is_status(item: Mapping) -> bool:
    return (item.get("fieldId") or item.get("field") or "").lower() == "status"


def _is_parent(item: Mapping) -> bool:
    return (item.get("fieldId") or "").lower() == "parent" or (item.get("field") or "").lower() in _PARENT_FIELDS


def _is_epic(fields_: Mapping) -> bool:
    kind = fields_.get("issuetype") or {}
    return kind.get("hierarchyLevel") == 1 or (kind.get("name") or "").lower() == "epic"


def _actor(user: Mapping | None) -> str | None:
    return (user or {}).get("accountId") or (user or {}).get("name")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # The exact spelling first (werkzeug's headers match any case here): a scan costs more.
    value = str(headers.get(name) or "").strip()
    if value:
        return value
    wanted = name.lower()
    return next((str(v).strip() for k, v in headers.items() if k.lower() == wanted and str(v).strip()), None)


def _derived_delivery_id(payload: Mapping) -> str:
    """Stable across Jira's retries of the same delivery: event name, subject id and timestamp."""
    subject = (payload.get("issue") or {}).get("id") or (payload.get("issueLink") or {}).get("id")
    seed = f"{payload.get('webhookEvent')}:{subject}:{payload.get('timestamp')}"
    return "derived-" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:32]
