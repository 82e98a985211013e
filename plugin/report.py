"""Readiness as a report: assessed pilot epics become rows, rendered as a text table or stable JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterable, Sequence

from plugin.engine import ABSENT, DONE, INCOMPLETE, OPEN, OVERDUE, Readiness
from plugin.model import Ticket

SCHEMA = "pilotgate.report/1"
VERDICTS = ("at_risk", "not_provisioned", "on_track", "ready")  # also the order of concern
STATES = (OVERDUE, INCOMPLETE, OPEN, ABSENT, DONE)
STATE_WORDS = {
    DONE: "done", OPEN: "open", OVERDUE: "overdue", INCOMPLETE: "content missing", ABSENT: "not created",
}
VERDICT_WORDS = {
    "ready": "ready", "on_track": "on track", "at_risk": "at risk", "not_provisioned": "not provisioned",
}


@dataclass(frozen=True)
class TicketRef:
    key: str
    title: str
    url: str
    status: str

    @classmethod
    def of(cls, ticket: Ticket) -> "TicketRef":
        return cls(ticket.key, ticket.title, ticket.url, ticket.status)

    def as_dict(self) -> dict[str, str]:
        return {"key": self.key, "title": self.title, "url": self.url, "status": self.status}


@dataclass(frozen=True)
class GateCell:
    key: str
    title: str
    state: str  # absent | open | overdue | incomplete | done
    ticket: TicketRef | None
    due: date | None
    missing: tuple[str, ...]

    @property
    def words(self) -> str:
        return STATE_WORDS[self.state]

    @property
    def label(self) -> str:
        return gate_label(self.key)

    @property
    def note(self) -> str:
        """A few words beside the state: what the gate lacks, else when it is due."""
        if self.state == INCOMPLETE:
            return self.brief(1)
        if self.state != DONE and self.due:
            return f"due {self.due:%b} {self.due.day}"
        return ""

    def brief(self, limit: int = 2) -> str:
        """What is missing in a few words: the first items and how many more."""
        shown = "; ".join(self.missing[:limit])
        more = len(self.missing) - limit
        return f"{shown}; +{more} more" if more > 0 else shown

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "title": self.title, "state": self.state,
            "ticket": self.ticket.as_dict() if self.ticket else None,
            "due": self.due.isoformat() if self.due else None, "missing": list(self.missing),
        }


@dataclass(frozen=True)
class PilotRow:
    """One pilot epic, as every renderer shows it."""

    tracker: str
    epic: TicketRef
    created: datetime | None
    age_days: int | None
    verdict: str
    risk: int
    gates: tuple[GateCell, ...]
    early_work: tuple[TicketRef, ...]

    @property
    def gates_done(self) -> int:
        return sum(g.state == DONE for g in self.gates)

    @property
    def verdict_words(self) -> str:
        return VERDICT_WORDS.get(self.verdict, self.verdict)

    def states(self) -> set[str]:
        return {g.state for g in self.gates}

    def as_dict(self) -> dict[str, Any]:
        return {
            "tracker": self.tracker,
            "epic": self.epic.as_dict(),
            "created": self.created.isoformat() if self.created else None,
            "age_days": self.age_days,
            "verdict": self.verdict,
            "risk": self.risk,
            "gates_done": self.gates_done,
            "gates_total": len(self.gates),
            "gates": [g.as_dict() for g in self.gates],
            "early_work": {"count": len(self.early_work), "tickets": [t.as_dict() for t in self.early_work]},
        }


def gate_label(key: str) -> str:
    """`integration-architecture` -> `Integration architecture`: short enough for a chip or a chart."""
    return key.replace("-", " ").capitalize()


def pilot_row(readiness: Readiness, now: datetime) -> PilotRow:
    created = readiness.epic.ticket.created
    age = max(0, (now - created).days) if created else None
    gates = tuple(
        GateCell(g.key, g.title, g.state, TicketRef.of(g.ticket) if g.ticket else None, g.due, g.missing)
        for g in readiness.gates
    )
    return PilotRow(
        tracker=readiness.epic.tracker.value, epic=TicketRef.of(readiness.epic.ticket), created=created,
        age_days=age, verdict=readiness.verdict, risk=readiness.risk, gates=gates,
        early_work=tuple(TicketRef.of(t) for t in readiness.early_work),
    )


def pilot_rows(readinesses: Iterable[Readiness], now: datetime) -> list[PilotRow]:
    """Rows riskiest first; among equals the verdict of most concern, then the oldest epic, then the key."""
    rows = [pilot_row(r, now) for r in readinesses]
    return sorted(rows, key=lambda r: (-r.risk, VERDICTS.index(r.verdict) if r.verdict in VERDICTS else 99,
                                       -(r.age_days or 0), r.tracker, r.epic.key))


def summary(rows: Sequence[PilotRow]) -> dict[str, Any]:
    """Counts over every pilot: verdicts, gate states, and early work."""
    verdicts = {v: sum(r.verdict == v for r in rows) for v in VERDICTS}
    states = {s: sum(g.state == s for r in rows for g in r.gates) for s in STATES}
    return {
        "pilots": len(rows), "verdicts": verdicts, "gate_states": states,
        "gates_total": sum(states.values()),
        "early_work": sum(len(r.early_work) for r in rows),
        "trackers": sorted({r.tracker for r in rows}),
    }


def completion_by_gate(rows: Sequence[PilotRow]) -> list[dict[str, Any]]:
    """Per gate key, in first-seen order: how many pilots have it in each state (for the chart)."""
    order: list[str] = []
    titles: dict[str, str] = {}
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        for gate in row.gates:
            if gate.key not in counts:
                order.append(gate.key)
                titles[gate.key] = gate.label
                counts[gate.key] = {s: 0 for s in STATES}
            counts[gate.key][gate.state] += 1
    return [{"key": k, "label": titles[k], "states": counts[k], "total": sum(counts[k].values())} for k in order]


def report_document(rows: Sequence[PilotRow], now: datetime) -> dict[str, Any]:
    """The JSON report (docs/REPORT-JSON.md): stable keys, ISO dates, riskiest pilot first."""
    return {
        "schema": SCHEMA,
        "generated_at": now.isoformat(),
        "summary": summary(rows),
        "pilots": [r.as_dict() for r in rows],
    }


def render_json(rows: Sequence[PilotRow], now: datetime) -> str:
    return json.dumps(report_document(rows, now), indent=2, ensure_ascii=False)


def render_table(rows: Sequence[PilotRow], now: datetime) -> str:
    """A plain-text report for a terminal or an e-mail: a block per pilot, a line per gate."""
    if not rows:
        return "No pilot epics found. Check `pilots` (Jira JQL) or `pilot_label` (GitHub) in the configuration."
    counts = summary(rows)
    header = (
        f"{counts['pilots']} pilot{'s' if counts['pilots'] != 1 else ''} at {now:%Y-%m-%d %H:%M %Z}".rstrip()
        + ": " + ", ".join(f"{n} {VERDICT_WORDS[v]}" for v, n in counts["verdicts"].items() if n)
    )
    blocks = [header]
    for row in rows:
        blocks.append("\n".join(_table_block(row)))
    return "\n\n".join(blocks)


def _table_block(row: PilotRow) -> Iterable[str]:
    age = f"{row.age_days} day{'s' if row.age_days != 1 else ''} old" if row.age_days is not None else "age unknown"
    yield (f"{row.verdict_words.upper():<16} {row.epic.key}  {row.epic.title}  "
           f"[{row.tracker}, {age}, {row.gates_done}/{len(row.gates)} gates done]")
    key_width = max((len(g.key) for g in row.gates), default=0)
    ticket_width = max((len(g.ticket.key) for g in row.gates if g.ticket), default=1)
    for gate in row.gates:
        ticket = gate.ticket.key if gate.ticket else "-"
        due = f"due {gate.due.isoformat()}" if gate.due and gate.state != DONE else ""
        detail = gate.brief(2)
        line = f"  {gate.key:<{key_width}}  {gate.words:<15}  {ticket:<{ticket_width}}  {due:<14}  {detail}"
        yield line.rstrip()
    if row.early_work:
        keys = ", ".join(t.key for t in row.early_work)
        yield f"  work started before its gates: {len(row.early_work)} ({keys})"
