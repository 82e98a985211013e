"""GitHub writes that must never happen twice: gate issues with their links, and the bot's marked comments."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from connectors.base import Memory, NotFound, PermanentError, TrackerError, TransientError
from connectors.github_graphql import MAX_DEPENDENCIES, MAX_SUB_ISSUES, EpicFacts, create_issues, link_issues
from connectors.github_http import GitHubHttp
from connectors.github_ids import GateRef, IdBook
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
class Link:
    """One mutation of a link request: `kind` is "blocked_by" or "sub_issue"; `owner` the action's index."""

    kind: str
    input: dict
    about: str
    owner: int


class LinkBatch:
    """Links collected over one apply and sent as one GraphQL request of aliased mutations."""

    def __init__(self) -> None:
        self.links: list[Link] = []

    def __bool__(self) -> bool:
        return bool(self.links)

    def blocked_by(self, blocker: GateRef, blocked: GateRef, owner: int) -> None:
        self.links.append(Link("blocked_by", {"issueId": blocked.node_id, "blockingIssueId": blocker.node_id},
                               f"{blocker.key} blocks {blocked.key}", owner))

    def sub_issue(self, parent: GateRef, child: GateRef, owner: int) -> None:
        self.links.append(Link("sub_issue", {"issueId": parent.node_id, "subIssueId": child.node_id},
                               f"{child.key} as a sub-issue of {parent.key}", owner))

    def send(self, http: GitHubHttp) -> list[tuple[Link, TrackerError | None]]:
        """Every link with its failure (None when made); empties the batch."""
        links, self.links = self.links, []
        if not links:
            return []
        variables = {f"k{i}": link.input for i, link in enumerate(links)}
        answer = http.mutate(link_issues([link.kind for link in links]), variables)
        return [(link, answer.failure(f"k{i}")) for i, link in enumerate(links)]


@dataclass
class GateResult:
    created: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # limits to tell the epic about
    error: TrackerError | None = None  # raised (transient) or reported (refused) once the links are sent


