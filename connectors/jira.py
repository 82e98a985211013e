"""The Jira connector: reads pilot epics in batched searches and applies the engine's actions idempotently."""

from __future__ import annotations

import re
import time
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import requests

from connectors.base import Memory, NotFound, Outcome, split_keys
from connectors.jira_comments import CommentWriter, Comments
from connectors.jira_gates import Created, GateCreator, gates_among, link_body
from connectors.jira_http import JiraHttp
from connectors.jira_mapping import (
    CHILD_FIELDS, EPIC_FIELDS, EPIC_PROPERTY, GATE_PROPERTY, author_of, checked_key, checked_ref,
    comment_page, comment_text, recorded_gates, to_ticket,
)
from plugin.config import JiraConfig
from plugin.model import (
    Action, AddBlocksLink, AddLabel, CreateGates, Epic, SetCheck, Ticket, Tracker, UpsertComment,
)

PAGE_SIZE = 100  # search/jql returns at most 100 issues a page when fields are requested
RECONCILE_LIMIT = 50  # reconcileIssues accepts at most 50 ids
EPICS_PER_SEARCH = 50  # keys in one `parent in (...)` clause
# How long an epic `epic_of` read stands in for the snapshot's GET: the event's snapshot follows at
# once unless the epic's lock is busy; a write to the epic drops it (see apply).
READ_EPIC_TTL = 2.0
_ORDER_BY = re.compile(r"\border\s+by\b.*$", re.IGNORECASE | re.DOTALL)
_APPLY_ORDER = {CreateGates: 0, AddBlocksLink: 1, AddLabel: 2, UpsertComment: 3, SetCheck: 4}


