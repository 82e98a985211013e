"""Jira issues, comments, links and properties in memory, with the indexes searches need."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from typing import Any, Iterable

from connectors.sandbox.jql import JqlError
from connectors.sandbox.store import Store, now_iso

# Status category ids and keys as Jira Cloud sends them (JIRA-FACTS: new 2, indeterminate 4, done 3).
CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
# name -> (status id, category key): the simplified software workflow.
STATUSES = {"To Do": ("10000", "new"), "In Progress": ("3", "indeterminate"), "Done": ("10001", "done")}
TRANSITIONS = {"11": "To Do", "21": "In Progress", "31": "Done"}
ISSUE_TYPES = {"Epic": "10000", "Task": "10001", "Story": "10002", "Bug": "10003", "Subtask": "10004"}
LINK_TYPES = [
    {"id": "10000", "name": "Blocks", "inward": "is blocked by", "outward": "blocks"},
    {"id": "10001", "name": "Cloners", "inward": "is cloned by", "outward": "clones"},
    {"id": "10002", "name": "Duplicate", "inward": "is duplicated by", "outward": "duplicates"},
    {"id": "10003", "name": "Relates", "inward": "relates to", "outward": "relates to"},
]
BOT = {"accountId": "712020:5f0c-pilotgate-bot", "displayName": "Pilot Gate", "accountType": "app"}
USERS = {
    BOT["accountId"]: BOT,
    "557058:alice": {"accountId": "557058:alice", "displayName": "Alice Example", "accountType": "atlassian"},
    "557058:bob": {"accountId": "557058:bob", "displayName": "Bob Example", "accountType": "atlassian"},
}
HUMAN = "557058:alice"
PROPERTY_LIMIT = 32768


class JiraError(Exception):
    """A request Jira would refuse: `status` and the message Jira would put in errorMessages/errors."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


