"""The people of the demo: a team working in the Jira sandbox, one on GitHub, and what Pilot Gate shows them.

The teams act as humans do (through the sandbox's admin API, and its store for the text edits a
person makes in the browser), so every change reaches Pilot Gate as a signed webhook. What the
demo shows is read back through the connectors: exactly what Pilot Gate itself sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Protocol

from connectors.base import Connector
from connectors.sandbox import Sandbox
from connectors.sandbox.github_store import HUMAN_LOGIN
from connectors.sandbox.jira_store import HUMAN
from plugin import engine
from plugin.demo_stack import REPO
from plugin.model import Epic, Ticket, Tracker, UpsertComment
from plugin.templates import Template

# What a team writes into a gate ticket's placeholders, by the field's name (lower case).
ANSWERS = {
    "metric": "minutes of manual handling per invoice",
    "baseline": "14 minutes (March sample of 400 invoices)",
    "target": "5 minutes",
    "unit": "minutes per invoice",
    "measured by": "finance operations dashboard, weekly",
    "source systems": "ERP invoice archive, supplier master data",
    "production apis and how we get access": "ERP REST API via the integration gateway (access ticket filed)",
    "output format the downstream system expects": "JSON approval suggestion on the ERP work queue",
    "data-engineering owner": "Dana Ortiz, data platform team",
    "production owner (team and person)": "Finance systems operations, Bob Example",
    "how it is run (deployment, monitoring, on-call)": "Kubernetes, Grafana alerts, finance-ops on-call",
    "how it is supported (runbook, escalation path)": "runbook in the ops wiki; escalate to the pilot team",
}
FALLBACK_ANSWER = "agreed with the team"
OWNER = {Tracker.JIRA: "557058:bob", Tracker.GITHUB: "bob"}  # the operations owner, in each tracker's terms
OWNER_NAME = {Tracker.JIRA: "Bob Example", Tracker.GITHUB: "@bob"}


@dataclass(frozen=True)
class Pilot:
    """A pilot epic a team opened: its key and title, and its work tickets as (key, title)."""

    tracker: Tracker
    key: str
    title: str
    work: tuple[tuple[str, str], ...]


def completed_body(body: str, placeholder: str, today: date) -> str:
    """A gate ticket's text as a team leaves it: every placeholder answered, every box ticked."""
    lines = []
    for line in body.splitlines():
        if line.lstrip().startswith(("- [ ]", "* [ ]")):
            line = line.replace("[ ]", "[x]", 1)
        if placeholder in line:
            name = line.split(":", 1)[0].strip(" -*").lower()
            answer = str(today + timedelta(days=60)) if name == "decision date" else ANSWERS.get(name, FALLBACK_ANSWER)
            line = line.replace(placeholder, answer)
        lines.append(line)
    return "\n".join(lines)


class Team(Protocol):
    tracker: Tracker

    def open_pilot(self, title: str, work: list[str]) -> Pilot: ...

    def start_work(self, key: str) -> str: ...

    def complete_gate(self, gate: Ticket, placeholder: str) -> None: ...


class JiraTeam:
    """People in the Jira sandbox: an epic labelled ai-pilot with child tickets, moved along the board."""

    tracker = Tracker.JIRA

    def __init__(self, sandbox: Sandbox) -> None:
        self.client = sandbox.client
        self.store = sandbox.state.jira

    def open_pilot(self, title: str, work: list[str]) -> Pilot:
        epic = self.client.jira_epic(title)["key"]
        children = tuple((self.client.jira_issue(summary, parent=epic)["key"], summary) for summary in work)
        return Pilot(self.tracker, epic, title, children)

    def start_work(self, key: str) -> str:
        self.client.jira_transition(key, "In Progress")
        return f"{key} moves to In Progress"

    def complete_gate(self, gate: Ticket, placeholder: str) -> None:
        today = datetime.now(timezone.utc).date()
        self.store.edit(gate.key, {"description": completed_body(gate.body, placeholder, today)}, HUMAN)
        self.client.jira_assign(gate.key, OWNER[self.tracker])
        self.client.jira_transition(gate.key, "Done")


class GitHubTeam:
    """People on GitHub: an issue labelled ai-pilot with sub-issues, tracked on a Projects board."""

    tracker = Tracker.GITHUB

    def __init__(self, sandbox: Sandbox, repo: str = REPO) -> None:
        self.client = sandbox.client
        self.github = sandbox.state.github
        self.repo = repo

    def open_pilot(self, title: str, work: list[str]) -> Pilot:
        number = self.client.github_issue(self.repo, title, labels=["ai-pilot"])["number"]
        children = tuple((self.client.github_issue(self.repo, summary, parent=number)["key"], summary)
                         for summary in work)
        return Pilot(self.tracker, f"{self.repo}#{number}", title, children)

    def start_work(self, key: str) -> str:
        self.client.github_project_status(self.repo, self.number(key), "In Progress")
        return f"{key} moves to In Progress on the project board"

    def open_pull(self, key: str, title: str) -> dict:
        """A pull request whose body closes `key`: GitHub's other sign that work began."""
        return self.client.github_pull(self.repo, title, body=f"Closes #{self.number(key)}")

    def complete_gate(self, gate: Ticket, placeholder: str) -> None:
        today = datetime.now(timezone.utc).date()
        with self.github.store.write():
            issue = self.github.issue(self.repo, self.number(gate.key))
            self.github.edit_issue(issue, {"body": completed_body(gate.body, placeholder, today)}, HUMAN_LOGIN)
        self.client.github_assign(self.repo, self.number(gate.key), OWNER[self.tracker])
        self.client.github_state(self.repo, self.number(gate.key), "closed")

    def number(self, key: str) -> int:
        repo, _, number = key.partition("#")
        if repo != self.repo or not number.isdigit():
            raise ValueError(f"{key!r} is not an issue of {self.repo}")
        return int(number)


class Watcher:
    """Reads one tracker through its connector and answers the demo's questions about an epic."""

    def __init__(self, connector: Connector, template: Template) -> None:
        self.connector = connector
        self.template = template

    def gates_in_place(self, epic_key: str) -> Epic | None:
        """The epic once every gate ticket exists and blocks every work ticket it should."""
        epic = self.connector.snapshot(epic_key)
        gates = epic.gates()
        if any(g.key not in gates for g in self.template.gates):
            return None
        for work in epic.work():
            if any(gates[g.key].key not in work.blocked_by for g in self.template.gates if engine.blocks(g, work)):
                return None
        return epic

    def comment(self, epic_key: str, ticket_key: str) -> str | None:
        return self.connector.snapshot(epic_key).bot_comments.get(ticket_key)

    def settled_comment(self, epic_key: str, ticket_key: str) -> str | None:
        """The bot's comment on the ticket once every gate is done and the comment says so."""
        epic = self.connector.snapshot(epic_key)
        text = epic.bot_comments.get(ticket_key)
        now = datetime.now(timezone.utc)
        if text is None or not all(s.done for s in engine.gate_states(self.template, epic, now)):
            return None
        pending = [a for a in engine.plan(self.template, epic, now)
                   if isinstance(a, UpsertComment) and a.ticket_key == ticket_key]
        return None if pending else text