class JiraConnector:
    """Pilot Gate's side of Jira Cloud (search/jql, token paging) and Data Center (search, startAt paging)."""

    tracker = Tracker.JIRA

    def __init__(
        self,
        config: JiraConfig,
        memory: Memory,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.memory = memory
        self.http = JiraHttp(config, session, sleep)
        self.gates = GateCreator(self.http, memory, config, self._gates_in_tracker)
        self.comments = CommentWriter(self.http, memory, config)
        # What the latest snapshot of each epic showed that the Epic model does not carry.
        self._projects: dict[str, str] = {}
        self._recorded: dict[str, dict[str, dict[str, str]]] = {}
        self._seen_comments: dict[str, Comments] = {}
        self._read_epics: dict[str, tuple[float, Mapping[str, Any]]] = {}  # by epic_of, for the next snapshot

    # reading

    def pilot_epics(self, only: Sequence[str] | None = None) -> Iterator[Epic]:
        """Every pilot epic: one paged search for the epics, then one `parent in (...)` search per batch."""
        pilots, order = _split_order(self.config.pilots)
        if only is None:
            clauses = [f"({pilots})"]
        else:
            keys = [checked_key(k) for k in only]
            clauses = [f"({pilots}) AND key in ({', '.join(chunk)})" for chunk in split_keys(keys, EPICS_PER_SEARCH)]
        for clause in clauses:
            raw_epics = list(self._search(f"{clause} {order or 'ORDER BY key ASC'}", EPIC_FIELDS, [EPIC_PROPERTY]))
            for batch in split_keys(raw_epics, EPICS_PER_SEARCH):
                for raw in batch:
                    self._remember(raw)
                children = self._children_caught_up([raw["key"] for raw in batch])
                for raw in batch:
                    yield self._epic(raw, children[raw["key"]])

    def snapshot(self, epic_key: str) -> Epic:
        """Two calls: GET the epic (strongly consistent, with its gate record), then search its children.

        One call right after `epic_of` found this epic: its reconciled search already read the epic.
        """
        key = checked_key(epic_key)
        raw = self._just_read(key)
        if raw is None:
            raw = self.http.get(f"issue/{key}", {"fields": ",".join(EPIC_FIELDS), "properties": EPIC_PROPERTY})
        self._remember(raw)
        return self._epic(raw, self._children([raw["key"]])[raw["key"]])

    def epic_of(self, ticket_key: str) -> str | None:
        """The ticket itself if it is a pilot epic, else its parent if that is one; None otherwise.

        Accepts an issue id too (issuelink webhooks carry ids only). Two calls: the ticket, one search.
        The search reads the epic as `snapshot` would, reconciled by id (read-after-write like a GET),
        so the snapshot that follows needs only its children.
        """
        try:
            raw = self.http.get(f"issue/{checked_ref(ticket_key)}", {"fields": "parent"})
        except NotFound:
            return None
        parent = (raw.get("fields") or {}).get("parent") or {}
        refs = [(raw["key"], raw.get("id"))]
        if parent.get("key"):
            refs.append((checked_key(parent["key"]), parent.get("id")))
        candidates = [key for key, _ in refs]
        ids = [int(ref) for _, ref in refs if str(ref).isdigit()]
        pilots, _ = _split_order(self.config.pilots)
        jql = f"({pilots}) AND key in ({', '.join(candidates)})"
        hits = {issue["key"]: issue for issue in self._search(jql, EPIC_FIELDS, [EPIC_PROPERTY], ids)}
        found = next((key for key in candidates if key in hits), None)
        if found is not None:
            self._keep_read(found, hits[found])
        return found

    def _keep_read(self, key: str, raw: Mapping[str, Any]) -> None:
        now = time.monotonic()
        for old in [k for k, (at, _) in self._read_epics.items() if now - at > READ_EPIC_TTL]:
            self._read_epics.pop(old, None)
        self._read_epics[key] = (now, raw)

    def _just_read(self, key: str) -> Mapping[str, Any] | None:
        """The epic `epic_of` read a moment ago, once; older than READ_EPIC_TTL it is read again."""
        at, raw = self._read_epics.pop(key, (0.0, None))
        return raw if time.monotonic() - at <= READ_EPIC_TTL else None

    def _search(
        self, jql: str, fields: Sequence[str], properties: Sequence[str], reconcile: Iterable[int] = ()
    ) -> Iterator[Mapping[str, Any]]:
        if not self.config.is_cloud:
            yield from self._search_data_center(jql, fields, properties)
            return
        body: dict[str, Any] = {"jql": jql, "fields": list(fields), "maxResults": PAGE_SIZE}
        if properties:
            body["properties"] = list(properties)
        ids = sorted(set(reconcile))[:RECONCILE_LIMIT]
        if ids:
            body["reconcileIssues"] = ids  # the same list on every page, as Jira requires
        while True:
            page = self.http.post("search/jql", body) or {}
            yield from page.get("issues") or []
            token = page.get("nextPageToken")
            if page.get("isLast", token is None) or not token:
                return
            body["nextPageToken"] = token

    def _search_data_center(
        self, jql: str, fields: Sequence[str], properties: Sequence[str]
    ) -> Iterator[Mapping[str, Any]]:
        """Data Center keeps the classic search: startAt paging, no reconcile (it is consistent there)."""
        start = 0
        while True:
            body = {"jql": jql, "fields": list(fields), "startAt": start, "maxResults": PAGE_SIZE}
            if properties:
                body["properties"] = list(properties)
            page = self.http.post("search", body) or {}
            issues = page.get("issues") or []
            yield from issues
            start += len(issues)
            if not issues or start >= (page.get("total") or 0):
                return

    def _gate_ids(self, epic_key: str) -> set[int]:
        """Ids of gates known to exist (ledger and epic property): passed as reconcileIssues."""
        refs = set(self.memory.gate_refs(Tracker.JIRA, epic_key).values())
        refs |= {entry["id"] for entry in self._recorded.get(epic_key, {}).values()}
        return {int(ref) for ref in refs if ref and ref.isdigit()}

    def _children_caught_up(self, epic_keys: Sequence[str]) -> dict[str, list[Mapping[str, Any]]]:
        """Children of up to 50 epics; epics whose known gates the index lacks are read again, reconciled.

        Reconciling every known gate in the first search would cap a batch at 12 epics (4 gates
        each, 50 ids); while the index is current (nearly always) this costs no extra call at all.
        """
        grouped = self._children(epic_keys, reconcile=False)
        lagging = {}
        for key in epic_keys:
            missing = self._gate_ids(key) - {int(raw["id"]) for raw in grouped[key] if str(raw.get("id")).isdigit()}
            if missing:
                lagging[key] = self._gate_ids(key)
        batch: list[str] = []
        for key in lagging:
            if batch and sum(len(lagging[k]) for k in batch) + len(lagging[key]) > RECONCILE_LIMIT:
                grouped.update(self._children(batch))
                batch = []
            batch.append(key)
        if batch:
            grouped.update(self._children(batch))
        return grouped

    def _children(self, epic_keys: Sequence[str], reconcile: bool = True) -> dict[str, list[Mapping[str, Any]]]:
        """Children of these epics in one paged search; with `reconcile`, gates known to exist are
        brought up to date even where the search index has not caught up (read-after-write)."""
        ids: set[int] = set()
        for key in epic_keys if reconcile else ():
            ids |= self._gate_ids(key)
        jql = f"parent in ({', '.join(epic_keys)}) ORDER BY created ASC"
        grouped: dict[str, list[Mapping[str, Any]]] = {key: [] for key in epic_keys}
        for issue in self._search(jql, CHILD_FIELDS, [GATE_PROPERTY], ids):
            parent = ((issue.get("fields") or {}).get("parent") or {}).get("key")
            if parent in grouped:
                grouped[parent].append(issue)
        return grouped

    def _gates_in_tracker(self, epic_key: str) -> Created:
        """A fresh look at the epic's gates after a create whose answer was lost."""
        return gates_among(self._children([epic_key])[epic_key])

    def _remember(self, raw_epic: Mapping[str, Any]) -> None:
        """Keep what the Epic model does not carry: the epic's gate record and its project."""
        key = raw_epic["key"]
        self._recorded[key] = recorded_gates(raw_epic)
        project = ((raw_epic.get("fields") or {}).get("project") or {}).get("key")
        if project:
            self._projects[key] = project

    def _epic(self, raw_epic: Mapping[str, Any], raw_children: Sequence[Mapping[str, Any]]) -> Epic:
        ticket = to_ticket(raw_epic, self.config.url, self.config.link_type)
        children = tuple(to_ticket(raw, self.config.url, self.config.link_type) for raw in raw_children)
        bot_comments = {}
        for raw in (raw_epic, *raw_children):
            seen = comment_page(raw.get("fields") or {})
            self._seen_comments[raw["key"]] = seen
            text = self._bot_comment(raw["key"], seen[0])
            if text is not None:
                bot_comments[raw["key"]] = text
        return Epic(ticket=ticket, children=children, bot_comments=MappingProxyType(bot_comments))

    def _bot_comment(self, ticket_key: str, comments: Sequence[Mapping[str, Any]]) -> str | None:
        """Text of the bot's comment among those the search returned: the ledger's id, else the bot's own."""
        if not comments:
            return None  # most tickets of a sweep: no ledger query (it was over half of a sweep's own time)
        remembered = self.memory.comment_id(Tracker.JIRA, ticket_key)
        bot = self.config.bot_account
        for comment in comments:
            if str(comment.get("id")) == remembered or (not remembered and bot and author_of(comment) == bot):
                return comment_text(comment.get("body"))
        return None

    # writing

    def apply(self, epic: Epic, actions: Sequence[Action]) -> list[Outcome]:
        """Gates first (links to them ride in the create), then links, labels, comments; outcomes in input order."""
        self._read_epics.pop(epic.key, None)
        outcomes: dict[int, Outcome] = {}
        for index, action in sorted(enumerate(actions), key=lambda item: _APPLY_ORDER[type(item[1])]):
            outcomes[index] = self._apply_one(epic, action)
        return [outcomes[index] for index in range(len(actions))]

    def _apply_one(self, epic: Epic, action: Action) -> Outcome:
        if isinstance(action, CreateGates):
            return self.gates.apply(epic, action, self._project_of(epic), self._recorded.get(epic.key, {}))
        if isinstance(action, AddBlocksLink):
            return self._add_link(epic, action)
        if isinstance(action, AddLabel):
            return self._add_label(epic, action)
        if isinstance(action, UpsertComment):
            return self.comments.apply(action, self._seen_comments.get(action.ticket_key))
        if isinstance(action, SetCheck):
            return Outcome(action, done=False, reason="not supported: commit checks exist on GitHub only")
        raise TypeError(f"JiraConnector cannot apply {type(action).__name__}")

    def _add_link(self, epic: Epic, action: AddBlocksLink) -> Outcome:
        blocked = _ticket(epic, action.blocked_key)
        if blocked is not None and action.blocker_key in blocked.blocked_by:
            return Outcome(action, done=False, reason="link already exists")
        body = link_body(self.config.link_type, checked_key(action.blocker_key), checked_key(action.blocked_key))
        self.http.post("issueLink", body)  # Jira answers "created" for a duplicate: safe to retry
        return Outcome(action, done=True)

    def _add_label(self, epic: Epic, action: AddLabel) -> Outcome:
        ticket = _ticket(epic, action.ticket_key)
        if ticket is not None and action.label in ticket.labels:
            return Outcome(action, done=False, reason="label already set")
        self.http.put(f"issue/{checked_key(action.ticket_key)}", {"update": {"labels": [{"add": action.label}]}})
        return Outcome(action, done=True)

    def _project_of(self, epic: Epic) -> str:
        """Where gates go: the configured project, else the epic's (from its snapshot or its key)."""
        return self.config.project or self._projects.get(epic.key) or epic.key.rsplit("-", 1)[0]


def _ticket(epic: Epic, key: str) -> Ticket | None:
    return epic.ticket if epic.key == key else epic.child(key)


def _split_order(jql: str) -> tuple[str, str]:
    """The pilots JQL without its ORDER BY (so it can be parenthesized and narrowed), and that clause."""
    match = _ORDER_BY.search(jql)
    if not match:
        return jql.strip(), ""
    return jql[: match.start()].strip(), match.group(0).strip()