class JiraStore:
    """Every Jira write goes through here, under the store's lock; indexes are kept in step."""

    def __init__(self, store: Store, search_lag: float = 0.0) -> None:
        self.store = store
        self.search_lag = search_lag  # seconds a new issue stays invisible to search (eventual consistency)
        self._born: dict[str, float] = {}
        self.reindex()
        store.reindex_hooks.append(self.reindex)

    @property
    def data(self) -> dict[str, Any]:
        return self.store.data["jira"]

    def reindex(self) -> None:
        with self.store.lock:
            self.by_id = {i["id"]: key for key, i in self.data["issues"].items()}
            self.children: dict[str, list[str]] = defaultdict(list)
            self.by_label: dict[str, set[str]] = defaultdict(set)
            for key, issue in self.data["issues"].items():
                if issue["parent"]:
                    self.children[issue["parent"]].append(key)
                for label in issue["labels"]:
                    self.by_label[label].add(key)

    # ---- reads

    def issue(self, key_or_id: str) -> dict[str, Any]:
        key = self.by_id.get(key_or_id, key_or_id)
        issue = self.data["issues"].get(key)
        if issue is None:
            raise JiraError(404, "Issue does not exist or you do not have permission to see it.")
        return issue

    def resolve_key(self, key_or_id: str) -> str:
        """The key of an issue named by key or id; unknown ones are refused as Jira's JQL does."""
        key = self.by_id.get(key_or_id, key_or_id.upper())
        if key not in self.data["issues"]:
            raise JqlError(f"An issue with key '{key_or_id}' does not exist for field 'key'.")
        return key

    def category_of(self, issue: dict[str, Any]) -> str:
        return STATUSES[issue["status"]][1]

    def visible_to_search(self, key: str) -> bool:
        born = self._born.get(key)
        return born is None or time.monotonic() - born >= self.search_lag

    def links_of(self, key: str) -> list[dict[str, Any]]:
        return [self.data["links"][lid] for lid in self.issue(key)["links"]]

    def comments_of(self, key: str) -> list[dict[str, Any]]:
        return [self.data["comments"][cid] for cid in self.issue(key)["comments"]]

    def comment(self, key: str, comment_id: str) -> dict[str, Any]:
        found = self.data["comments"].get(comment_id)
        if found is None or found["issue"] != self.issue(key)["key"]:
            raise JiraError(404, "Can not find a comment for the id: %s." % comment_id)
        return found

    # ---- writes

    def create(self, fields: dict[str, Any], actor: str, properties: Iterable[dict] = ()) -> dict[str, Any]:
        with self.store.write():
            project = _project_key(fields)
            summary = fields.get("summary")
            if not summary or not isinstance(summary, str):
                raise JiraError(400, "You must specify a summary of the issue.", "summary")
            issue_type = _name_or_id(fields.get("issuetype"), ISSUE_TYPES, "issuetype")
            parent = self._parent_key(fields.get("parent"))
            number = self.data["projects"].get(project, 0) + 1
            self.data["projects"][project] = number
            key, stamp = f"{project}-{number}", now_iso()
            issue = {
                "id": str(self.store.next_id()), "key": key, "project": project, "summary": summary,
                "description": fields.get("description"), "issuetype": issue_type, "status": "To Do",
                "labels": list(fields.get("labels") or []), "parent": parent,
                "assignee": _account(fields.get("assignee")), "reporter": actor,
                "duedate": fields.get("duedate"), "created": stamp, "updated": stamp,
                "statuscategorychangedate": stamp, "properties": {}, "comments": [], "links": [],
                "custom": {k: v for k, v in fields.items() if k.startswith("customfield_")},
            }
            self.data["issues"][key] = issue
            self.by_id[issue["id"]] = key
            self._born[key] = time.monotonic()
            if parent:
                self.children[parent].append(key)
            for label in issue["labels"]:
                self.by_label[label].add(key)
            for prop in properties:
                self.set_property(key, prop["key"], prop.get("value"))
            self.store.emit("jira", "jira:issue_created", {"key": key, "actor": actor})
            return issue

    def _parent_key(self, parent: Any) -> str | None:
        if parent is None:
            return None
        if not isinstance(parent, dict) or not (parent.get("key") or parent.get("id")):
            raise JiraError(400, "Parent must be given as {\"key\": ...} or {\"id\": ...}.", "parent")
        try:
            return self.issue(parent.get("key") or parent["id"])["key"]
        except JiraError:
            raise JiraError(400, "Could not find issue by id or key.", "parent") from None

    def edit(self, key: str, fields: dict[str, Any], actor: str) -> None:
        """Apply `fields` (the PUT /issue body's fields) and emit one issue_updated with a changelog."""
        with self.store.write():
            issue = self.issue(key)
            items = []
            for name, value in fields.items():
                items.extend(self._set_field(issue, name, value))
            if items:
                issue["updated"] = now_iso()
                self.store.emit("jira", "jira:issue_updated",
                                {"key": issue["key"], "actor": actor, "changelog": items})

    def _set_field(self, issue: dict[str, Any], name: str, value: Any) -> list[dict[str, Any]]:
        if name == "assignee":
            new = _account(value)
            if new is not None and new not in USERS:
                raise JiraError(400, f"User '{new}' does not exist.", "assignee")
            return self._change(issue, "assignee", new, "assignee", "jira",
                                lambda a: USERS[a]["displayName"] if a else None)
        if name == "labels":
            new_labels = list(value or [])
            for label in issue["labels"]:
                self.by_label[label].discard(issue["key"])
            for label in new_labels:
                self.by_label[label].add(issue["key"])
            return self._change(issue, "labels", new_labels, "labels", "jira", " ".join)
        if name in ("summary", "description", "duedate"):
            return self._change(issue, name, value, name, "jira", lambda v: v)
        if name.startswith("customfield_"):
            issue["custom"][name] = value
            return []
        raise JiraError(400, f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown.",
                        name)

    @staticmethod
    def _change(issue, name, new, field_id, fieldtype, show) -> list[dict[str, Any]]:
        old = issue[name]
        if old == new:
            return []
        issue[name] = new
        return [{"field": field_id, "fieldtype": fieldtype, "fieldId": field_id,
                 "from": old if not isinstance(old, list) else None, "fromString": show(old),
                 "to": new if not isinstance(new, list) else None, "toString": show(new)}]

    def transition(self, key: str, transition_id: str, actor: str) -> None:
        target = TRANSITIONS.get(str(transition_id))
        if target is None:
            raise JiraError(400, f"Transition id '{transition_id}' is not valid for this issue.", "transition")
        self.move(key, target, actor)

    def move(self, key: str, status: str, actor: str) -> None:
        if status not in STATUSES:
            raise JiraError(400, f"Status '{status}' does not exist; known: {', '.join(STATUSES)}.", "status")
        with self.store.write():
            issue = self.issue(key)
            old = issue["status"]
            if old == status:
                return
            issue["status"], issue["updated"] = status, now_iso()
            if STATUSES[old][1] != STATUSES[status][1]:
                issue["statuscategorychangedate"] = issue["updated"]
            item = {"field": "status", "fieldtype": "jira", "fieldId": "status", "from": STATUSES[old][0],
                    "fromString": old, "to": STATUSES[status][0], "toString": status}
            self.store.emit("jira", "jira:issue_updated", {"key": issue["key"], "actor": actor, "changelog": [item]})

    def link(self, type_name: str, blocker: str, blocked: str, actor: str) -> dict[str, Any]:
        """`blocker` is the link's outward side ("blocker blocks blocked"); duplicates are no-ops."""
        link_type = next((t for t in LINK_TYPES if type_name in (t["name"], t["id"])), None)
        if link_type is None:
            raise JiraError(404, f"No issue link type with name '{type_name}' found.", "type")
        with self.store.write():
            source, target = self.issue(blocker)["key"], self.issue(blocked)["key"]
            for existing in self.links_of(source):
                if (existing["type"], existing["outward"], existing["inward"]) == (link_type["id"], source, target):
                    return existing
            link = {"id": str(self.store.next_id()), "type": link_type["id"], "outward": source, "inward": target}
            self.data["links"][link["id"]] = link
            self.issue(source)["links"].append(link["id"])
            self.issue(target)["links"].append(link["id"])
            self.store.emit("jira", "issuelink_created", {"link": link["id"], "actor": actor})
            return link

    def unlink(self, link_id: str, actor: str) -> None:
        """Deletes the link and sends issuelink_deleted; 404 when there is no such link."""
        with self.store.write():
            link = self.data["links"].pop(link_id, None)
            if link is None:
                raise JiraError(404, f"No issue link with id '{link_id}' exists.")
            # The payload is made after this write, when the link is gone: it travels with the event.
            self.store.emit("jira", "issuelink_deleted", {"link": link_id, "actor": actor, "removed": dict(link)})
            for side in (link["outward"], link["inward"]):
                self.issue(side)["links"].remove(link_id)

    def set_property(self, key: str, prop: str, value: Any) -> bool:
        """True when the property is new (Jira answers 201), False when replaced (200)."""
        _check_property(prop, value)
        with self.store.write():
            props = self.issue(key)["properties"]
            created = prop not in props
            props[prop] = value
            return created

    def add_comment(self, key: str, body: Any, actor: str, properties: Iterable[dict] = ()) -> dict[str, Any]:
        if not isinstance(body, str) or not body:
            raise JiraError(400, "Comment body can not be empty!", "comment")
        with self.store.write():
            issue, stamp = self.issue(key), now_iso()
            comment = {"id": str(self.store.next_id()), "issue": issue["key"], "body": body, "author": actor,
                       "updateAuthor": actor, "created": stamp, "updated": stamp, "properties": {}}
            for prop in properties:
                _check_property(prop.get("key", ""), prop.get("value"))
                comment["properties"][prop["key"]] = prop.get("value")
            self.data["comments"][comment["id"]] = comment
            issue["comments"].append(comment["id"])
            self.store.emit("jira", "comment_created", {"key": issue["key"], "comment": comment["id"], "actor": actor})
            return comment

    def edit_comment(self, key: str, comment_id: str, body: Any, actor: str) -> dict[str, Any]:
        if not isinstance(body, str) or not body:
            raise JiraError(400, "Comment body can not be empty!", "comment")
        with self.store.write():
            comment = self.comment(key, comment_id)
            if comment["body"] != body:
                comment.update(body=body, updateAuthor=actor, updated=now_iso())
                self.store.emit("jira", "comment_updated", {"key": comment["issue"], "comment": comment_id,
                                                            "actor": actor})
            return comment

    def set_comment_property(self, key: str, comment_id: str, prop: str, value: Any) -> bool:
        _check_property(prop, value)
        with self.store.write():
            props = self.comment(key, comment_id)["properties"]
            created = prop not in props
            props[prop] = value
            return created


