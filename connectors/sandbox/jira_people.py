"""What a person does in the sandbox's Jira: the admin API's "act as a human" calls (admin.py), and the
chaos tests' humans, who call these in the sandbox's own process rather than over HTTP."""

from __future__ import annotations

from typing import Any

from connectors.sandbox.jira_store import HUMAN, JiraStore


class JiraPerson:
    """Acts on the store as `actor`; each call answers what the admin API answers."""

    def __init__(self, jira: JiraStore, actor: str = HUMAN) -> None:
        self.jira, self.actor = jira, actor

    def jira_epic(self, summary: str, project: str = "PILOT", labels: list[str] | None = None,
                  description: str | None = None) -> dict[str, Any]:
        fields = {"project": {"key": project}, "summary": summary, "issuetype": {"name": "Epic"},
                  "labels": ["ai-pilot"] if labels is None else labels, "description": description}
        return self._created(fields)

    def jira_issue(self, summary: str, parent: str | None = None, project: str = "PILOT", type: str = "Task",
                   labels: list[str] | None = None, assignee: str | None = None,
                   description: str | None = None) -> dict[str, Any]:
        fields = {"project": {"key": project}, "summary": summary, "issuetype": {"name": type},
                  "labels": labels or [], "description": description}
        if parent:
            fields["parent"] = {"key": parent}
        if assignee:
            fields["assignee"] = {"accountId": assignee}
        return self._created(fields)

    def jira_transition(self, key: str, status: str) -> dict[str, Any]:
        self.jira.move(key, status, self.actor)
        return {"key": key, "status": self.jira.issue(key)["status"]}

    def jira_assign(self, key: str, assignee: str | None) -> dict[str, Any]:
        self.jira.edit(key, {"assignee": {"accountId": assignee} if assignee else None}, self.actor)
        return {"key": key, "assignee": assignee}

    def _created(self, fields: dict[str, Any]) -> dict[str, Any]:
        issue = self.jira.create(fields, self.actor)
        return {"key": issue["key"], "id": issue["id"]}
