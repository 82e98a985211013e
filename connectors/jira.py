"""The Jira connector: reads pilot epics in batched searches and applies the engine's actions idempotently."""

from __future__ import annotations

import re
import time
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import requests

from connectors.base import Memory, NotFound, Outcome, PermanentError, split_keys
from connectors.jira_comments import CommentWriter, Comments
from connectors.jira_gates import Created, GateCreator, gates_among, link_body
from connectors.jira_http import JiraHttp
from connectors.jira_mapping import (
    CHILD_FIELDS, EPIC_FIELDS, GATE_PROPERTY, author_of, checked_key, checked_ref, comment_page, comment_text,
    to_ticket,
)
from connectors.recent_reads import RecentReads
from plugin.config import JiraConfig
from plugin.model import (
    Action, AddBlocksLink, AddLabel, CreateGates, Epic, SetCheck, Ticket, Tracker, UpsertComment,
)

PAGE_SIZE = 100  # search/jql returns at most 100 issues a page when fields are requested
RECONCILE_LIMIT = 50  # reconcileIssues accepts at most 50 ids
EPICS_PER_SEARCH = 50  # keys in one `parent in (...)` clause
# How long what `epic_of` read (the epic, and its children when the ticket was the epic) stands in for
# the snapshot: the event's snapshot follows at once unless the epic's lock is busy; apply drops it.
READ_EPIC_TTL = 2.0
_ORDER_BY = re.compile(r"\border\s+by\b.*$", re.IGNORECASE | re.DOTALL)
_APPLY_ORDER = {CreateGates: 0, AddBlocksLink: 1, AddLabel: 2, UpsertComment: 3, SetCheck: 4}

