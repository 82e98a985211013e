"""A Python client for the sandbox's admin API: what tests and the demo do as humans in either tracker."""

from __future__ import annotations

from typing import Any

import requests


class SandboxError(Exception):
    """The sandbox refused an admin call; the message is its explanation."""


class SandboxClient:
    """Thin wrapper over /_sandbox; every method returns the sandbox's JSON answer."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self.session.request(method, f"{self.url}/_sandbox{path}", json=body, params=params or None,
                                        timeout=self.timeout)
        if response.status_code >= 400:
            raise SandboxError(f"{method} /_sandbox{path}: {response.status_code} {response.text.strip()}")
        return response.json()

    # Jira, acting as a person
    def jira_epic(self, summary: str, project: str = "PILOT", labels: list[str] | None = None, **extra: Any) -> dict:
        return self._call("POST", "/jira/epics", {"summary": summary, "project": project,
                                                  "labels": ["ai-pilot"] if labels is None else labels, **extra})

    def jira_issue(self, summary: str, parent: str | None = None, project: str = "PILOT", **extra: Any) -> dict:
        return self._call("POST", "/jira/issues", {"summary": summary, "parent": parent, "project": project, **extra})

    def jira_transition(self, key: str, status: str, actor: str | None = None) -> dict:
        return self._call("POST", "/jira/transition", _drop_none({"key": key, "status": status, "actor": actor}))

    def jira_assign(self, key: str, assignee: str | None) -> dict:
        return self._call("POST", "/jira/assign", {"key": key, "assignee": assignee})

    def jira_record(self, key: str) -> dict:
        return self._call("GET", f"/jira/issues/{key}")

    # GitHub, acting as a person
    def github_issue(self, repo: str, title: str, **extra: Any) -> dict:
        return self._call("POST", "/github/issues", {"repo": repo, "title": title, **extra})

    def github_pull(self, repo: str, title: str, body: str = "", **extra: Any) -> dict:
        return self._call("POST", "/github/pulls", {"repo": repo, "title": title, "body": body, **extra})

    def github_project_status(self, repo: str, number: int, status: str, project: int = 1) -> dict:
        return self._call("POST", "/github/project-status", {"repo": repo, "number": number, "status": status,
                                                             "project": project})

    def github_state(self, repo: str, number: int, state: str) -> dict:
        return self._call("POST", "/github/state", {"repo": repo, "number": number, "state": state})

    def github_assign(self, repo: str, number: int, assignee: str) -> dict:
        return self._call("POST", "/github/assign", {"repo": repo, "number": number, "assignee": assignee})

    def github_record(self, repo: str, number: int) -> dict:
        return self._call("GET", f"/github/issues/{repo}/{number}")

    # Inspection and control
    def calls(self) -> dict:
        return self._call("GET", "/calls")

    def reset_calls(self) -> dict:
        return self._call("DELETE", "/calls")

    def faults(self, **plan: Any) -> dict:
        """delay, burst_429, retry_after, error_rate, seed, only (see FaultPlan); no arguments clears them."""
        return self._call("POST", "/faults", plan)

    def webhooks(self, tracker: str, url: str | None, secret: str | None = None,
                 events: list[str] | None = None) -> dict:
        """Where the tracker's webhooks go; `events` subscribes to those names only (default: all)."""
        return self._call("POST", "/webhooks", {"tracker": tracker, "url": url, "secret": secret, "events": events})

    def deliveries(self, event: str | None = None) -> list[dict]:
        return self._call("GET", "/deliveries", **({"event": event} if event else {}))

    def redeliver(self, delivery_id: str) -> dict:
        return self._call("POST", f"/deliveries/{delivery_id}/redeliver")

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        return self._call("POST", "/deliveries/wait", timeout=timeout)["idle"]

    def reset(self) -> dict:
        return self._call("POST", "/reset")

    def health(self) -> dict:
        return self._call("GET", "/health")


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}
