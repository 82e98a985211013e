"""GitHub writes that must never happen twice: gate issues with their links, and the bot's marked comments."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from connectors.base import Memory, NotFound, TransientError
from connectors.github_graphql import MAX_DEPENDENCIES, MAX_SUB_ISSUES, EpicFacts
from connectors.github_http import GitHubHttp
from connectors.github_markers import (
    GATE_LABEL,
    comment_text,
    gate_issue_body,
    issue_key,
    marked_comment,
    read_gate_marker,
    split_key,
)
from plugin.model import CreateGates, Epic, GateSpec, Tracker

log = logging.getLogger(__name__)
RECENT_ISSUES = 100  # how far back to look for a create whose answer was lost


@dataclass
class GateRef:
    key: str
    database_id: int
    node_id: str = ""

    @property
    def ref(self) -> str:
        return f"{self.database_id}:{self.node_id}"

    @classmethod
    def parse(cls, key: str, ref: str) -> "GateRef":
        database_id, _, node_id = ref.partition(":")
        return cls(key, int(database_id), node_id)


class GateProvisioner:
    """Creates missing gate issues, makes them sub-issues of the epic and blockers of the work.

    GitHub has no idempotency key, so each gate is recorded in Memory the moment GitHub confirms it,
    and a create that ended ambiguously (timeout, 5xx) is looked for before it is sent again.
    Gates remembered but not yet children (a crash between create and link) get their links finished.
    """

    def __init__(self, http: GitHubHttp, memory: Memory) -> None:
        self.http = http
        self.memory = memory

    def create(self, epic: Epic, facts: EpicFacts, action: CreateGates) -> tuple[list[str], list[str]]:
        """Returns (keys of gate issues created, problems to tell the epic about)."""
        present = set(epic.gates())
        remembered = self.memory.gate_tickets(Tracker.GITHUB, epic.key)
        refs = self.memory.gate_refs(Tracker.GITHUB, epic.key)
        created: list[str] = []
        problems: list[str] = []
        children = facts.sub_issues
        for spec in action.gates:
            if spec.gate in present:
                continue
            if children >= MAX_SUB_ISSUES:
                problems.append(f"the gate \"{spec.title}\" was not added: this epic already has GitHub's "
                                f"maximum of {MAX_SUB_ISSUES} sub-issues")
                continue
            if spec.gate in remembered and spec.gate in refs:
                gate = GateRef.parse(remembered[spec.gate], refs[spec.gate])
                if self._is_sub_issue(gate):
                    continue
            else:
                gate = self._create_issue(epic, spec)
                created.append(gate.key)
            self._add_sub_issue(epic.key, gate)
            children += 1
            problems += self._block_work(epic, facts, gate, spec.blocks)
        return created, problems

    def add_blocked_by(self, blocker: GateRef, blocked_key: str) -> None:
        owner, repo, number = split_key(blocked_key)
        self.http.request("POST", f"/repos/{owner}/{repo}/issues/{number}/dependencies/blocked_by",
                          body={"issue_id": blocker.database_id})

    def _block_work(self, epic: Epic, facts: EpicFacts, gate: GateRef, blocks: tuple[str, ...]) -> list[str]:
        problems = []
        blocking = facts.blocking.get(gate.key, 0)
        for blocked in blocks:
            work = epic.child(blocked)
            if work is not None and gate.key in work.blocked_by:
                continue
            if facts.blocked_by.get(blocked, 0) >= MAX_DEPENDENCIES or blocking >= MAX_DEPENDENCIES:
                problems.append(f"{gate.key} could not be marked as blocking {blocked}: GitHub allows "
                                f"at most {MAX_DEPENDENCIES} dependencies of each kind per issue")
                continue
            self.add_blocked_by(gate, blocked)
            blocking += 1
        return problems

    def _create_issue(self, epic: Epic, spec: GateSpec) -> GateRef:
        owner, repo, _ = split_key(epic.key)
        body = {
            "title": spec.title,
            "body": gate_issue_body(spec.gate, epic.key, spec.due, spec.body),
            "labels": sorted(set(spec.labels) | {GATE_LABEL}),
        }
        path = f"/repos/{owner}/{repo}/issues"
        try:
            issue = self.http.request("POST", path, body=body, retry_ambiguous=False)
        except TransientError as err:
            if err.status is not None and err.status < 500:
                raise  # rate limited or refused: GitHub did not create it
            log.warning("gate create for %s %s ended ambiguously (%s); looking for it", epic.key, spec.gate, err)
            issue = self._find_created(owner, repo, spec.gate, epic.key)
            if issue is None:
                issue = self.http.request("POST", path, body=body, retry_ambiguous=False)
        gate = GateRef(issue_key(f"{owner}/{repo}", issue["number"]), issue["id"], issue.get("node_id", ""))
        self.memory.record_gate(Tracker.GITHUB, epic.key, spec.gate, gate.key, gate.ref)
        return gate

    def _find_created(self, owner: str, repo: str, gate: str, epic_key: str) -> dict | None:
        """The newest issues, unfiltered: GitHub silently drops labels when the bot lacks push access,
        and the search index lags, so neither a label filter nor search would reliably find it."""
        recent = self.http.get(f"/repos/{owner}/{repo}/issues", params={
            "state": "all", "sort": "created", "direction": "desc", "per_page": RECENT_ISSUES,
        })
        for issue in recent:
            mark = read_gate_marker(issue.get("body"))
            if mark is not None and mark.gate == gate and mark.epic == epic_key:
                return issue
        return None

    def _is_sub_issue(self, gate: GateRef) -> bool:
        owner, repo, number = split_key(gate.key)
        issue = self.http.get(f"/repos/{owner}/{repo}/issues/{number}")
        return bool(issue.get("parent_issue_url"))

    def _add_sub_issue(self, epic_key: str, gate: GateRef) -> None:
        owner, repo, number = split_key(epic_key)
        self.http.request("POST", f"/repos/{owner}/{repo}/issues/{number}/sub_issues",
                          body={"sub_issue_id": gate.database_id})


class CommentWriter:
    """The bot's one comment per issue (per marker): edited only when its text changes."""

    def __init__(self, http: GitHubHttp, memory: Memory) -> None:
        self.http = http
        self.memory = memory

    def upsert(self, ticket_key: str, marker: str, text: str, known: tuple[int, str] | None,
               remember: bool = True) -> tuple[str, int]:
        """("created" | "edited" | "unchanged", comment id). `known` is (id, text) from the last snapshot."""
        owner, repo, number = split_key(ticket_key)
        if known is None and remember:
            known = self._remembered(ticket_key, marker)
        if known is not None and known[1].rstrip() == text.rstrip():
            return "unchanged", known[0]
        body = {"body": marked_comment(marker, text)}
        if known is not None:
            self.http.request("PATCH", f"/repos/{owner}/{repo}/issues/comments/{known[0]}", body=body)
            return "edited", known[0]
        created = self.http.request("POST", f"/repos/{owner}/{repo}/issues/{number}/comments", body=body,
                                    retry_ambiguous=False)
        if remember:
            self.memory.record_comment(Tracker.GITHUB, ticket_key, str(created["id"]))
        return "created", int(created["id"])

    def _remembered(self, ticket_key: str, marker: str) -> tuple[int, str] | None:
        """A comment older than the snapshot's window: read it by the id recorded when it was written."""
        comment_id = self.memory.comment_id(Tracker.GITHUB, ticket_key)
        if comment_id is None:
            return None
        owner, repo, _ = split_key(ticket_key)
        try:
            comment = self.http.get(f"/repos/{owner}/{repo}/issues/comments/{comment_id}")
        except NotFound:
            return None  # deleted by someone: write a new one
        text = comment_text(marker, comment.get("body"))
        return (int(comment_id), text) if text is not None else None
