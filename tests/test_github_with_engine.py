"""The GitHub connector driven by the real engine and default template against a stateful fake of GitHub."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import responses

from connectors.base import DictMemory
from plugin.engine import plan
from plugin.model import AddBlocksLink, CreateGates, Tracker, UpsertComment
from plugin.templates import default_templates_dir, load_templates
from tests.github_nodes import API, GRAPHQL, REPO, FakeClock, comment, epic_node, issue_node, make_connector
from tests.openapi_github import check_calls, example

NOW = datetime(2026, 1, 6, 9, 0, tzinfo=timezone.utc)
EPIC = f"{REPO}#1"
ISSUE = re.compile(rf"{re.escape(API)}/repos/{REPO}/issues/(\d+)/(sub_issues|dependencies/blocked_by|comments|labels)$")


class StatefulGitHub:
    """Remembers what the connector wrote and answers the next snapshot from it."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.work = {7: "In Progress", 8: None}  # issue number -> Projects Status
        self.gates: dict[int, dict] = {}
        self.parents: dict[int, int] = {}
        self.blocked_by: dict[int, set[int]] = {}
        self.comments: dict[int, dict] = {}
        self.labels: set[str] = {"ai-pilot"}
        mock.add_callback("POST", GRAPHQL, callback=self.snapshot)
        mock.add_callback("POST", f"{API}/repos/{REPO}/issues", callback=self.create)
        mock.add_callback("POST", ISSUE, callback=self.relate)

    def blockers(self, number: int) -> tuple[str, ...]:
        return tuple(f"{REPO}#{b}" for b in sorted(self.blocked_by.get(number, ())))

    def snapshot(self, request):
        work = [issue_node(n, status=s, blocked_by=self.blockers(n),
                           comments=tuple(self.comments.get(n, {}).values()))
                for n, s in self.work.items()]
        gates = [issue_node(n, g["title"], body=g["body"], labels=tuple(g["labels"]))
                 for n, g in self.gates.items() if self.parents.get(n) == 1]
        epic = epic_node(1, tuple(work + gates), labels=tuple(sorted(self.labels)))
        return 200, {}, json.dumps({"data": {"e0": {"issue": epic}}})

    def create(self, request):
        number = 21 + len(self.gates)
        self.gates[number] = json.loads(request.body)
        return 201, {}, json.dumps(example("issue", id=9000 + number, node_id=f"I_{number}", number=number))

    def relate(self, request):
        number, kind = ISSUE.match(request.url).groups()
        number, body = int(number), json.loads(request.body)
        if kind == "sub_issues":
            self.parents[body["sub_issue_id"] - 9000] = number
        elif kind == "labels":
            self.labels |= set(body["labels"])
        elif kind == "comments":
            comment_id = 700 + len(self.comments)
            self.comments[number] = {comment_id: comment(comment_id, body["body"])}
            return 201, {}, json.dumps(example("issue-comment", id=comment_id))
        else:
            self.blocked_by.setdefault(number, set()).add(body["issue_id"] - 9000)
        return 201, {}, json.dumps(example("issue"))


def writes(mock: responses.RequestsMock) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in check_calls(mock.calls) if p != "/graphql"]


def test_engine_provisions_a_new_pilot_then_comments_once_then_stays_quiet():
    template = load_templates(default_templates_dir())["ai-pilot"]
    memory = DictMemory()
    connector = make_connector(memory, FakeClock())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        github = StatefulGitHub(mock)

        first = plan(template, connector.snapshot(EPIC), NOW)
        connector.apply(connector.snapshot(EPIC), first)
        created = writes(mock)
        second = plan(template, connector.snapshot(EPIC), NOW)
        connector.apply(connector.snapshot(EPIC), second)
        after_comment = writes(mock)
        third = plan(template, connector.snapshot(EPIC), NOW)
        connector.apply(connector.snapshot(EPIC), third)

        assert [type(a) for a in first][:1] == [CreateGates]
        assert len(github.gates) == len(template.gates) == len(memory.gate_tickets(Tracker.GITHUB, EPIC))
        assert all(github.parents[n] == 1 for n in github.gates)
        assert github.blocked_by and all(b in github.gates for bs in github.blocked_by.values() for b in bs)
        assert not any(isinstance(a, (CreateGates, AddBlocksLink)) for a in second)
        assert [a.ticket_key for a in second if isinstance(a, UpsertComment)] == [f"{REPO}#7"]
        assert after_comment[len(created):] == [("POST", f"/repos/{REPO}/issues/7/comments")]
        assert writes(mock) == after_comment  # the third round writes nothing