class GateProvisioner:
    """Creates missing gate issues as sub-issues of the epic (one GraphQL request for all of them) and
    queues their blocked-by links on the apply's LinkBatch.

    GitHub has no idempotency key, so each gate is recorded in Memory the moment GitHub confirms it,
    and a create whose fate is unknown (timeout, 5xx, an untyped GraphQL error) is looked for before it
    is sent again. Gates remembered but not yet children (a crash between create and link) get their
    links finished.
    """

    def __init__(self, http: GitHubHttp, memory: Memory) -> None:
        self.http = http
        self.memory = memory

    def create(self, epic: Epic, facts: EpicFacts, action: CreateGates, ids: IdBook, links: LinkBatch,
               owner: int) -> GateResult:
        result = GateResult()
        present = set(epic.gates())
        remembered = self.memory.gate_tickets(Tracker.GITHUB, epic.key)
        refs = self.memory.gate_refs(Tracker.GITHUB, epic.key)
        children = facts.sub_issues
        fresh: list[GateSpec] = []
        known: list[tuple[GateSpec, GateRef]] = []
        for spec in action.gates:
            if spec.gate in present:
                continue
            if children >= MAX_SUB_ISSUES:
                result.problems.append(f"the gate \"{spec.title}\" was not added: this epic already has GitHub's "
                                       f"maximum of {MAX_SUB_ISSUES} sub-issues")
                continue
            children += 1
            if spec.gate in remembered and spec.gate in refs:
                known.append((spec, GateRef.parse(remembered[spec.gate], refs[spec.gate])))
            else:
                fresh.append(spec)
        if not fresh and not known:
            return result
        repository = epic.key.split("#", 1)[0]
        for _, gate in known:
            if gate.key not in ids.issues:
                ids.remember(gate)
        ids.resolve(repository, labels={n for s in fresh for n in _labels(s)},
                    issues=[epic.key] + [b for s in fresh + [s for s, _ in known] for b in s.blocks],
                    parents_of=[g.key for _, g in known])
        parent = ids.issue(epic.key)
        # A remembered gate already under the epic was wired when it was linked (the snapshot is stale).
        made = [(spec, ids.issue(gate.key)) for spec, gate in known if ids.issue(gate.key).parent != parent.node_id]
        if fresh:
            made += self._create_all(epic, parent, fresh, ids, result)
        for spec, gate in made:
            if gate.parent != parent.node_id:
                links.sub_issue(parent, gate, owner)
            result.problems += _block_work(epic, facts, gate, spec.blocks, ids, links, owner)
        return result

    def _create_all(self, epic: Epic, parent: GateRef, specs: list[GateSpec], ids: IdBook,
                    result: GateResult) -> list[tuple[GateSpec, GateRef]]:
        """Creates `specs` in one request; a create of unknown fate is looked for, then sent once more."""
        made, unsure = self._send_creates(epic, parent, specs, ids, result)
        if unsure:
            found = self._find_created(epic, [s.gate for s in unsure])
            for spec in unsure:
                if spec.gate in found:
                    made.append((spec, self._record(epic, spec, found[spec.gate], parent, ids)))
                    result.created.append(made[-1][1].key)
            again = [s for s in unsure if s.gate not in found]
            if again:
                log.warning("gate creates for %s ended ambiguously and are absent; sending %s again",
                            epic.key, ", ".join(s.gate for s in again))
                more, still = self._send_creates(epic, parent, again, ids, result)
                made += more
                if still:
                    result.error = _worse(result.error, TransientError(
                        f"GitHub left the creation of {', '.join(s.gate for s in still)} on {epic.key} unknown "
                        "twice; the next attempt looks for them again"))
        return made

    def _send_creates(self, epic: Epic, parent: GateRef, specs: list[GateSpec], ids: IdBook,
                      result: GateResult) -> tuple[list[tuple[GateSpec, GateRef]], list[GateSpec]]:
        """(gates GitHub confirmed, gates whose create may or may not have happened); refusals and rate
        limits go to `result.error`."""
        repository = parent.key.split("#", 1)[0]
        ids.label_ids(repository, sorted({n for s in specs for n in _labels(s)}))  # missing ones in one request
        inputs = {}
        for i, spec in enumerate(specs):
            inputs[f"g{i}"] = {
                "repositoryId": ids.repo(repository).node_id,
                "title": spec.title,
                "body": gate_issue_body(spec.gate, epic.key, spec.due, spec.body),
                "labelIds": ids.label_ids(repository, _labels(spec)),
                "parentIssueId": parent.node_id,
            }
        try:
            answer = self.http.mutate(create_issues(len(specs)), inputs)
        except TransientError as err:
            if err.status is not None and err.status < 500:
                raise  # rate limited or refused: GitHub created nothing
            log.warning("gate creates for %s ended ambiguously (%s); looking for them", epic.key, err)
            return [], list(specs)
        made, unsure = [], []
        for i, spec in enumerate(specs):  # record every confirmed gate before looking at any failure
            issue = (answer.payload(f"g{i}") or {}).get("issue")
            if issue is not None:
                gate = GateRef(issue_key(repository, issue["number"]), issue["databaseId"], issue["id"],
                               parent.node_id)
                self.memory.record_gate(Tracker.GITHUB, epic.key, spec.gate, gate.key, gate.ref)
                ids.remember(gate)
                made.append((spec, gate))
                result.created.append(gate.key)
        for i, spec in enumerate(specs):
            failure = answer.failure(f"g{i}")
            if failure is None:
                continue
            if isinstance(failure, TransientError) and failure.status is None:
                unsure.append(spec)
            else:
                if isinstance(failure, PermanentError):
                    ids.repos.pop(repository.lower(), None)  # a label or the repository may be gone: re-read
                result.error = _worse(result.error, failure)
        return made, unsure

    def _record(self, epic: Epic, spec: GateSpec, issue: dict, parent: GateRef, ids: IdBook) -> GateRef:
        """A gate found by its marker (REST shape); it was created with the epic as its parent."""
        repository = parent.key.split("#", 1)[0]
        gate = GateRef(issue_key(repository, issue["number"]), issue["id"], issue.get("node_id", ""),
                       parent.node_id if issue.get("parent_issue_url") else None)
        self.memory.record_gate(Tracker.GITHUB, epic.key, spec.gate, gate.key, gate.ref)
        ids.remember(gate)
        return gate

    def _find_created(self, epic: Epic, gates: list[str]) -> dict[str, dict]:
        """Gate -> REST issue among the newest issues, unfiltered: GitHub silently drops labels when the bot
        lacks push access, and the search index lags, so neither a label filter nor search would find it."""
        owner, repo, _ = split_key(epic.key)
        recent = self.http.get(f"/repos/{owner}/{repo}/issues", params={
            "state": "all", "sort": "created", "direction": "desc", "per_page": RECENT_ISSUES,
        })
        found: dict[str, dict] = {}
        for issue in recent:
            mark = read_gate_marker(issue.get("body"))
            if mark is not None and mark.epic == epic.key and mark.gate in gates:
                found.setdefault(mark.gate, issue)
        return found


def _labels(spec: GateSpec) -> list[str]:
    return sorted(set(spec.labels) | {GATE_LABEL})


def _block_work(epic: Epic, facts: EpicFacts, gate: GateRef, blocks: tuple[str, ...], ids: IdBook,
                links: LinkBatch, owner: int) -> list[str]:
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
        links.blocked_by(gate, ids.issue(blocked), owner)
        facts.blocked_by[blocked] = facts.blocked_by.get(blocked, 0) + 1
        blocking += 1
    facts.blocking[gate.key] = blocking
    return problems


def _worse(current: TrackerError | None, new: TrackerError) -> TrackerError:
    """A transient failure wins: retrying the whole apply may still finish everything."""
    if current is None or (isinstance(new, TransientError) and not isinstance(current, TransientError)):
        return new
    return current


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