Raw = Mapping[str, Any]
Read = tuple[Raw, list[Raw] | None]  # an epic and, when read with it, its children


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
        self._ids: dict[str, int] = {}  # epic key -> issue id, for reconciled one-search snapshots
        self._seen_comments: dict[str, Comments] = {}
        self._recent: RecentReads[Read] = RecentReads(READ_EPIC_TTL)  # by epic_of, for the next snapshot

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
            raw_epics = list(self._search(f"{clause} {order or 'ORDER BY key ASC'}", EPIC_FIELDS, []))
            for batch in split_keys(raw_epics, EPICS_PER_SEARCH):
                for raw in batch:
                    self._remember(raw)
                children = self._children_caught_up([raw["key"] for raw in batch])
                for raw in batch:
                    yield self._epic(raw, children[raw["key"]])

    def snapshot(self, epic_key: str) -> Epic:
        """The epic and its children, read-after-write consistent.

        No call right after `epic_of` found the epic where it expected one (it read the children too),
        one search for the children when it found the epic elsewhere; otherwise one search
        `key = E OR parent = E` reconciled by the epic's id once an earlier read told the id, else
        two: GET the epic (strongly consistent, 404 when gone), then search its children.
        """
        key = checked_key(epic_key)
        raw, children = self._recent.take(key) or self._epic_and_children(key) or (None, None)
        if raw is None:
            raw = self.http.get(f"issue/{key}", {"fields": ",".join(EPIC_FIELDS)})
        self._remember(raw)
        if children is None:
            children = self._children([raw["key"]])[raw["key"]]
        return self._epic(raw, children)

    def epic_of(self, ticket_key: str) -> str | None:
        """The ticket itself if it is a pilot epic, else its parent if that is one; None otherwise.

        Accepts an issue id too (issuelink webhooks carry ids only). Two calls: GET the ticket (its
        parent and both ids: the payload's parent is only a hint), then one search reconciled by those
        ids (read-after-write like a GET) for the pilot among them and the children of the likely epic
        (the ticket, or its parent when the ticket's type ranks below epics), which the snapshot that
        follows reuses. The ticket is left out of its parent's children there, so that it is in the
        answer only if it is a pilot; its GET stands in for it.
        """
        stamp = self._recent.ticket()  # before any read: a write to the epic from now on voids what is kept
        try:
            ticket = self.http.get(f"issue/{checked_ref(ticket_key)}",
                                   {"fields": ",".join(EPIC_FIELDS), "properties": GATE_PROPERTY})
        except NotFound:
            return None
        key = checked_key(ticket["key"])
        fields = ticket.get("fields") or {}
        parent = fields.get("parent") or {}
        refs = [(key, ticket.get("id"))]
        if parent.get("key"):
            refs.append((checked_key(parent["key"]), parent.get("id")))
        candidates = [ref_key for ref_key, _ in refs]
        ids = [int(ref) for _, ref in refs if str(ref).isdigit()]
        likely = candidates[-1] if _below_epics(fields.get("issuetype")) else key
        hits, issues = self._pilots_and_children(candidates, ids, likely)
        found = next((candidate for candidate in candidates if candidate in hits), None)
        if found is not None:
            children = None
            if found == likely:
                children = [i for i in issues if _parent_key(i) == found] + ([ticket] if found != key else [])
                children.sort(key=_creation_order)
            self._recent.keep(found, stamp, (), (hits[found], children))
        return found

    def _pilots_and_children(
        self, candidates: Sequence[str], ids: Sequence[int], likely: str
    ) -> tuple[dict[str, Raw], list[Raw]]:
        """The pilots among the candidates (the ticket first) by key, and the issues read with them:
        the children of `likely` when it is a pilot (the ticket itself left out), else at most a page."""
        ticket = candidates[0]
        pilots, _ = _split_order(self.config.pilots)
        pilot_clause = f"({pilots}) AND key in ({', '.join(candidates)})"
        children = f"parent = {likely}" if likely == ticket else f"(parent = {likely} AND key != {ticket})"
        gates = sorted(self._gate_ids(likely) - set(ids))[: RECONCILE_LIMIT - len(ids)]
        pages = self._pages(f"({pilot_clause}) OR {children} ORDER BY created ASC", EPIC_FIELDS,
                            [GATE_PROPERTY], [*ids, *gates])
        issues, more = next(pages, ([], False))
        hits = {issue["key"]: issue for issue in issues if issue["key"] in candidates}
        if more and likely not in hits:
            # Not a pilot on the first page: rather than page through the children of what may be no
            # pilot at all (or an epic sorted after them), ask about the candidates alone, 1 call.
            hits = {issue["key"]: issue for issue in self._search(pilot_clause, EPIC_FIELDS, [], ids)}
        if likely in hits:
            for page, _ in pages:
                issues += page
        pages.close()
        return hits, issues

    def _epic_and_children(self, key: str) -> Read | None:
        """One search for an epic whose id is known, reconciled by it; None when it cannot tell (gone, renamed)."""
        epic_id = self._ids.get(key)
        if epic_id is None:
            return None
        gates = sorted(self._gate_ids(key) - {epic_id})[: RECONCILE_LIMIT - 1]
        try:
            issues = list(self._search(f"key = {key} OR parent = {key} ORDER BY created ASC", EPIC_FIELDS,
                                       [GATE_PROPERTY], [epic_id, *gates]))
        except PermanentError as err:
            if err.status != 400:  # JQL names a key that no longer exists: the GET tells what happened
                raise
            return None
        raw = next((issue for issue in issues if str(issue.get("id")) == str(epic_id)), None)
        if raw is None:
            return None
        return raw, [issue for issue in issues if _parent_key(issue) == raw["key"]]

    def _search(
        self, jql: str, fields: Sequence[str], properties: Sequence[str], reconcile: Iterable[int] = ()
    ) -> Iterator[Raw]:
        for issues, _ in self._pages(jql, fields, properties, reconcile):
            yield from issues

    def _pages(
        self, jql: str, fields: Sequence[str], properties: Sequence[str], reconcile: Iterable[int] = ()
    ) -> Iterator[tuple[list[Raw], bool]]:
        """Each page of a search and whether more follow."""
        if not self.config.is_cloud:
            yield from self._pages_data_center(jql, fields, properties)
            return
        body: dict[str, Any] = {"jql": jql, "fields": list(fields), "maxResults": PAGE_SIZE}
        if properties:
            body["properties"] = list(properties)
        ids = sorted(set(reconcile))[:RECONCILE_LIMIT]
        if ids:
            body["reconcileIssues"] = ids  # the same list on every page, as Jira requires
        while True:
            page = self.http.post("search/jql", body) or {}
            token = page.get("nextPageToken")
            last = bool(page.get("isLast", token is None)) or not token
            yield list(page.get("issues") or []), not last
            if last:
                return
            body["nextPageToken"] = token

    def _pages_data_center(
        self, jql: str, fields: Sequence[str], properties: Sequence[str]
    ) -> Iterator[tuple[list[Raw], bool]]:
        """Data Center keeps the classic search: startAt paging, no reconcile (it is consistent there)."""
        start = 0
        while True:
            body = {"jql": jql, "fields": list(fields), "startAt": start, "maxResults": PAGE_SIZE}
            if properties:
                body["properties"] = list(properties)
            page = self.http.post("search", body) or {}
            issues = list(page.get("issues") or [])
            start += len(issues)
            more = bool(issues) and start < (page.get("total") or 0)
            yield issues, more
            if not more:
                return

    def _gate_ids(self, epic_key: str) -> set[int]:
        """Ids of the gates the ledger knows: passed as reconcileIssues."""
        refs = self.memory.gate_refs(Tracker.JIRA, epic_key).values()
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
            parent = _parent_key(issue)
            if parent in grouped:
                grouped[parent].append(issue)
        return grouped

    def _gates_in_tracker(self, epic_key: str) -> Created:
        """A fresh look at the epic's gates after a create whose answer was lost."""
        return gates_among(self._children([epic_key])[epic_key])

    def _remember(self, raw_epic: Raw) -> None:
        """Keep what the Epic model does not carry: the epic's id (for one-search snapshots) and project."""
        key = raw_epic["key"]
        if str(raw_epic.get("id")).isdigit():
            self._ids[key] = int(raw_epic["id"])
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
        # Every write to an epic's tree comes through here under its key: stamped before and after,
        # so a read of the epic begun before or during it is never served to a later snapshot.
        self._recent.written([epic.key])
        outcomes: dict[int, Outcome] = {}
        try:
            for index, action in sorted(enumerate(actions), key=lambda item: _APPLY_ORDER[type(item[1])]):
                outcomes[index] = self._apply_one(epic, action)
        finally:
            self._recent.written([epic.key])
        return [outcomes[index] for index in range(len(actions))]

    def _apply_one(self, epic: Epic, action: Action) -> Outcome:
        if isinstance(action, CreateGates):
            return self.gates.apply(epic, action, self._project_of(epic))
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


def _below_epics(issuetype: Mapping[str, Any] | None) -> bool:
    """Whether an issue of this type is work under an epic (Cloud's hierarchy levels: epic 1, work 0,
    sub-task -1); Data Center has no levels, only the sub-task flag."""
    issuetype = issuetype or {}
    level = issuetype.get("hierarchyLevel")
    return level < 1 if isinstance(level, int) else bool(issuetype.get("subtask"))


def _creation_order(raw: Raw) -> tuple[str, int]:
    ref = str(raw.get("id", ""))
    return (raw.get("fields") or {}).get("created") or "", int(ref) if ref.isdigit() else 0


def _parent_key(raw: Raw) -> str | None:
    return ((raw.get("fields") or {}).get("parent") or {}).get("key")


def _split_order(jql: str) -> tuple[str, str]:
    """The pilots JQL without its ORDER BY (so it can be parenthesized and narrowed), and that clause."""
    match = _ORDER_BY.search(jql)
    if not match:
        return jql.strip(), ""
    return jql[: match.start()].strip(), match.group(0).strip()
