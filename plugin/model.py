"""The domain both connectors speak: tickets, epics, normalized events and the actions the engine plans."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from types import MappingProxyType
from typing import Any, Mapping, Union

import msgspec


class Tracker(str, enum.Enum):
    JIRA = "jira"
    GITHUB = "github"


class StatusCategory(str, enum.Enum):
    """Jira's status categories; GitHub maps open/closed plus Projects Status onto them."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    DONE = "done"


@dataclass(frozen=True)
class Ticket:
    """One issue in a tracker. `key` is what users see: `PROJ-12` in Jira, `owner/repo#12` on GitHub."""

    tracker: Tracker
    key: str
    title: str
    url: str = ""
    status: str = ""
    category: StatusCategory = StatusCategory.NEW
    assignee: str | None = None
    labels: frozenset[str] = frozenset()
    issue_type: str | None = None
    gate: str | None = None  # the gate key when this ticket is a gate ticket
    parent: str | None = None
    created: datetime | None = None
    status_changed: datetime | None = None
    due: date | None = None
    body: str = ""
    blocked_by: frozenset[str] = frozenset()  # keys of tickets that block this one
    ref: str = ""  # tracker-native id needed by API calls (Jira issue id, GitHub database id)

    @property
    def is_gate(self) -> bool:
        return self.gate is not None

    def with_changes(self, **changes: Any) -> "Ticket":
        return replace(self, **changes)


@dataclass(frozen=True)
class Epic:
    """A snapshot of a pilot epic: its ticket, its children, and the bot's comments on any of them.

    `bot_comments` maps a ticket key to the text (without marker) of Pilot Gate's comment on it,
    so the engine can tell "comment already says this" from "comment must be edited".
    """

    ticket: Ticket
    children: tuple[Ticket, ...] = ()
    bot_comments: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def key(self) -> str:
        return self.ticket.key

    @property
    def tracker(self) -> Tracker:
        return self.ticket.tracker

    def child(self, key: str) -> Ticket | None:
        return next((c for c in self.children if c.key == key), None)

    def gates(self) -> dict[str, Ticket]:
        """Gate key -> gate ticket; when a gate was copied by hand, the oldest ticket wins."""
        found: dict[str, Ticket] = {}
        for child in sorted(self.children, key=_creation_order):
            if child.gate and child.gate not in found:
                found[child.gate] = child
        return found

    def work(self) -> tuple[Ticket, ...]:
        return tuple(c for c in self.children if not c.is_gate)


def _creation_order(ticket: Ticket) -> tuple:
    return (ticket.created or datetime.max, ticket.key)


def _unfrozen(value: Any) -> Any:
    """msgspec's hook for the one type in an Event it does not write by itself."""
    if isinstance(value, MappingProxyType):
        return dict(value)
    raise TypeError(f"an Event holds no {type(value).__name__}: it cannot be queued")


_EVENT_JSON = msgspec.json.Encoder(enc_hook=_unfrozen).encode


class EventKind(str, enum.Enum):
    WORK_STARTED = "work_started"
    EPIC_CHANGED = "epic_changed"  # created, edited, labelled, reopened...
    CHILD_ADDED = "child_added"
    CHILD_REMOVED = "child_removed"
    GATE_CHANGED = "gate_changed"  # a gate ticket moved, was edited or assigned
    LINK_CHANGED = "link_changed"  # ids only (Jira issuelink_*): resolved by a fresh snapshot


@dataclass(frozen=True)
class Event:
    """A webhook normalized: the same shape whether Jira or GitHub sent it.

    `ticket_key` is the ticket the event is about; `epic_key` is filled in when the payload
    names the epic (a parent change, a sub-issue event), else the worker resolves it.
    `detail` carries the few tracker-specific facts a handler needs (a pull request's head sha).
    """

    tracker: Tracker
    kind: EventKind
    delivery_id: str
    ticket_key: str
    epic_key: str | None = None
    actor: str | None = None
    occurred_at: datetime | None = None
    detail: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def to_json(self) -> str:
        """The queued form, read back by `from_dict`: enums by value, `occurred_at` in RFC 3339.
        Written by msgspec from the dataclass itself: every queued webhook calls this."""
        return _EVENT_JSON(self).decode("utf-8")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Event":
        stamp = data.get("occurred_at")
        return cls(
            tracker=Tracker(data["tracker"]),
            kind=EventKind(data["kind"]),
            delivery_id=data["delivery_id"],
            ticket_key=data["ticket_key"],
            epic_key=data.get("epic_key"),
            actor=data.get("actor"),
            occurred_at=datetime.fromisoformat(stamp) if stamp else None,
            detail=MappingProxyType(dict(data.get("detail") or {})),
        )


@dataclass(frozen=True)
class GateSpec:
    """A gate ticket to create: everything a connector needs, already rendered."""

    gate: str
    title: str
    body: str
    labels: frozenset[str]
    due: date | None
    blocks: tuple[str, ...]  # keys of existing work tickets this gate blocks from birth


@dataclass(frozen=True)
class CreateGates:
    epic_key: str
    gates: tuple[GateSpec, ...]


@dataclass(frozen=True)
class AddBlocksLink:
    blocker_key: str
    blocked_key: str


@dataclass(frozen=True)
class UpsertComment:
    """The bot's one comment on a ticket, found again by a marker the connector writes."""

    ticket_key: str
    body: str
    rule: str  # work_started_early | gates_clear | gate_overdue: for the audit trail


@dataclass(frozen=True)
class AddLabel:
    ticket_key: str
    label: str


@dataclass(frozen=True)
class SetCheck:
    """A commit status on a pull request head (GitHub): lets teams require gates to be done."""

    ticket_key: str
    sha: str
    passed: bool
    description: str
    pull_request: str = ""  # `owner/repo#n`: the status goes to the pull request's repository


Action = Union[CreateGates, AddBlocksLink, UpsertComment, AddLabel, SetCheck]


def action_kind(action: Action) -> str:
    return {
        CreateGates: "create_gates",
        AddBlocksLink: "add_blocks_link",
        UpsertComment: "upsert_comment",
        AddLabel: "add_label",
        SetCheck: "set_check",
    }[type(action)]
