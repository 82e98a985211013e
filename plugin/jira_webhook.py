"""Registering Jira's admin webhook (POST /rest/webhooks/1.0/webhook) with a secret, once per URL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from connectors.base import PermanentError, TransientError
from connectors.jira_http import jira_error_text, jira_session
from plugin.config import JiraConfig

PATH = "/rest/webhooks/1.0/webhook"
# No issuelink_created: a new link asks for nothing (see connectors.jira_webhooks), and every gate the bot
# creates would send 5 of them.
EVENTS = ("jira:issue_created", "jira:issue_updated", "jira:issue_deleted", "issuelink_deleted")
MASK = "********"


@dataclass(frozen=True)
class WebhookRequest:
    endpoint: str
    body: dict[str, Any]

    @classmethod
    def for_config(cls, config: JiraConfig, url: str, name: str, jql: str | None = None) -> "WebhookRequest":
        """Issue events of the given JQL (default: every issue; see docs/ADMIN.md), signed with the secret.

        The pilots JQL is not a filter here: it selects epics, and the events that matter most are
        about their children (work moving to In Progress).
        """
        body: dict[str, Any] = {"name": name, "url": url, "events": list(EVENTS), "excludeBody": False,
                                "secret": config.webhook_secret}
        if jql:
            body["filters"] = {"issue-related-events-section": jql}
        return cls(config.url.rstrip("/") + PATH, body)

    def describe(self) -> str:
        """The request as it would be sent, with the secret masked."""
        shown = dict(self.body, secret=MASK)
        return f"POST {self.endpoint}\nContent-Type: application/json\n\n{json.dumps(shown, indent=2)}"


def register(config: JiraConfig, request: WebhookRequest, session: requests.Session | None = None) -> str:
    """Create the webhook unless one already sends to the same URL; answer what happened in one line."""
    http = session or jira_session(config)
    existing = _call(http, "GET", request.endpoint, config.timeout)
    url = request.body["url"]
    for hook in existing if isinstance(existing, list) else []:
        if hook.get("url") == url:
            return f"Jira already has webhook {hook.get('name')!r} sending to {url} ({hook.get('self', 'no link')}); nothing changed"
    created = _call(http, "POST", request.endpoint, config.timeout, request.body)
    link = created.get("self", "") if isinstance(created, dict) else ""
    return f"Registered webhook {request.body['name']!r} sending {len(EVENTS)} events to {url}" + (
        f": {link}" if link else "")


def _call(http: requests.Session, method: str, endpoint: str, timeout: float, body: Any = None) -> Any:
    where = f"{method} {PATH}"
    try:
        answer = http.request(method, endpoint, json=body, timeout=timeout)
    except (requests.ConnectionError, requests.Timeout) as err:
        raise TransientError(f"{type(err).__name__} talking to Jira", request=where) from None
    if answer.status_code in (401, 403):
        raise PermanentError(f"Jira answered {answer.status_code}: registering webhooks needs a Jira administrator's "
                             f"credentials ({jira_error_text(answer)})", status=answer.status_code, request=where)
    if not answer.ok:
        raise PermanentError(f"Jira answered {answer.status_code}: {jira_error_text(answer)}",
                             status=answer.status_code, request=where)
    return answer.json() if answer.content else None
