"""Writing to GitHub: gate issues as sub-issues and blockers, idempotently, in as few requests as GitHub allows."""

from __future__ import annotations

import pytest
import requests

from connectors.base import DictMemory, TransientError
from plugin.model import AddBlocksLink, CreateGates, Tracker, UpsertComment
from tests.github_nodes import API, GRAPHQL, REPO, FakeClock, gh, graphql_answer, issue_node, make_connector, sent
from tests.github_write_world import (
    EPIC, GATES, REPO_ID, blocked_by, create_input, created, gate_node, linked, node, operations,
    repository, snapshot, spec,
)
from tests.openapi_github import example

__all__ = ["gh"]  # the fixture: imported so pytest finds it


def test_provisioning_four_missing_gates_is_one_create_request_and_one_link_request(gh):
    memory, clock = DictMemory(), FakeClock()
    connector = make_connector(memory, clock)
    epic = snapshot(gh, connector, issue_node(7), issue_node(8))
    graphql_answer(gh, created(21, 22, 23, 24))
    graphql_answer(gh, linked(8))

    outcomes = connector.apply(epic, [CreateGates(EPIC, tuple(spec(g) for g in GATES))])

    assert operations(gh) == [
        ("CreateGates", {f"g{i}": create_input(g) for i, g in enumerate(GATES)}),
        ("LinkGates", {f"k{i}": blocked_by(gate, work) for i, (gate, work)
                       in enumerate((g, w) for g in range(21, 25) for w in (7, 8))}),
    ]
    assert outcomes[0].done and outcomes[0].created_keys == tuple(f"{REPO}#{n}" for n in range(21, 25))
    assert memory.gate_tickets(Tracker.GITHUB, EPIC) == {g: f"{REPO}#{n}" for n, g in enumerate(GATES, start=21)}
    assert memory.gate_refs(Tracker.GITHUB, EPIC)["success-metric"] == f"9021:{node(21)}"
    assert clock.sleeps == [1.0]  # two mutation requests, a second apart


def test_labels_the_repository_lacks_are_created_in_one_request_before_the_gates(gh):
    connector = make_connector()
    epic = snapshot(gh, connector, repo=repository({"ai-pilot": "LA_ai"}))
    graphql_answer(gh, {"l0": {"label": {"id": "LA_new", "name": "pilotgate-gate"}}})
    graphql_answer(gh, created(21))

    connector.apply(epic, [CreateGates(EPIC, (spec("success-metric", blocks=()),))])

    assert operations(gh) == [
        ("CreateLabels", {"l0": {"repositoryId": REPO_ID, "name": "pilotgate-gate", "color": "ededed"}}),
        ("CreateGates", {"g0": create_input("success-metric", ("LA_ai", "LA_new"))}),
    ]


def test_an_epic_read_by_search_gets_its_repository_and_label_ids_from_one_lookup(gh):
    connector = make_connector()
    epic = snapshot(gh, connector, repo={})  # a search page reads no repository facts
    graphql_answer(gh, {"repo": {"id": REPO_ID, "nameWithOwner": REPO, "l0": {"id": "LA_ai", "name": "ai-pilot"},
                                 "l1": {"id": "LA_gate", "name": "pilotgate-gate"}}})
    graphql_answer(gh, created(21))

    connector.apply(epic, [CreateGates(EPIC, (spec("success-metric", blocks=()),))])

    assert operations(gh) == [
        ("GateIds", {"owner": "example-org", "name": "ml-pilots", "l0": "ai-pilot", "l1": "pilotgate-gate"}),
        ("CreateGates", {"g0": create_input("success-metric")}),
    ]


def test_provisioning_one_missing_gate_creates_only_that_one(gh):
    connector = make_connector()
    present = [gate_node(20 + i, g, blocking=2) for i, g in enumerate(GATES[:3])]
    epic = snapshot(gh, connector, *present, issue_node(7), issue_node(8))
    graphql_answer(gh, created(24))
    graphql_answer(gh, linked(2))

    outcomes = connector.apply(epic, [CreateGates(EPIC, tuple(spec(g) for g in GATES))])

    assert [(name, sorted(variables)) for name, variables in operations(gh)] == [
        ("CreateGates", ["g0"]), ("LinkGates", ["k0", "k1"])]
    assert outcomes[0].created_keys == (f"{REPO}#24",)


def test_provisioning_with_no_missing_gate_sends_nothing(gh):
    connector = make_connector()
    epic = snapshot(gh, connector, *[gate_node(21 + i, g) for i, g in enumerate(GATES)])

    outcomes = connector.apply(epic, [CreateGates(EPIC, tuple(spec(g) for g in GATES))])

    assert len(sent(gh)) == 1 and (outcomes[0].done, outcomes[0].reason) == (False, "gates already exist")


