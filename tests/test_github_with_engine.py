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
ISSUE = re.compile(rf"{re.escape(API)}/repos/{REPO}/issues/(\d+)/(comments|labels)$")


class StatefulGitHub:
    """Remembers what the connector wrote and answers the next snapshot from it."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.work = {7: "In Progress", 8: None}  # issue number -> Projects Status
        self.gates: dict[int, dict] = {}
        self.parents: dict[int, int] = {}
        self.blocked_by: dict[int, set[int]] = {}
        self.comments: dict[int, dict] = {}
        self.labels: set[str] = {"ai-pilot"}
        self.repo_labels: dict[str, str] = {"ai-pilot": "LA_ai-pilot"}
        mock.add_callback("POST", GRAPHQL, callback=self.graphql)
        mock.add_callback("POST", ISSUE, callback=self.relate)

    def blockers(self, number: int) -> tuple[str, ...]:
        return tuple(f"{REPO}#{b}" for b in sorted(self.blocked_by.get(number, ())))

    def graphql(self, request):
        body = json.loads(request.body)
        operation = re.search(r"(query|mutation) (\w+)", body["query"]).group(2)
        answer = getattr(self, operation.lower())(body["variables"])
        return 200, {}, json.dumps({"data": answer})

    def pilotepicsbykey(self, variables):
        work = [issue_node(n, status=s, blocked_by=self.blockers(n),
                           comments=tuple(self.comments.get(n, {}).values()))
                for n, s in self.work.items()]
        gates = [issue_node(n, g["title"], body=g["body"], labels=tuple(g["labels"]))
                 for n, g in self.gates.items() if self.parents.get(n) == 1]
        epic = epic_node(1, tuple(work + gates), labels=tuple(sorted(self.labels)))
        labels = [{"id": i, "name": n} for n, i in self.repo_labels.items()]
        return {"e0": {"id": "R_1", "nameWithOwner": REPO, "labels": {"totalCount": len(labels), "nodes": labels},
                       "issue": epic}}

    def createlabels(self, variables):
        for value in variables.values():
            self.repo_labels[value["name"]] = f"LA_{value['name']}"
        return {alias: {"label": {"id": f"LA_{v['name']}", "name": v["name"]}} for alias, v in variables.items()}

    def creategates(self, variables):
        answer = {}
        names = {i: n for n, i in self.repo_labels.items()}
        for alias, value in variables.items():
            number = 21 + len(self.gates)
            self.gates[number] = {**value, "labels": [names[i] for i in value["labelIds"]]}
            self.parents[number] = int(value["parentIssueId"].removeprefix("I_kwDO"))
            answer[alias] = {"issue": {"id": f"I_kwDO{number:04d}", "databaseId": 9000 + number, "number": number}}
        return answer

    def linkgates(self, variables):
        for value in variables.values():
            blocked, blocker = (int(value[k].removeprefix("I_kwDO")) for k in ("issueId", "blockingIssueId"))
            self.blocked_by.setdefault(blocked, set()).add(blocker)
        return {alias: {"clientMutationId": None} for alias in variables}

    def relate(self, request):
        number, kind = ISSUE.match(request.url).groups()
        number, body = int(number), json.loads(request.body)
        if kind == "labels":
            self.labels |= set(body["labels"])
            return 200, {}, json.dumps([])
        comment_id = 700 + len(self.comments)
        self.comments[number] = {comment_id: comment(comment_id, body["body"])}
        return 201, {}, json.dumps(example("issue-comment", id=comment_id))


def writes(mock: responses.RequestsMock) -> list[tuple[str, str]]:
    """REST writes and GraphQL mutations, by path or operation name."""
    seen = []
    for call, (method, path, _) in zip(mock.calls, check_calls(mock.calls)):
        query = json.loads(call.request.body)["query"] if path == "/graphql" else ""
        if query.lstrip().startswith("mutation"):
            seen.append(("POST", re.search(r"mutation (\w+)", query).group(1)))
        elif path != "/graphql":
            seen.append((method, path))
    return seen


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
        assert created == [("POST", "CreateLabels"), ("POST", "CreateGates"), ("POST", "LinkGates")]
        assert all(set(g["labels"]) == {"pilot-gate", "pilotgate-gate"} for g in github.gates.values())
        assert len(github.gates) == len(template.gates) == len(memory.gate_tickets(Tracker.GITHUB, EPIC))
        assert all(github.parents[n] == 1 for n in github.gates)
        assert github.blocked_by and all(b in github.gates for bs in github.blocked_by.values() for b in bs)
        assert not any(isinstance(a, (CreateGates, AddBlocksLink)) for a in second)
        assert [a.ticket_key for a in second if isinstance(a, UpsertComment)] == [f"{REPO}#7"]
        assert after_comment[len(created):] == [("POST", f"/repos/{REPO}/issues/7/comments")]
        assert writes(mock) == after_comment  # the third round writes nothing
