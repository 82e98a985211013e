"""Projects v2 in memory: organization projects with a Status single-select field, and their items."""

from __future__ import annotations

from typing import Any

from connectors.sandbox.github_store import STATUS_OPTIONS, GitHubError, GitHubStore, node_id
from connectors.sandbox.store import now_iso


class ProjectStore:
    """Projects live beside the GitHub store and share its lock, ids and node index."""

    def __init__(self, github: GitHubStore) -> None:
        self.github = github
        self.store = github.store

    @property
    def data(self) -> dict[str, Any]:
        return self.github.data

    def project(self, number: int, title: str | None = None) -> dict[str, Any]:
        """The organization project with this number; created (with a Status field) when a title is given."""
        found = self.data["projects"].get(str(number))
        if found is not None:
            return found
        if title is None:
            raise GitHubError(404, f"Could not resolve to a ProjectV2 with the number {number}.")
        with self.store.write():
            pid, fid = self.store.next_id(), self.store.next_id()
            options = [{"id": f"{fid:x}{n}", "name": name, "color": color, "description": ""}
                       for n, (name, color) in enumerate(STATUS_OPTIONS)]
            project = {"id": pid, "node_id": node_id("PVT", pid), "number": number, "title": title,
                       "owner": self.github.org, "created_at": now_iso(),
                       "status_field": {"id": fid, "node_id": node_id("PVTSSF", fid), "name": "Status",
                                        "options": options}}
            self.data["projects"][str(number)] = project
            self.github.nodes[project["node_id"]] = ("project", str(number))
            return project

    def by_node(self, project_node: str) -> dict[str, Any]:
        found = self.github.node(project_node)
        if found is None or found[0] != "project":
            raise GitHubError(404, f"Could not resolve to a node with the global id of '{project_node}'")
        return found[1]

    def add_item(self, project: dict[str, Any], issue: dict[str, Any], actor: str) -> dict[str, Any]:
        """Add an issue to a project; adding it again returns the existing item, as GitHub does."""
        with self.store.write():
            for key in self.github.items_of.get(issue["id"], []):
                item = self.data["items"][key]
                if item["project"] == project["number"]:
                    return item
            iid, stamp = self.store.next_id(), now_iso()
            item = {"id": iid, "node_id": node_id("PVTI", iid), "project": project["number"],
                    "issue": issue["id"], "status": None, "creator": actor, "created_at": stamp,
                    "updated_at": stamp}
            self.data["items"][str(iid)] = item
            self.github.items_of[issue["id"]].append(str(iid))
            self.github.nodes[item["node_id"]] = ("item", str(iid))
            self.store.emit("github", "projects_v2_item.created", {"item": iid, "actor": actor})
            return item

    def item_by_node(self, item_node: str) -> dict[str, Any]:
        found = self.github.node(item_node)
        if found is None or found[0] != "item":
            raise GitHubError(404, f"Could not resolve to a node with the global id of '{item_node}'")
        return found[1]

    def items_of(self, issue: dict[str, Any]) -> list[dict[str, Any]]:
        return [self.data["items"][key] for key in self.github.items_of.get(issue["id"], [])]

    def option(self, project: dict[str, Any], name_or_id: str | None) -> dict[str, Any] | None:
        if name_or_id is None:
            return None
        for option in project["status_field"]["options"]:
            if name_or_id in (option["id"], option["name"]):
                return option
        names = ", ".join(o["name"] for o in project["status_field"]["options"])
        raise GitHubError(422, f"Status option '{name_or_id}' does not exist (known: {names})")

    def set_status(self, item: dict[str, Any], name_or_id: str | None, actor: str) -> dict[str, Any]:
        """Set the item's Status and send projects_v2_item.edited with from/to, as GitHub does."""
        project = self.project(item["project"])
        new = self.option(project, name_or_id)
        with self.store.write():
            old = self.option(project, item["status"])
            if (old and old["id"]) == (new and new["id"]):
                return item
            item["status"] = new["id"] if new else None
            item["updated_at"] = now_iso()
            self.store.emit("github", "projects_v2_item.edited",
                            {"item": item["id"], "from": old, "to": new, "actor": actor})
            return item

    def status_name(self, item: dict[str, Any]) -> str | None:
        option = self.option(self.project(item["project"]), item["status"])
        return option["name"] if option else None
