"""For the end-to-end tests: a running stack per test, the teams, and what the sandbox itself recorded."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from connectors.sandbox.github_store import BOT_LOGIN
from connectors.sandbox.jira_store import BOT
from plugin.demo_stack import REPO, Stack, wait_for
from plugin.demo_story import GitHubTeam, JiraTeam, Pilot, Team, Watcher
from plugin.model import Epic, Tracker

# Tracker API calls that only read, although they are POSTs.
# POSTs that only read; GraphQL mutations are counted apart, as "POST /graphql mutation", so they are writes.
READ_ROUTES = {"POST /rest/api/2/search/jql", "POST /rest/api/2/search", "POST /graphql",
               "POST /rest/api/2/comment/list"}
WORK = {Tracker.JIRA: ["Train the invoice classifier", "Label 2,000 historical invoices"],
        Tracker.GITHUB: ["Data pipeline spike"]}
GATES = 4
STEP = 30.0  # seconds: GitHub's one-second spacing between writes makes its provisioning take ~12 s


TRACKERS = pytest.mark.parametrize("tracker", [Tracker.JIRA, Tracker.GITHUB], ids=["jira", "github"])


def started_stack(folder: Path) -> Stack:
    stack = Stack(folder)
    try:
        stack.start_service()
    except Exception:
        stack.close()
        raise
    return stack


def team_for(stack: Stack, tracker: Tracker) -> Team:
    return JiraTeam(stack.sandbox) if tracker is Tracker.JIRA else GitHubTeam(stack.sandbox)


def watcher_for(stack: Stack, tracker: Tracker) -> Watcher:
    return Watcher(stack.connectors[tracker], stack.templates[tracker])


def open_pilot(stack: Stack, tracker: Tracker, title: str = "Invoice triage assistant") -> Pilot:
    return team_for(stack, tracker).open_pilot(title, WORK[tracker])


def provisioned(stack: Stack, pilot: Pilot, timeout: float = STEP) -> Epic:
    watcher = watcher_for(stack, pilot.tracker)
    return wait_for(f"gates in {pilot.key}", lambda: watcher.gates_in_place(pilot.key), timeout)


def children(stack: Stack, pilot: Pilot) -> int:
    """How many child tickets the sandbox holds under the epic (work and gates)."""
    client = stack.sandbox.client
    if pilot.tracker is Tracker.JIRA:
        return len(client.jira_record(pilot.key)["children"])
    return len(client.github_record(REPO, number(pilot.key))["sub_issues"])


def bot_comments(stack: Stack, tracker: Tracker, key: str) -> list[str]:
    """Bodies of every comment the bot account wrote on a ticket, as the sandbox stores them."""
    client = stack.sandbox.client
    if tracker is Tracker.JIRA:
        return [c["body"] for c in client.jira_record(key)["comments"] if c["author"] == BOT["accountId"]]
    return [c["body"] for c in client.github_record(REPO, number(key))["comment_bodies"] if c["user"] == BOT_LOGIN]


def writes(stack: Stack) -> int:
    """Tracker API calls that could change something: every non-GET call (GraphQL mutations included)
    except the read-only POSTs."""
    routes = stack.sandbox.client.calls()["routes"]
    return sum(n for route, n in routes.items() if not route.startswith("GET ") and route not in READ_ROUTES)


def number(key: str) -> int:
    return int(key.rsplit("#", 1)[1])


def settled(stack: Stack, timeout: float = STEP) -> None:
    """Every webhook delivered (or given up) and the service's queue empty, twice in a row 0.2 s apart."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:
        if time.monotonic() > deadline:
            raise AssertionError(f"the sandbox and the service did not settle within {timeout:g} s")
        queue = requests.get(f"{stack.url}/healthz", timeout=5).json()["queue"]
        idle = stack.sandbox.wait_for_webhooks(0.0) and queue["depth"] == 0 and queue["processing"] == 0
        quiet = quiet + 1 if idle else 0
        time.sleep(0.2)