def test_second_provisioning_from_a_stale_snapshot_reads_once_and_writes_nothing(gh):
    memory = DictMemory()
    for n, gate in enumerate(GATES, start=21):
        memory.record_gate(Tracker.GITHUB, EPIC, gate, f"{REPO}#{n}", f"{9000 + n}:{node(n)}")
    connector = make_connector(memory)
    epic = snapshot(gh, connector, issue_node(7), issue_node(8))
    graphql_answer(gh, {"repo": {"id": REPO_ID, "nameWithOwner": REPO},
                        **{f"i{i}": {"issue": {"id": node(n), "databaseId": 9000 + n, "number": n,
                                               "repository": {"nameWithOwner": REPO}, "parent": {"id": node(1)}}}
                           for i, n in enumerate(range(21, 25))}})

    again = connector.apply(epic, [CreateGates(EPIC, tuple(spec(g) for g in GATES))])

    assert [name for name, _ in operations(gh)] == ["GateIds"]  # the ledger's gates are checked, nothing written
    assert (again[0].done, again[0].created_keys, again[0].reason) == (False, (), "gates already exist")


def test_gate_remembered_but_not_a_sub_issue_after_a_crash_gets_its_links_without_a_new_issue(gh):
    memory = DictMemory()
    memory.record_gate(Tracker.GITHUB, EPIC, "success-metric", f"{REPO}#21", f"9021:{node(21)}")
    connector = make_connector(memory)
    epic = snapshot(gh, connector, issue_node(7), issue_node(8))
    graphql_answer(gh, {"repo": {"id": REPO_ID, "nameWithOwner": REPO},
                        "i0": {"issue": {"id": node(21), "databaseId": 9021, "number": 21,
                                         "repository": {"nameWithOwner": REPO}, "parent": None}}})
    graphql_answer(gh, linked(3))

    connector.apply(epic, [CreateGates(EPIC, (spec("success-metric"),))])

    assert operations(gh)[1] == ("LinkGates", {"k0": {"issueId": node(1), "subIssueId": node(21)},
                                               "k1": blocked_by(21, 7), "k2": blocked_by(21, 8)})


def test_partial_success_records_the_created_gates_and_reports_the_refused_one(gh):
    memory = DictMemory()
    connector = make_connector(memory)
    epic = snapshot(gh, connector, issue_node(7))
    answer = created(21, 99, 23)
    answer["g1"] = None
    gh.post(GRAPHQL, json={"data": answer, "errors": [
        {"type": "UNPROCESSABLE", "path": ["g1"], "message": "Title is too long (maximum is 256 characters)"}]})
    graphql_answer(gh, linked(2))
    specs = tuple(spec(g, blocks=(f"{REPO}#7",)) for g in GATES[:3])

    outcomes = connector.apply(epic, [CreateGates(EPIC, specs)])

    assert memory.gate_tickets(Tracker.GITHUB, EPIC) == {"success-metric": f"{REPO}#21",
                                                         "security-briefing": f"{REPO}#23"}
    assert operations(gh)[1] == ("LinkGates", {"k0": blocked_by(21, 7), "k1": blocked_by(23, 7)})
    assert outcomes[0].created_keys == (f"{REPO}#21", f"{REPO}#23")
    assert "gates refused: GitHub GraphQL g1: Title is too long" in outcomes[0].reason


def test_a_gate_of_unknown_fate_is_found_by_its_marker_instead_of_created_twice(gh):
    memory = DictMemory()
    connector = make_connector(memory)
    epic = snapshot(gh, connector)
    gh.post(GRAPHQL, json={"data": {**created(21), "g1": None}, "errors": [
        {"path": ["g1"], "message": "Something went wrong while executing your query. This may be the result "
                                    "of a timeout, or it could be a GitHub bug."}]})
    marker = f"<!-- pilotgate:gate=integration-architecture epic={EPIC} -->\n\nBody."
    gh.get(f"{API}/repos/{REPO}/issues", json=[
        example("issue", number=30, id=9030, body="unrelated"),
        example("issue", number=22, id=9022, node_id=node(22), body=marker,
                parent_issue_url=f"{API}/repos/{REPO}/issues/1")])

    outcomes = connector.apply(epic, [CreateGates(EPIC, tuple(spec(g, blocks=()) for g in GATES[:2]))])

    assert [name for name, _ in operations(gh)] == [
        "CreateGates", "GET /repos/example-org/ml-pilots/issues?state=all&sort=created&direction=desc&per_page=100"]
    assert outcomes[0].created_keys == (f"{REPO}#21", f"{REPO}#22")
    assert memory.gate_refs(Tracker.GITHUB, EPIC) == {"success-metric": f"9021:{node(21)}",
                                                      "integration-architecture": f"9022:{node(22)}"}


def test_a_create_request_that_timed_out_is_looked_for_then_sent_once_more_for_the_absent_gates(gh):
    connector = make_connector()
    epic = snapshot(gh, connector)
    gh.post(GRAPHQL, body=requests.ConnectTimeout("read timed out"))
    gh.get(f"{API}/repos/{REPO}/issues", json=[])
    graphql_answer(gh, created(21))

    outcomes = connector.apply(epic, [CreateGates(EPIC, (spec("success-metric", blocks=()),))])

    assert [name for name, _ in operations(gh)] == [
        "CreateGates", "GET /repos/example-org/ml-pilots/issues?state=all&sort=created&direction=desc&per_page=100",
        "CreateGates"]
    assert outcomes[0].created_keys == (f"{REPO}#21",)


