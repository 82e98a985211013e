"""epic_of reads the pilot as fully as a snapshot does, and the snapshot right after it reuses that answer."""

from __future__ import annotations

import json
import re

import pytest

from connectors.base import DictMemory
from connectors.recent_reads import READ_TTL
from plugin.model import CreateGates, GateSpec, Tracker, UpsertComment
from tests.github_nodes import API, REPO, FakeClock, epic_node, gh, graphql_answer, issue_node, make_connector, sent
from tests.openapi_github import example

__all__ = ["gh"]  # the fixture: imported so pytest finds it
EPIC = f"{REPO}#1"
REPO_ID = "R_kgDOpilots"
GATES = ("success-metric", "integration-architecture", "security-briefing", "operations-owner")


def repository(*labels: str) -> dict:
    """The RepositoryFacts fragment; label ids are `LA_<name>`."""
    return {"id": REPO_ID, "nameWithOwner": REPO,
            "labels": {"totalCount": len(labels), "nodes": [{"id": f"LA_{n}", "name": n} for n in labels]}}


def answer_epic_of(gh, number: int = 7, epic: int = 1, children: tuple[dict, ...] = (),
                   labels: tuple[str, ...] = ("ai-pilot", "pilotgate-gate")) -> None:
    """EpicOf's answer: work ticket `number`, whose parent `epic` is a pilot with `children` and #`number`."""
    issue = epic_node(number, labels=())
    parent = epic_node(epic, children + (issue_node(number),))
    issue["parent"] = {**parent, "repository": repository(*labels)}
    graphql_answer(gh, {"repository": {**repository(*labels), "issue": issue}})


def answer_snapshot(gh, epic: int = 1) -> None:
    graphql_answer(gh, {"e0": {**repository("ai-pilot", "pilotgate-gate"), "issue": epic_node(epic)}})


def operation_names(gh) -> list[str]:
    names = []
    for call, (method, path, _) in zip(gh.calls, sent(gh)):
        query = json.loads(call.request.body)["query"] if path == "/graphql" else ""
        names.append(re.search(r"(query|mutation) (\w+)", query).group(2) if query else f"{method} {path}")
    return names


def spec(gate: str) -> GateSpec:
    return GateSpec(gate=gate, title=gate, body="Body.", labels=frozenset({"ai-pilot"}), due=None,
                    blocks=(f"{REPO}#7",))


def test_snapshot_right_after_epic_of_sends_nothing_and_shows_the_whole_epic(gh):
    answer_epic_of(gh, children=(issue_node(8, status="In Progress"),))
    connector = make_connector()

    assert connector.epic_of(f"{REPO}#7") == EPIC
    epic = connector.snapshot(EPIC)

    assert operation_names(gh) == ["EpicOf"]
    assert [child.key for child in epic.children] == [f"{REPO}#8", f"{REPO}#7"]
    assert epic.ticket.ref == "9001:I_kwDO0001" and epic.ticket.labels == {"ai-pilot"}


def test_provisioning_after_epic_of_needs_no_snapshot_and_no_id_lookup(gh):
    memory = DictMemory()
    connector = make_connector(memory)
    answer_epic_of(gh)
    graphql_answer(gh, {f"g{i}": {"issue": {"id": f"I_g{i}", "databaseId": 100 + i, "number": 21 + i}}
                        for i in range(4)})
    graphql_answer(gh, {f"k{i}": {"clientMutationId": None} for i in range(4)})

    epic = connector.snapshot(connector.epic_of(f"{REPO}#7"))
    connector.apply(epic, [CreateGates(EPIC, tuple(spec(g) for g in GATES))])

    assert operation_names(gh) == ["EpicOf", "CreateGates", "LinkGates"]
    create = json.loads(gh.calls[1].request.body)["variables"]["g0"]
    assert (create["repositoryId"], create["labelIds"], create["parentIssueId"]) == (
        REPO_ID, ["LA_ai-pilot", "LA_pilotgate-gate"], "I_kwDO0001")
    assert set(memory.gate_tickets(Tracker.GITHUB, EPIC)) == set(GATES)