def _project_key(fields: dict[str, Any]) -> str:
    project = fields.get("project")
    key = project.get("key") or project.get("id") if isinstance(project, dict) else None
    if not key or not isinstance(key, str):
        raise JiraError(400, "Specify a valid project ID or key", "project")
    if not key.isalnum() or not key[0].isalpha() or not key.isupper():
        raise JiraError(400, f"Project key '{key}' must be upper-case letters and digits.", "project")
    return key


def _name_or_id(value: Any, known: dict[str, str], field: str) -> str:
    if isinstance(value, dict):
        for name, ident in known.items():
            if value.get("name") == name or value.get("id") == ident:
                return name
    raise JiraError(400, f"Specify a valid issue type (one of {', '.join(known)}) as {{\"name\"}} or {{\"id\"}}.",
                    field)


def _account(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict) and isinstance(value.get("accountId"), str):
        return value["accountId"]
    raise JiraError(400, "Assignee must be given as {\"accountId\": ...} or null.", "assignee")


def _check_property(prop: str, value: Any) -> None:
    if not prop or len(prop) > 255:
        raise JiraError(400, "The property key must be between 1 and 255 characters long.", "propertyKey")
    if len(json.dumps(value)) > PROPERTY_LIMIT:
        raise JiraError(400, f"The property value must not exceed {PROPERTY_LIMIT} characters.", "value")