def test_a_rate_limited_create_raises_transient_once_the_others_are_recorded_and_linked(gh):
    memory = DictMemory()
    connector = make_connector(memory)
    epic = snapshot(gh, connector, issue_node(7))
    gh.post(GRAPHQL, json={"data": {**created(21), "g1": None}, "errors": [
        {"type": "UNPROCESSABLE", "path": ["g1"], "message": "was submitted too quickly"}]})
    graphql_answer(gh, linked(1))

    with pytest.raises(TransientError, match="submitted too quickly") as raised:
        connector.apply(epic, [CreateGates(EPIC, tuple(spec(g, blocks=(f"{REPO}#7",)) for g in GATES[:2]))])

    assert raised.value.retry_after == 60.0
    assert memory.gate_tickets(Tracker.GITHUB, EPIC) == {"success-metric": f"{REPO}#21"}
    assert operations(gh)[1] == ("LinkGates", {"k0": blocked_by(21, 7)})


def test_sub_issue_and_dependency_limits_are_told_on_the_epic_instead_of_failing_silently(gh):
    connector = make_connector()
    crowded = issue_node(7, blocked_by=tuple(f"{REPO}#{n}" for n in range(100, 150)))
    epic = snapshot(gh, connector, crowded, issue_node(8), total=99)
    # only the first gate fits under the 100 sub-issue limit, and #7 already has 50 blockers
    graphql_answer(gh, created(21))
    graphql_answer(gh, linked(1))
    gh.post(f"{API}/repos/{REPO}/issues/1/comments", status=201, json=example("issue-comment", id=777))

    connector.apply(epic, [CreateGates(EPIC, tuple(spec(g) for g in GATES[:2]))])

    note = sent(gh)[-1]
    assert note[:2] == ("POST", f"/repos/{REPO}/issues/1/comments")
    assert note[2]["body"].startswith("<!-- pilotgate:note -->\nPilot Gate could not finish wiring this pilot:")
    assert f"{REPO}#21 could not be marked as blocking {REPO}#7" in note[2]["body"]
    assert "maximum of 100 sub-issues" in note[2]["body"]
    assert [sorted(v) for _, v in operations(gh)[:2]] == [["g0"], ["k0"]]


def test_dependency_links_for_new_work_go_out_in_one_request_and_skip_existing_ones(gh):
    connector = make_connector()
    epic = snapshot(gh, connector, gate_node(21, "success-metric"), gate_node(22, "operations-owner"),
                    issue_node(7, blocked_by=(f"{REPO}#21",)), issue_node(9))
    graphql_answer(gh, linked(2))

    outcomes = connector.apply(epic, [AddBlocksLink(f"{REPO}#21", f"{REPO}#7"),
                                      AddBlocksLink(f"{REPO}#21", f"{REPO}#9"),
                                      AddBlocksLink(f"{REPO}#22", f"{REPO}#9")])

    assert operations(gh) == [("LinkGates", {"k0": blocked_by(21, 9), "k1": blocked_by(22, 9)})]
    assert [(o.done, o.reason) for o in outcomes] == [(False, "already linked"), (True, ""), (True, "")]


def test_a_link_github_refuses_becomes_a_refused_outcome_and_the_others_are_done(gh):
    connector = make_connector()
    epic = snapshot(gh, connector, gate_node(21, "success-metric"), issue_node(7), issue_node(9))
    gh.post(GRAPHQL, json={"data": {"k0": None, "k1": {"clientMutationId": None}}, "errors": [
        {"type": "FORBIDDEN", "path": ["k0"], "message": "Resource not accessible by integration"}]})

    outcomes = connector.apply(epic, [AddBlocksLink(f"{REPO}#21", f"{REPO}#7"),
                                      AddBlocksLink(f"{REPO}#21", f"{REPO}#9")])

    assert (outcomes[0].done, outcomes[1].done) == (False, True)
    assert outcomes[0].reason.startswith(f"refused: {REPO}#21 blocks {REPO}#7: GitHub GraphQL k0: Resource not")


def test_a_link_request_of_unknown_fate_raises_transient_before_any_comment(gh):
    connector = make_connector()
    epic = snapshot(gh, connector, gate_node(21, "success-metric"), issue_node(9))
    gh.post(GRAPHQL, status=502, json={"message": "Server Error"})

    with pytest.raises(TransientError, match="502"):
        connector.apply(epic, [AddBlocksLink(f"{REPO}#21", f"{REPO}#9"),
                               UpsertComment(f"{REPO}#9", "Gates open.", "work_started_early")])

    assert [name for name, _ in operations(gh)] == ["LinkGates"]  # sent once, never repeated blindly
