"""GitHub issues, labels, comments, sub-issues, dependencies, statuses and Projects v2 items in memory."""

from __future__ import annotations

import base64
from collections import defaultdict
from typing import Any

from connectors.sandbox.store import Store, now_iso

BOT_LOGIN = "pilotgate-bot"
HUMAN_LOGIN = "alice"
USER_IDS = {BOT_LOGIN: 190001, "alice": 190002, "bob": 190003}
SUB_ISSUE_LIMIT = 100  # per parent (GITHUB-FACTS: docs sub-issue_limit)
DEPENDENCY_LIMIT = 50  # per relationship type
STATUS_OPTIONS = [("Todo", "GRAY"), ("In Progress", "YELLOW"), ("Done", "GREEN")]
STATUS_STATES = {"error", "failure", "pending", "success"}


class GitHubError(Exception):
    """A request GitHub would refuse: HTTP status and its `message`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def node_id(prefix: str, number: int) -> str:
    """An opaque global id in GitHub's current style (prefix_ + base64 payload)."""
    payload = base64.urlsafe_b64encode(number.to_bytes(6, "big")).decode().rstrip("=")
    return f"{prefix}_kwDO{payload}"


def user_id(login: str) -> int:
    return USER_IDS.get(login) or 200000 + sum(map(ord, login))