def test_a_kept_answer_serves_one_snapshot_only(gh):
    answer_epic_of(gh)
    answer_snapshot(gh)
    connector = make_connector()

    connector.snapshot(connector.epic_of(f"{REPO}#7"))
    connector.snapshot(EPIC)

    assert operation_names(gh) == ["EpicOf", "PilotEpicsByKey"]


def test_an_answer_older_than_the_time_to_live_is_read_again(gh):
    clock = FakeClock()
    connector = make_connector(clock=clock)
    answer_epic_of(gh)
    answer_snapshot(gh)

    connector.epic_of(f"{REPO}#7")
    clock.now += READ_TTL + 0.1
    connector.snapshot(EPIC)

    assert operation_names(gh) == ["EpicOf", "PilotEpicsByKey"]


@pytest.mark.parametrize("same_connector", [True, False], ids=["this connector", "another of this process"])
def test_the_snapshot_after_this_process_wrote_to_the_epic_is_read_again(gh, same_connector):
    connector = make_connector()
    answer_epic_of(gh)
    answer_epic_of(gh)
    gh.post(f"{API}/repos/{REPO}/issues/7/comments", status=201, json=example("issue-comment", id=555))
    answer_snapshot(gh)

    epic = connector.snapshot(connector.epic_of(f"{REPO}#7"))
    connector.epic_of(f"{REPO}#7")  # kept before the write below: never served after it
    writer = connector if same_connector else make_connector()
    writer.apply(epic, [UpsertComment(f"{REPO}#7", "Gates open.", "work_started_early")])
    connector.snapshot(EPIC)

    assert operation_names(gh) == ["EpicOf", "EpicOf", f"POST /repos/{REPO}/issues/7/comments", "PilotEpicsByKey"]


def test_a_write_while_epic_of_is_in_flight_keeps_its_answer_from_being_served(gh):
    connector, other = make_connector(), make_connector()
    answer_snapshot(gh)
    epic = other.snapshot(EPIC)
    gh.post(f"{API}/repos/{REPO}/issues/7/comments", status=201, json=example("issue-comment", id=556))
    issue = epic_node(7, labels=())
    issue["parent"] = {**epic_node(1, (issue_node(7),)), "repository": repository("ai-pilot")}
    answer = {"data": {"repository": {**repository("ai-pilot"), "issue": issue}}}

    def write_then_answer(request):
        other.apply(epic, [UpsertComment(f"{REPO}#7", "Gates open.", "work_started_early")])
        return 200, {}, json.dumps(answer)

    gh.add_callback("POST", f"{API}/graphql", callback=write_then_answer)
    answer_snapshot(gh)

    connector.snapshot(connector.epic_of(f"{REPO}#7"))

    assert operation_names(gh) == ["PilotEpicsByKey", f"POST /repos/{REPO}/issues/7/comments", "EpicOf",
                                   "PilotEpicsByKey"]


def test_labels_created_for_one_epic_make_another_epics_kept_answer_stale(gh):
    connector = make_connector()
    answer_epic_of(gh, number=9, epic=2, labels=("ai-pilot",))  # read before the gate label exists
    graphql_answer(gh, {"e0": {**repository("ai-pilot"), "issue": epic_node(1)}})
    graphql_answer(gh, {"l0": {"label": {"id": "LA_pilotgate-gate", "name": "pilotgate-gate"}}})
    graphql_answer(gh, {"g0": {"issue": {"id": "I_g0", "databaseId": 100, "number": 21}}})
    answer_snapshot(gh, epic=2)

    assert connector.epic_of(f"{REPO}#9") == f"{REPO}#2"
    first = connector.snapshot(EPIC)
    connector.apply(first, [CreateGates(EPIC, (GateSpec("success-metric", "Metric", "Body.", frozenset(), None, ()),))])
    connector.snapshot(f"{REPO}#2")

    assert operation_names(gh) == ["EpicOf", "PilotEpicsByKey", "CreateLabels", "CreateGates", "PilotEpicsByKey"]
