"""What a sweep costs besides API calls: reading epics must not query the ledger once per ticket."""

from __future__ import annotations

from connectors.base import DictMemory
from connectors.jira import JiraConnector
from connectors.sandbox.jira_store import BOT
from connectors.sandbox.server import Sandbox
from plugin.config import JiraConfig
from plugin.model import Tracker


class CountingMemory(DictMemory):
    def __init__(self) -> None:
        super().__init__()
        self.comment_lookups = 0

    def comment_id(self, tracker: Tracker, ticket_key: str) -> str | None:
        self.comment_lookups += 1
        return super().comment_id(tracker, ticket_key)


def test_reading_an_epic_asks_the_ledger_only_about_tickets_that_have_comments():
    with Sandbox.start() as sandbox:
        client = sandbox.client
        epic = client.jira_epic("AI pilot: sweep cost")["key"]
        work = [client.jira_issue(f"Work {n}", parent=epic)["key"] for n in range(3)]
        sandbox.state.jira.add_comment(work[1], "Started on this.", "557058:alice")
        memory = CountingMemory()
        config = JiraConfig(url=sandbox.url, email="bot@example.com", token="t", webhook_secret="s",
                            pilots="issuetype = Epic AND labels = ai-pilot", template="ai-pilot",
                            bot_account=BOT["accountId"])
        snapshot = JiraConnector(config, memory).snapshot(epic)
    assert {child.key for child in snapshot.children} == set(work)
    assert memory.comment_lookups == 1
    assert dict(snapshot.bot_comments) == {}
