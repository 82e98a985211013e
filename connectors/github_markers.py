"""The hidden HTML markers Pilot Gate writes into GitHub issues and comments, and the one parser of each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

GATE_LABEL = "pilotgate-gate"
COMMENT_MARKER = "<!-- pilotgate:comment -->"
NOTE_MARKER = "<!-- pilotgate:note -->"  # limits notes on an epic, kept apart from the engine's comment

_GATE = re.compile(
    r"<!--\s*pilotgate:gate=(?P<gate>[^\s>]+)\s+epic=(?P<epic>[^\s>]+)"
    r"(?:\s+due=(?P<due>\d{4}-\d{2}-\d{2}))?\s*-->"
)
_KEY = re.compile(r"^(?P<owner>[\w.-]+)/(?P<repo>[\w.-]+)#(?P<number>\d+)$")


@dataclass(frozen=True)
class GateMark:
    gate: str
    epic: str
    due: date | None


def gate_marker(gate: str, epic_key: str, due: date | None) -> str:
    stamp = f" due={due.isoformat()}" if due else ""
    return f"<!-- pilotgate:gate={gate} epic={epic_key}{stamp} -->"


def read_gate_marker(body: str | None) -> GateMark | None:
    match = _GATE.search(body or "")
    if match is None:
        return None
    due = match.group("due")
    try:
        parsed = date.fromisoformat(due) if due else None
    except ValueError:
        parsed = None  # a hand-edited impossible date: the gate still counts, without a due date
    return GateMark(match.group("gate"), match.group("epic"), parsed)


def gate_issue_body(gate: str, epic_key: str, due: date | None, body: str) -> str:
    return f"{gate_marker(gate, epic_key, due)}\n\n{body}"


def marked_comment(marker: str, text: str) -> str:
    return f"{marker}\n{text}"


def comment_text(marker: str, raw: str | None) -> str | None:
    """The text after `marker` when the comment carries it, else None (not ours)."""
    body = (raw or "").replace("\r\n", "\n")
    if not body.startswith(marker):
        return None
    return body[len(marker):].removeprefix("\n")


def split_key(key: str) -> tuple[str, str, int]:
    """`owner/repo#12` -> ("owner", "repo", 12); anything else is a ValueError naming the key."""
    match = _KEY.match(key or "")
    if match is None:
        raise ValueError(f"not a GitHub issue key (owner/repo#number): {key!r}")
    return match.group("owner"), match.group("repo"), int(match.group("number"))


def issue_key(repository: str, number: int) -> str:
    return f"{repository}#{number}"
