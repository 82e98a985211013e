"""The one protocol every tracker connector implements, and the errors it may raise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Protocol, Sequence

from plugin.model import Action, Epic, Tracker


class TrackerError(Exception):
    """A tracker refused or failed a request. `request` names it (method and path), never a secret."""

    def __init__(self, message: str, *, status: int | None = None, request: str = "") -> None:
        super().__init__(f"{message} ({request})" if request else message)
        self.status = status
        self.request = request


class TransientError(TrackerError):
    """Worth retrying later: 429, 5xx, timeouts, connection errors. `retry_after` in seconds if known."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PermanentError(TrackerError):
    """Retrying will not help (4xx other than 408/409/425/429): the request or the setup is wrong."""


class NotFound(PermanentError):
    """The ticket or epic does not exist (anymore), or the bot may not see it."""


@dataclass(frozen=True)
class Outcome:
    """What applying one action did. `done` false with a `reason` means skipped on purpose."""

    action: Action
    done: bool
    reason: str = ""
    created_keys: tuple[str, ...] = ()
    # CreateGates skipped because every gate exists, though the snapshot it was planned from lacked
    # them (a read older than a create): what waited for the gates needs a fresh snapshot.
    gates_exist: bool = False


class Memory(Protocol):
    """What Pilot Gate remembers between runs (the ledger), so a connector can outrun eventual consistency.

    Jira's search lags behind writes: a gate created a second ago may not be found by search yet.
    Connectors consult what was recorded at creation before deciding a gate is missing.
    """

    def gate_tickets(self, tracker: Tracker, epic_key: str) -> dict[str, str]:
        """Gate key -> ticket key of gates created for this epic."""

    def record_gate(self, tracker: Tracker, epic_key: str, gate: str, ticket_key: str, ref: str) -> None:
        """Remember a gate ticket right after the tracker confirmed its creation."""

    def gate_refs(self, tracker: Tracker, epic_key: str) -> dict[str, str]:
        """Gate key -> tracker-native id (Jira issue id) of gates created for this epic."""

    def comment_id(self, tracker: Tracker, ticket_key: str) -> str | None:
        """The id of the bot's comment on this ticket, if one was written."""

    def record_comment(self, tracker: Tracker, ticket_key: str, comment_id: str) -> None:
        """Remember the bot's comment on a ticket."""


class Connector(Protocol):
    """Reads pilot epics and applies the engine's actions to one tracker.

    Every write is idempotent: applying the same action twice leaves the tracker as once.
    """

    tracker: Tracker

    def pilot_epics(self, only: Sequence[str] | None = None) -> Iterator[Epic]:
        """Snapshots of every pilot epic (or only those keys), read in batches, not one call each."""

    def snapshot(self, epic_key: str) -> Epic:
        """One pilot epic with its children, their statuses, links, gate markers and bot comments."""

    def epic_of(self, ticket_key: str) -> str | None:
        """The key of the pilot epic a ticket belongs to (itself if it is one), or None."""

    def apply(self, epic: Epic, actions: Sequence[Action]) -> list[Outcome]:
        """Carry out actions on the tracker in a safe order; batch where the API allows it."""


def split_keys(keys: Iterable[str], size: int) -> Iterator[list[str]]:
    """Chunks of at most `size`: the batch limits of both trackers' APIs."""
    chunk: list[str] = []
    for key in keys:
        chunk.append(key)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class DictMemory:
    """Memory kept in dictionaries: for tests, dry runs and the demo. The ledger is the durable one."""

    def __init__(self) -> None:
        self.gates: dict[tuple[str, str], dict[str, tuple[str, str]]] = {}
        self.comments: dict[tuple[str, str], str] = {}

    def gate_tickets(self, tracker: Tracker, epic_key: str) -> dict[str, str]:
        return {g: key for g, (key, _) in self.gates.get((tracker.value, epic_key), {}).items()}

    def gate_refs(self, tracker: Tracker, epic_key: str) -> dict[str, str]:
        return {g: ref for g, (_, ref) in self.gates.get((tracker.value, epic_key), {}).items()}

    def record_gate(self, tracker: Tracker, epic_key: str, gate: str, ticket_key: str, ref: str) -> None:
        self.gates.setdefault((tracker.value, epic_key), {}).setdefault(gate, (ticket_key, ref))

    def comment_id(self, tracker: Tracker, ticket_key: str) -> str | None:
        return self.comments.get((tracker.value, ticket_key))

    def record_comment(self, tracker: Tracker, ticket_key: str, comment_id: str) -> None:
        self.comments[(tracker.value, ticket_key)] = comment_id
