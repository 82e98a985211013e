"""The bot's one comment per Jira ticket: found by an invisible comment property, edited only when it changed.

Why a comment property and not a text marker: properties never render (not in the issue view, not
in e-mails, not in the v2 wiki to ADF conversion on Cloud), humans cannot edit them in the UI, and
they are set in the same POST that creates the comment, so there is no window where a comment exists
without its marker. Reading them costs one call (the ticket's comments with properties expanded,
plus `comment/list?expand=properties` where a server does not expand them there), needed only when
the ledger has no comment id for the ticket and the ticket has comments.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

from connectors.base import Memory, NotFound, Outcome, TransientError
from connectors.jira_http import JiraHttp, UncertainWrite
from connectors.jira_mapping import COMMENT_PROPERTY, author_of, checked_key, comment_text
from plugin.config import JiraConfig
from plugin.model import Tracker, UpsertComment

log = logging.getLogger(__name__)

LIST_LIMIT = 1000  # comment/list accepts at most 1000 ids
PAGE = 100  # GET issue/{key}/comment page size (Jira's maximum)
UNCERTAIN_RECHECK_SECONDS = 30.0

Comments = tuple[list[Mapping[str, Any]], bool]  # the comments seen, and whether that is all of them


class CommentWriter:
    def __init__(self, http: JiraHttp, memory: Memory, config: JiraConfig) -> None:
        self.http = http
        self.memory = memory
        self.config = config

    def apply(self, action: UpsertComment, seen: Comments | None) -> Outcome:
        """`seen` is what the snapshot's search returned for the ticket, None when it was not in it."""
        key = checked_key(action.ticket_key)
        existing = self.find(key, seen)
        if existing is not None:
            comment_id, text = existing
            self.memory.record_comment(Tracker.JIRA, key, comment_id)
            if text == comment_text(action.body):
                return Outcome(action, done=False, reason="the comment already says this")
            self.http.put(f"issue/{key}/comment/{comment_id}", {"body": action.body})
            return Outcome(action, done=True, reason="comment edited")
        return self._create(key, action)

    def find(self, key: str, seen: Comments | None) -> tuple[str, str] | None:
        """(id, text) of the bot's comment: the ledger's id first, else the comment carrying the property."""
        comments, complete = seen if seen is not None else ([], False)
        remembered = self.memory.comment_id(Tracker.JIRA, key)
        if remembered:
            for comment in comments:
                if str(comment.get("id")) == remembered:
                    return remembered, comment_text(comment.get("body"))
            try:
                comment = self.http.get(f"issue/{key}/comment/{remembered}")
                return remembered, comment_text(comment.get("body"))
            except NotFound:
                log.info("bot comment %s on %s was deleted; writing a new one", remembered, key)
        if complete and not comments:
            return None  # the snapshot saw every comment of the ticket, and there are none
        return self._marked(self._all_comments(key))

    def _marked(self, comments: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
        """The oldest comment with Pilot Gate's property, checked among the bot's own comments only."""
        bot = self.config.bot_account
        candidates = sorted((c for c in comments if not bot or author_of(c) == bot), key=lambda c: int(c["id"]))
        unexpanded = [int(c["id"]) for c in candidates if "properties" not in c]
        if unexpanded:  # not expanded by this server here; comment/list documents expand=properties
            expanded = {str(c["id"]): c for c in self._with_properties(unexpanded)}
            candidates = [expanded.get(str(c["id"]), c) for c in candidates]
        for comment in candidates:
            if any(p.get("key") == COMMENT_PROPERTY for p in comment.get("properties") or []):
                return str(comment["id"]), comment_text(comment.get("body"))
        return None

    def _with_properties(self, ids: list[int]) -> list[Mapping[str, Any]]:
        found: list[Mapping[str, Any]] = []
        for start in range(0, len(ids), LIST_LIMIT):
            chunk = ids[start:start + LIST_LIMIT]
            page = self.http.post("comment/list", {"ids": chunk}, params={"expand": "properties"}) or {}
            found += page.get("values") or []
        return found

    def _all_comments(self, key: str) -> list[Mapping[str, Any]]:
        comments: list[Mapping[str, Any]] = []
        while True:
            params = {"startAt": len(comments), "maxResults": PAGE, "expand": "properties"}
            page = self.http.get(f"issue/{key}/comment", params) or {}
            batch = page.get("comments") or []
            comments += batch
            if not batch or len(comments) >= (page.get("total") or 0):
                return comments

    def _create(self, key: str, action: UpsertComment) -> Outcome:
        body = {
            "body": action.body,
            "properties": [{"key": COMMENT_PROPERTY, "value": {"rule": action.rule}}],
        }
        try:
            answer = self.http.post(f"issue/{key}/comment", body, repeatable=False)
        except UncertainWrite as err:
            found = self._marked(self._all_comments(key))
            if found is None:
                raise TransientError(
                    f"adding the comment on {key} failed midway ({err}); it is not there yet, check again later",
                    retry_after=UNCERTAIN_RECHECK_SECONDS, status=err.status, request=err.request,
                ) from None
            self.memory.record_comment(Tracker.JIRA, key, found[0])
            return Outcome(action, done=True, reason="comment added (confirmed after the request failed)")
        self.memory.record_comment(Tracker.JIRA, key, str(answer["id"]))
        return Outcome(action, done=True, reason="comment added")
