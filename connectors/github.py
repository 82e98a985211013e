"""Pilot Gate on GitHub: epics are labelled issues, gates are sub-issues that block the work through dependencies."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable, Iterator, Sequence

import requests
from github import Auth, Github

from connectors.base import Memory, NotFound, Outcome, PermanentError, TrackerError, TransientError, split_keys
from connectors.github_graphql import (
    CONTENT_NODE,
    EPIC_OF,
    EPICS_PER_QUERY,
    MAX_DEPENDENCIES,
    PROJECT_ITEM,
    SEARCH_EPICS,
    EpicFacts,
    RepoFacts,
    epics_by_key,
    is_pilot,
    node_key,
    search_query,
    to_epic,
)
from connectors.github_http import GitHubHttp
from connectors.github_markers import COMMENT_MARKER, NOTE_MARKER, split_key
from connectors.github_ids import GateRef, IdBook
from connectors.github_writes import CommentWriter, GateProvisioner, LinkBatch
from connectors.recent_reads import RecentReads
from plugin.config import GitHubConfig
from plugin.model import (
    Action,
    AddBlocksLink,
    AddLabel,
    CreateGates,
    Epic,
    SetCheck,
    Tracker,
    UpsertComment,
)

log = logging.getLogger(__name__)
STATUS_CONTEXT = "pilotgate/gates"
REPOS_PER_SEARCH = 5  # keeps the search string well under GitHub's 256-character query limit
_APPLY_ORDER = {CreateGates: 0, AddBlocksLink: 1, AddLabel: 2, UpsertComment: 3, SetCheck: 4}


class GitHubConnector:
    """The Connector protocol over GitHub's REST and GraphQL APIs (github.com, GHES, or the sandbox)."""

    tracker = Tracker.GITHUB

    def __init__(
        self,
        config: GitHubConfig,
        memory: Memory,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.memory = memory
        self.http = GitHubHttp(config.api_url, authorization(config), session=session, sleep=sleep,
                               clock=clock, timeout=config.timeout)
        self._gates = GateProvisioner(self.http, memory)
        self._comments = CommentWriter(self.http, memory)
        self._facts: dict[str, EpicFacts] = {}
        self._repos: dict[str, RepoFacts] = {}  # lower-case owner/name -> node id and label ids
        # What epic_of read (repository node, epic node), for the snapshot that follows it.
        self._recent: RecentReads[tuple[dict, dict]] = RecentReads(clock=clock)

    # reading

    def pilot_epics(self, only: Sequence[str] | None = None) -> Iterator[Epic]:
        if only is not None:
            for chunk in split_keys(only, EPICS_PER_QUERY):
                yield from (e for e in self._read_epics(chunk) if e is not None and self._is_open_pilot(e))
            return
        for repos in split_keys(self.config.repositories, REPOS_PER_SEARCH):
            yield from self._search_epics(repos)

    def snapshot(self, epic_key: str) -> Epic:
        """One GraphQL read of the epic and its sub-issues; none right after `epic_of` found this epic
        (it read the same fragment), unless this process wrote to the epic since that read began."""
        kept = self._recent.take(epic_key)
        if kept is not None:
            repository, node = kept
            self._learn_repository(repository)
            return self._remember(node)
        epic = self._read_epics([epic_key])[0]
        if epic is None:
            raise NotFound(f"{epic_key}: no such issue, or the bot may not see it")
        return epic

    def epic_of(self, ticket_key: str) -> str | None:
        """The issue itself if it is a configured pilot, else its parent if that is one; None otherwise.

        One GraphQL request reads both as a snapshot reads an epic (sub-issues, comments, repository
        and label ids); the pilot's answer is kept for the snapshot that follows (RecentReads).
        """
        owner, repo, number = split_key(ticket_key)
        ticket = self._recent.ticket()
        repository = self.http.graphql(EPIC_OF, {"owner": owner, "name": repo, "number": number}).get("repository")
        issue = (repository or {}).get("issue")
        if issue is None:
            return None
        parent = issue.get("parent")
        for candidate, where in ((issue, repository), (parent, (parent or {}).get("repository"))):
            if candidate and self._is_configured_pilot(candidate):
                key = node_key(candidate)
                self._recent.keep(key, ticket, _covered(candidate), (where, candidate))
                return key
        return None

    def project_item_status(self, item_node_id: str) -> tuple[str | None, str | None]:
        """A Projects v2 item's content as `owner/repo#n` (None unless an issue) and its Status name."""
        node = self.http.graphql(PROJECT_ITEM, {"id": item_node_id}).get("node") or {}
        content = node.get("content") or {}
        status = (node.get("fieldValueByName") or {}).get("name")
        return (node_key(content) if content.get("number") else None), status

    def ticket_key_of_node(self, content_node_id: str) -> str | None:
        """`owner/repo#n` of the issue behind a node id (a projects_v2_item's content_node_id)."""
        node = self.http.graphql(CONTENT_NODE, {"id": content_node_id}).get("node") or {}
        return node_key(node) if node.get("number") else None

    def _read_epics(self, keys: Sequence[str]) -> list[Epic | None]:
        variables: dict[str, object] = {}
        for i, key in enumerate(keys):
            variables[f"o{i}"], variables[f"r{i}"], variables[f"n{i}"] = split_key(key)
        data = self.http.graphql(epics_by_key(len(keys)), variables)
        for i in range(len(keys)):
            self._learn_repository(data.get(f"e{i}"))
        return [self._remember(((data.get(f"e{i}") or {}).get("issue"))) for i in range(len(keys))]

    def _learn_repository(self, repository: dict | None) -> None:
        if repository and repository.get("id"):
            self._repos[repository["nameWithOwner"].lower()] = RepoFacts.from_node(repository)

    def _search_epics(self, repos: Sequence[str]) -> Iterator[Epic]:
        variables = {"q": search_query(repos, self.config.pilot_label), "first": EPICS_PER_QUERY, "after": None}
        while True:
            found = self.http.graphql(SEARCH_EPICS, variables)["search"]
            for node in found["nodes"]:
                if node and self._is_configured_pilot(node):
                    yield self._remember(node)
            if not found["pageInfo"]["hasNextPage"]:
                return
            variables["after"] = found["pageInfo"]["endCursor"]

    def _remember(self, node: dict | None) -> Epic | None:
        if node is None:
            return None
        epic, facts = to_epic(node, self.config.in_progress)
        self._facts[epic.key] = facts
        return epic

    def _is_configured_pilot(self, node: dict) -> bool:
        repository = node["repository"]["nameWithOwner"].lower()
        return (repository in {r.lower() for r in self.config.repositories}
                and is_pilot(node, self.config.pilot_label, self.config.epic_type))

    def _is_open_pilot(self, epic: Epic) -> bool:
        labels = {label.lower() for label in epic.ticket.labels}
        wanted_type = self.config.epic_type
        return (epic.ticket.status != "closed" and self.config.pilot_label.lower() in labels
                and (wanted_type is None or (epic.ticket.issue_type or "").lower() == wanted_type.lower()))

    # writing

    def apply(self, epic: Epic, actions: Sequence[Action]) -> list[Outcome]:
        """Gates first (later actions may name them), then links, labels, comments, statuses.

        The gates are created in one GraphQL request; every link they and the AddBlocksLink actions need
        goes out in one more, before the first label, comment or status. A refused action
        (PermanentError) becomes a not-done Outcome so the others still happen; TransientError
        propagates once what succeeded is recorded: the whole batch is safe to repeat.
        Every issue it may change is stamped as written before and after, so no read kept from before
        stands in for a snapshot after it (nor one of a repository whose labels it created).
        """
        touched = _touched(epic, actions)
        self._recent.written(touched)
        ids = IdBook(self.http, self._repos, epic)
        try:
            return self._apply_all(epic, actions, ids)
        finally:
            self._recent.written(touched | {_labels_of(r) for r in ids.labels_created_in})

    def _apply_all(self, epic: Epic, actions: Sequence[Action], ids: IdBook) -> list[Outcome]:
        facts = self._facts.get(epic.key) or _facts_from(epic)
        links = LinkBatch()
        problems: list[str] = []
        outcomes: dict[int, Outcome] = {}
        pending: dict[int, TrackerError] = {}  # CreateGates index -> error to report once links are sent
        for index in sorted(range(len(actions)), key=lambda i: _APPLY_ORDER[type(actions[i])]):
            action = actions[index]
            if (links or pending) and not isinstance(action, (CreateGates, AddBlocksLink)):
                self._send_links(actions, links, outcomes, pending)
            try:
                outcomes[index] = self._apply_one(epic, facts, action, problems, ids, links, index, pending)
            except PermanentError as err:
                log.warning("github: %s on %s refused: %s", type(action).__name__, epic.key, err)
                outcomes[index] = Outcome(action, done=False, reason=f"refused: {err}")
        self._send_links(actions, links, outcomes, pending)
        if problems:
            self._note_limits(epic, facts, problems)
        return [outcomes[i] for i in range(len(actions))]

    def _apply_one(self, epic: Epic, facts: EpicFacts, action: Action, problems: list[str], ids: IdBook,
                   links: LinkBatch, index: int, pending: dict[int, TrackerError]) -> Outcome:
        if isinstance(action, CreateGates):
            result = self._gates.create(epic, facts, action, ids, links, index)
            problems += result.problems
            if result.error is not None:
                pending[index] = result.error
            reason = "; ".join(result.problems) or ("" if result.created else "gates already exist")
            return Outcome(action, done=bool(result.created), reason=reason, created_keys=tuple(result.created),
                           gates_exist=not result.created and not result.problems and result.error is None)
        if isinstance(action, AddBlocksLink):
            return self._add_blocks_link(epic, facts, action, problems, ids, links, index)
        if isinstance(action, UpsertComment):
            result, comment_id = self._comments.upsert(action.ticket_key, COMMENT_MARKER, action.body,
                                                       facts.comments.get(action.ticket_key))
            facts.comments[action.ticket_key] = (comment_id, action.body)
            return Outcome(action, done=result != "unchanged", reason=result)
        if isinstance(action, AddLabel):
            return self._add_label(epic, action)
        return self._set_check(epic, action)

    def _add_blocks_link(self, epic: Epic, facts: EpicFacts, action: AddBlocksLink, problems: list[str],
                         ids: IdBook, links: LinkBatch, index: int) -> Outcome:
        """Queued on `links`; the Outcome is replaced by what GitHub answers when the batch is sent."""
        blocked = epic.child(action.blocked_key)
        if blocked is not None and action.blocker_key in blocked.blocked_by:
            return Outcome(action, done=False, reason="already linked")
        if (facts.blocked_by.get(action.blocked_key, 0) >= MAX_DEPENDENCIES
                or facts.blocking.get(action.blocker_key, 0) >= MAX_DEPENDENCIES):
            problems.append(f"{action.blocker_key} could not be marked as blocking {action.blocked_key}: "
                            f"GitHub allows at most {MAX_DEPENDENCIES} dependencies of each kind per issue")
            return Outcome(action, done=False, reason="dependency limit reached")
        self._learn_gate_ref(epic, ids, action.blocker_key)
        ids.resolve(action.blocker_key.split("#", 1)[0], issues=[action.blocker_key, action.blocked_key])
        links.blocked_by(ids.issue(action.blocker_key), ids.issue(action.blocked_key), index)
        facts.blocked_by[action.blocked_key] = facts.blocked_by.get(action.blocked_key, 0) + 1
        facts.blocking[action.blocker_key] = facts.blocking.get(action.blocker_key, 0) + 1
        return Outcome(action, done=True)

    def _learn_gate_ref(self, epic: Epic, ids: IdBook, key: str) -> None:
        """A gate the snapshot does not show yet: its ids from the ledger, so no lookup is needed."""
        if key in ids.issues:
            return
        refs = self.memory.gate_refs(Tracker.GITHUB, epic.key)
        for gate, ticket in self.memory.gate_tickets(Tracker.GITHUB, epic.key).items():
            if ticket == key and gate in refs and refs[gate].partition(":")[2]:
                ids.remember(GateRef.parse(key, refs[gate]))

    def _send_links(self, actions: Sequence[Action], links: LinkBatch, outcomes: dict[int, Outcome],
                    pending: dict[int, TrackerError]) -> None:
        """Sends the queued links; settles the Outcomes that waited for them. A link whose fate is unknown
        or that was rate limited raises TransientError after the others are settled."""
        retry: TrackerError | None = None
        refused: dict[int, list[str]] = {}
        for link, failure in links.send(self.http):
            if isinstance(failure, TransientError):
                retry = retry or failure
            elif failure is not None:
                log.warning("github: link %s refused: %s", link.about, failure)
                refused.setdefault(link.owner, []).append(f"{link.about}: {failure}")
        for index, error in pending.items():  # gates GitHub refused to create
            refused.setdefault(index, []).insert(0, f"gates refused: {error}")
        retry = retry or next((e for e in pending.values() if isinstance(e, TransientError)), None)
        pending.clear()
        if retry is not None:
            raise retry
        for index, reasons in refused.items():
            before = outcomes[index]
            if isinstance(actions[index], AddBlocksLink):
                outcomes[index] = Outcome(actions[index], done=False, reason=f"refused: {reasons[0]}")
            else:
                reason = "; ".join(filter(None, [before.reason, *reasons]))
                outcomes[index] = Outcome(actions[index], done=before.done, reason=reason,
                                          created_keys=before.created_keys)

    def _add_label(self, epic: Epic, action: AddLabel) -> Outcome:
        ticket = epic.ticket if epic.key == action.ticket_key else epic.child(action.ticket_key)
        if ticket is not None and action.label in ticket.labels:
            return Outcome(action, done=False, reason="already labelled")
        owner, repo, number = split_key(action.ticket_key)
        self.http.request("POST", f"/repos/{owner}/{repo}/issues/{number}/labels",
                          body={"labels": [action.label]})
        return Outcome(action, done=True)

    def _set_check(self, epic: Epic, action: SetCheck) -> Outcome:
        owner, repo, number = split_key(action.ticket_key)
        if action.pull_request:  # a pull request in another repository closes this ticket
            owner, repo, _ = split_key(action.pull_request)
        ticket = epic.child(action.ticket_key) or (epic.ticket if epic.key == action.ticket_key else None)
        self.http.request("POST", f"/repos/{owner}/{repo}/statuses/{action.sha}", body={
            "state": "success" if action.passed else "failure",
            "target_url": (ticket.url if ticket and ticket.url else self._html_url(owner, repo, number)),
            "description": _short(action.description, 140),
            "context": STATUS_CONTEXT,
        })
        return Outcome(action, done=True)

    def _note_limits(self, epic: Epic, facts: EpicFacts, problems: list[str]) -> None:
        text = "Pilot Gate could not finish wiring this pilot:\n\n" + "\n".join(f"- {p}" for p in problems)
        _, note_id = self._comments.upsert(epic.key, NOTE_MARKER, text, facts.notes.get(epic.key), remember=False)
        facts.notes[epic.key] = (note_id, text)

    def _html_url(self, owner: str, repo: str, number: int) -> str:
        base = self.config.api_url
        if base.endswith("/api/v3"):
            base = base[: -len("/api/v3")]
        elif base == "https://api.github.com":
            base = "https://github.com"
        return f"{base}/{owner}/{repo}/issues/{number}"


def authorization(config: GitHubConfig) -> Callable[[], str]:
    """The Authorization header value: a token, or a GitHub App installation token PyGithub refreshes."""
    if config.token:
        token = config.token
        return lambda: f"Bearer {token}"
    app = Auth.AppAuth(config.app_id, _private_key(config.private_key or ""))
    installation = app.get_installation_auth(int(config.installation_id))
    # Binding a client gives the installation auth a requester to fetch and refresh its tokens with.
    Github(auth=installation, base_url=config.api_url, timeout=int(config.timeout),
           seconds_between_requests=None, seconds_between_writes=None)
    return lambda: f"token {installation.token}"


def _private_key(value: str) -> str:
    """The PEM text itself, or the path of a file holding it."""
    if "-----BEGIN" in value:
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise PermanentError("github.private_key is neither a PEM key nor the path of a readable file")
    return path.read_text(encoding="utf-8")


def _covered(node: dict) -> set[str]:
    """What a read of an epic shows, as `_touched` names it: its sub-issues and its repository's labels."""
    children = {node_key(child).lower() for child in node["subIssues"]["nodes"]}
    return children | {node_key(node).lower(), _labels_of(node["repository"]["nameWithOwner"])}


def _touched(epic: Epic, actions: Sequence[Action]) -> set[str]:
    """Every issue `actions` may change on `epic`, lower-cased: stamps must match whatever case reads use."""
    keys = {epic.key}
    for action in actions:
        if isinstance(action, CreateGates):
            keys.add(action.epic_key)
            keys.update(blocked for gate in action.gates for blocked in gate.blocks)
        elif isinstance(action, AddBlocksLink):
            keys.update((action.blocker_key, action.blocked_key))
        else:
            keys.add(action.ticket_key)
    return {key.lower() for key in keys}


def _labels_of(repository: str) -> str:
    return f"labels of {repository.lower()}"


def _facts_from(epic: Epic) -> EpicFacts:
    """Counts from an Epic this connector did not read itself (a fake's, a cached one)."""
    tickets = (epic.ticket,) + epic.children
    blocking: dict[str, int] = {}
    for ticket in tickets:
        for blocker in ticket.blocked_by:
            blocking[blocker] = blocking.get(blocker, 0) + 1
    return EpicFacts(sub_issues=len(epic.children), blocked_by={t.key: len(t.blocked_by) for t in tickets},
                     blocking=blocking)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