class GitHubStore:
    """Every GitHub write goes through here under the store's lock; lookups are dictionary hits."""

    def __init__(self, store: Store, org: str = "example-org") -> None:
        self.store = store
        self.org = org
        self.reindex()
        store.reindex_hooks.append(self.reindex)

    @property
    def data(self) -> dict[str, Any]:
        return self.store.data["github"]

    def reindex(self) -> None:
        with self.store.lock:
            self.by_number = {f"{i['repo']}#{i['number']}": int(k) for k, i in self.data["issues"].items()}
            self.nodes: dict[str, tuple[str, str]] = {}
            self.blocking: dict[int, list[int]] = defaultdict(list)
            self.items_of: dict[int, list[str]] = defaultdict(list)
            for table, kind in (("issues", "issue"), ("comments", "comment"), ("items", "item")):
                for key, record in self.data[table].items():
                    self.nodes[record["node_id"]] = (kind, key)
            for repo in self.data["repos"].values():
                self.nodes[repo["node_id"]] = ("repo", repo["full_name"])
            for repo, labels in self.data["labels"].items():
                for name, label in labels.items():
                    self.nodes[label["node_id"]] = ("label", f"{repo}\n{name}")
            for project in self.data["projects"].values():
                self.nodes[project["node_id"]] = ("project", str(project["number"]))
            for key, issue in self.data["issues"].items():
                for blocker in issue["blocked_by"]:
                    self.blocking[blocker].append(int(key))
            for key, item in self.data["items"].items():
                self.items_of[item["issue"]].append(key)

    # ---- reads

    def repo(self, full_name: str, create: bool = False) -> dict[str, Any]:
        repo = self.data["repos"].get(full_name)
        if repo is None and create:
            owner, _, name = full_name.partition("/")
            if not owner or not name or "/" in name:
                raise GitHubError(422, f"Repository name '{full_name}' is not owner/name.")
            with self.store.write():
                rid = self.store.next_id()
                repo = {"id": rid, "node_id": node_id("R", rid), "full_name": full_name, "owner": owner,
                        "name": name, "next": 0, "created_at": now_iso()}
                self.data["repos"][full_name] = repo
                self.data["labels"][full_name] = {}
                self.nodes[repo["node_id"]] = ("repo", full_name)
        if repo is None:
            raise GitHubError(404, "Not Found")
        return repo

    def issue(self, repo: str, number: int) -> dict[str, Any]:
        issue_id = self.by_number.get(f"{repo}#{number}")
        if issue_id is None:
            raise GitHubError(404, "Not Found")
        return self.data["issues"][str(issue_id)]

    def by_id(self, issue_id: int) -> dict[str, Any]:
        issue = self.data["issues"].get(str(issue_id))
        if issue is None:
            raise GitHubError(404, "Not Found")
        return issue

    def comment(self, comment_id: int) -> dict[str, Any]:
        found = self.data["comments"].get(str(comment_id))
        if found is None:
            raise GitHubError(404, "Not Found")
        return found

    def node(self, nid: str) -> tuple[str, dict[str, Any]] | None:
        """(kind, record) for a global node id, or None when it names nothing here."""
        found = self.nodes.get(nid)
        if found is None:
            return None
        kind, key = found
        if kind == "label":
            repo, _, name = key.partition("\n")
            return kind, {**self.data["labels"][repo][name], "repo": repo}
        table = {"issue": "issues", "comment": "comments", "item": "items", "repo": "repos",
                 "project": "projects"}[kind]
        return kind, self.data[table][key]

    def label(self, repo: str, name: str) -> dict[str, Any]:
        labels = self.data["labels"].setdefault(repo, {})
        if name not in labels:
            lid = self.store.next_id()
            labels[name] = {"id": lid, "node_id": node_id("LA", lid), "name": name, "color": "ededed",
                            "description": None, "default": False}
            self.nodes[labels[name]["node_id"]] = ("label", f"{repo}\n{name}")
        return labels[name]

    def existing_label(self, repo: str, name: str) -> dict[str, Any] | None:
        """A label by name, matched case-insensitively as GitHub does; None when the repository lacks it."""
        labels = self.data["labels"].get(repo, {})
        found = labels.get(name) or next((v for k, v in labels.items() if k.lower() == name.lower()), None)
        return found

    # ---- writes

    def create_label(self, repo: str, name: Any, color: Any, description: Any = None) -> dict[str, Any]:
        if not isinstance(name, str) or not name.strip():
            raise GitHubError(422, "Validation Failed: name is missing")
        if not isinstance(color, str) or len(color) != 6:
            raise GitHubError(422, "Validation Failed: color must be a 6 character hex code")
        with self.store.write():
            self.repo(repo)
            if self.existing_label(repo, name) is not None:
                raise GitHubError(422, "Validation Failed: Name has already been taken")
            label = self.label(repo, name)
            label["color"], label["description"] = color.lower(), description
            return label

    def create_issue(self, repo: str, fields: dict[str, Any], actor: str, pull: dict | None = None) -> dict:
        title = fields.get("title")
        if not isinstance(title, str) or not title.strip():
            raise GitHubError(422, "Validation Failed: title is missing")
        with self.store.write():
            record = self.repo(repo, create=True)
            record["next"] += 1
            iid, stamp = self.store.next_id(), now_iso()
            issue = {"id": iid, "node_id": node_id("PR" if pull else "I", iid), "repo": repo,
                     "number": record["next"], "title": title, "body": fields.get("body"), "state": "open",
                     "state_reason": None, "labels": [], "assignees": [], "user": actor, "created_at": stamp,
                     "updated_at": stamp, "closed_at": None, "type": fields.get("type"), "parent": None,
                     "sub_issues": [], "blocked_by": [], "comments": [], "pull": pull}
            self.data["issues"][str(iid)] = issue
            self.by_number[f"{repo}#{issue['number']}"] = iid
            self.nodes[issue["node_id"]] = ("issue", str(iid))
            for name in fields.get("labels") or []:
                issue["labels"].append(self.label(repo, _label_name(name))["name"])
            issue["assignees"] = list(fields.get("assignees") or [])
            event = "pull_request.opened" if pull else "issues.opened"
            self.store.emit("github", event, {"issue": iid, "actor": actor})
            return issue

    def edit_issue(self, issue: dict[str, Any], fields: dict[str, Any], actor: str) -> dict[str, Any]:
        with self.store.write():
            for name in ("title", "body", "type"):
                if name in fields:
                    issue[name] = fields[name]
            if "labels" in fields:
                issue["labels"] = []
                self.add_labels(issue, fields["labels"] or [], actor)
            if "assignees" in fields:
                self.assign(issue, fields["assignees"] or [], actor, replace=True)
            if "state" in fields:
                self.set_state(issue, fields["state"], fields.get("state_reason"), actor)
            issue["updated_at"] = now_iso()
            return issue

    def add_labels(self, issue: dict[str, Any], names: list[Any], actor: str) -> None:
        with self.store.write():
            for raw in names:
                name = self.label(issue["repo"], _label_name(raw))["name"]
                if name not in issue["labels"]:
                    issue["labels"].append(name)
                    self.store.emit("github", "issues.labeled", {"issue": issue["id"], "label": name,
                                                                 "actor": actor})

    def assign(self, issue: dict[str, Any], logins: list[str], actor: str, replace: bool = False) -> None:
        with self.store.write():
            if replace:
                issue["assignees"] = [a for a in issue["assignees"] if a in logins]
            for login in logins:
                if login not in issue["assignees"]:
                    issue["assignees"].append(login)
                    self.store.emit("github", "issues.assigned", {"issue": issue["id"], "assignee": login,
                                                                  "actor": actor})

    def set_state(self, issue: dict[str, Any], state: str, reason: str | None, actor: str) -> None:
        if state not in ("open", "closed"):
            raise GitHubError(422, f"Validation Failed: state must be open or closed, not '{state}'")
        with self.store.write():
            if issue["state"] == state:
                return
            issue["state"] = state
            issue["closed_at"] = now_iso() if state == "closed" else None
            issue["state_reason"] = (reason or "completed") if state == "closed" else "reopened"
            action = "closed" if state == "closed" else "reopened"
            self.store.emit("github", f"issues.{action}", {"issue": issue["id"], "actor": actor})

    def add_comment(self, issue: dict[str, Any], body: Any, actor: str) -> dict[str, Any]:
        if not isinstance(body, str) or not body:
            raise GitHubError(422, "Validation Failed: body is missing")
        with self.store.write():
            cid, stamp = self.store.next_id(), now_iso()
            comment = {"id": cid, "node_id": node_id("IC", cid), "issue": issue["id"], "body": body,
                       "user": actor, "created_at": stamp, "updated_at": stamp}
            self.data["comments"][str(cid)] = comment
            self.nodes[comment["node_id"]] = ("comment", str(cid))
            issue["comments"].append(cid)
            self.store.emit("github", "issue_comment.created", {"issue": issue["id"], "comment": cid,
                                                                "actor": actor})
            return comment

    def edit_comment(self, comment: dict[str, Any], body: Any, actor: str) -> dict[str, Any]:
        if not isinstance(body, str) or not body:
            raise GitHubError(422, "Validation Failed: body is missing")
        with self.store.write():
            if comment["body"] != body:
                comment["body"], comment["updated_at"] = body, now_iso()
                self.store.emit("github", "issue_comment.edited", {"issue": comment["issue"],
                                                                   "comment": comment["id"], "actor": actor})
            return comment

    def add_sub_issue(self, parent: dict[str, Any], sub_id: Any, replace_parent: bool, actor: str) -> None:
        with self.store.write():
            sub = self._issue_by_db_id(sub_id, "sub_issue_id")
            if sub["repo"].split("/")[0] != parent["repo"].split("/")[0]:
                raise GitHubError(422, "Validation Failed: sub-issue must belong to the same repository owner")
            if sub["id"] == parent["id"] or self._is_ancestor(sub["id"], parent):
                raise GitHubError(422, "Validation Failed: an issue cannot be its own ancestor")
            if sub["parent"] == parent["id"]:
                raise GitHubError(422, "Validation Failed: sub-issue is already a sub-issue of this issue")
            if sub["parent"] and not replace_parent:
                raise GitHubError(422, "Validation Failed: sub-issue may only have one parent")
            if len(parent["sub_issues"]) >= SUB_ISSUE_LIMIT:
                raise GitHubError(422, f"Validation Failed: parent already has {SUB_ISSUE_LIMIT} sub-issues")
            if sub["parent"]:
                self.by_id(sub["parent"])["sub_issues"].remove(sub["id"])
            sub["parent"] = parent["id"]
            parent["sub_issues"].append(sub["id"])
            self.store.emit("github", "sub_issues.sub_issue_added", {"issue": parent["id"], "sub": sub["id"],
                                                                     "actor": actor})

    def remove_sub_issue(self, parent: dict[str, Any], sub_id: Any) -> dict[str, Any]:
        with self.store.write():
            sub = self._issue_by_db_id(sub_id, "sub_issue_id")
            if sub["parent"] != parent["id"]:
                raise GitHubError(404, "Not Found")
            sub["parent"] = None
            parent["sub_issues"].remove(sub["id"])
            return sub

    def _is_ancestor(self, candidate: int, issue: dict[str, Any]) -> bool:
        parent = issue["parent"]
        while parent:
            if parent == candidate:
                return True
            parent = self.by_id(parent)["parent"]
        return False

    def add_blocked_by(self, blocked: dict[str, Any], blocker_id: Any, actor: str) -> None:
        with self.store.write():
            blocker = self._issue_by_db_id(blocker_id, "issue_id")
            if blocker["id"] == blocked["id"]:
                raise GitHubError(422, "Validation Failed: an issue cannot block itself")
            if blocker["id"] in blocked["blocked_by"]:
                raise GitHubError(422, "Validation Failed: this dependency already exists")
            if len(blocked["blocked_by"]) >= DEPENDENCY_LIMIT:
                raise GitHubError(422, f"Validation Failed: at most {DEPENDENCY_LIMIT} blocked-by dependencies")
            blocked["blocked_by"].append(blocker["id"])
            self.blocking[blocker["id"]].append(blocked["id"])
            self.store.emit("github", "issue_dependencies.blocked_by_added",
                            {"issue": blocked["id"], "blocker": blocker["id"], "actor": actor})

    def remove_blocked_by(self, blocked: dict[str, Any], blocker_id: int) -> None:
        with self.store.write():
            if blocker_id not in blocked["blocked_by"]:
                raise GitHubError(404, "Not Found")
            blocked["blocked_by"].remove(blocker_id)
            self.blocking[blocker_id].remove(blocked["id"])

    def _issue_by_db_id(self, value: Any, name: str) -> dict[str, Any]:
        if not isinstance(value, int) or isinstance(value, bool):
            raise GitHubError(422, f"Invalid request.\n\nFor '{name}', {value!r} is not an integer.")
        issue = self.data["issues"].get(str(value))
        if issue is None:
            raise GitHubError(422, f"Validation Failed: no issue with id {value} ({name} is a database id, "
                                   "not an issue number)")
        return issue

    def add_status(self, repo: str, sha: str, fields: dict[str, Any], actor: str) -> dict[str, Any]:
        if fields.get("state") not in STATUS_STATES:
            raise GitHubError(422, "Validation Failed: state must be one of error, failure, pending, success")
        with self.store.write():
            self.repo(repo)
            sid, stamp = self.store.next_id(), now_iso()
            status = {"id": sid, "node_id": node_id("SC", sid), "repo": repo, "sha": sha,
                      "state": fields["state"], "description": fields.get("description"),
                      "target_url": fields.get("target_url"), "context": fields.get("context") or "default",
                      "creator": actor, "created_at": stamp, "updated_at": stamp}
            self.data["statuses"].append(status)
            return status


def _label_name(raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, dict) else raw
    if not isinstance(name, str) or not name:
        raise GitHubError(422, "Validation Failed: labels must be names (strings)")
    return name
