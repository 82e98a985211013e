"""Provisioning gate tickets in Jira: bulk creates stamped with their gate, recorded at once, never duplicated."""

from __future__ import annotations

import json
from datetime import date

import pytest
import requests
import responses

from connectors.base import TransientError
from plugin.model import CreateGates, GateSpec, Tracker
from tests.jira_payloads import API, add, children_search, connector, epic, epic_get, issue, page, sent

WORK = ("PG-2", "PG-3", "PG-4", "PG-5", "PG-6")
GATES = ("success-metric", "integration-architecture", "security-briefing", "operations-owner")
DUE = date(2026, 1, 12)


def spec(gate: str) -> GateSpec:
    return GateSpec(gate=gate, title=f"Gate: {gate}", body=f"h2. {gate}\nFill in the details.",
                    labels=frozenset({"ai-pilot", "pilot gate"}), due=DUE, blocks=WORK)


def wire(gate: str, *, links: bool = True) -> dict:
    """What Jira must receive for one gate: IssueUpdateDetails with fields, properties and links."""
    details = {
        "fields": {
            "project": {"key": "PG"},
            "issuetype": {"name": "Task"},
            "summary": f"Gate: {gate}",
            "description": f"h2. {gate}\nFill in the details.",
            "labels": sorted(["ai-pilot", "pilot-gate", f"pilotgate-gate-{gate}"]),
            "parent": {"key": "PG-1"},
            "duedate": "2026-01-12",
        },
        "properties": [{"key": "pilotgate.gate", "value": {"gate": gate, "epic": "PG-1"}}],
    }
    if links:
        details["update"] = {"issuelinks": [
            {"add": {"type": {"name": "Blocks"}, "outwardIssue": {"key": key}}} for key in WORK
        ]}
    return details


def work_tickets() -> list[dict]:
    return [issue(key, f"1000{key[-1]}", parent="PG-1") for key in WORK]


def existing_gates(*gates: str) -> list[dict]:
    return [issue(f"PG-{10 + n}", f"200{n}", parent="PG-1", gate=g) for n, g in enumerate(GATES) if g in gates]


def snapshot_with(jira, children: list[dict]):
    add("GET", "issue/PG-1", epic())
    add("POST", "search/jql", page(children))
    snap = jira.snapshot("PG-1")
    responses.calls.reset()
    return snap


def created(*pairs: tuple[str, str]) -> dict:
    return {"issues": [{"id": ref, "key": key, "self": f"{API}issue/{ref}"} for key, ref in pairs], "errors": []}


@responses.activate
def test_epic_missing_all_four_gates_gets_them_in_one_bulk_create():
    jira, memory, _ = connector()
    snap = snapshot_with(jira, work_tickets())
    add("POST", "issue/bulk", created(("PG-20", "3000"), ("PG-21", "3001"), ("PG-22", "3002"), ("PG-23", "3003")),
        status=201)

    [outcome] = jira.apply(snap, [CreateGates("PG-1", tuple(spec(g) for g in GATES))])

    assert outcome.done and outcome.created_keys == ("PG-20", "PG-21", "PG-22", "PG-23")
    assert sent() == [("POST", "issue/bulk", {"issueUpdates": [wire(g) for g in GATES]})]
    assert memory.gate_tickets(Tracker.JIRA, "PG-1") == {g: f"PG-{20 + n}" for n, g in enumerate(GATES)}
    assert memory.gate_refs(Tracker.JIRA, "PG-1")["success-metric"] == "3000"


@responses.activate
def test_epic_missing_one_gate_gets_only_that_one():
    jira, memory, _ = connector()
    snap = snapshot_with(jira, work_tickets() + existing_gates(*GATES[:3]))
    add("POST", "issue/bulk", created(("PG-20", "3003")), status=201)

    [outcome] = jira.apply(snap, [CreateGates("PG-1", tuple(spec(g) for g in GATES))])

    assert outcome.created_keys == ("PG-20",)
    assert sent() == [
        ("POST", "issue/bulk", {"issueUpdates": [wire("operations-owner")]}),
    ]


@responses.activate
def test_epic_with_every_gate_makes_no_call_even_when_the_ledger_knows_none():
    jira, _, _ = connector()
    snap = snapshot_with(jira, work_tickets() + existing_gates(*GATES))

    [outcome] = jira.apply(snap, [CreateGates("PG-1", tuple(spec(g) for g in GATES))])

    assert not outcome.done and outcome.reason == "every gate already exists"
    assert sent() == []


@responses.activate
def test_second_provisioning_changes_nothing_although_search_lags_behind():
    jira, memory, _ = connector()
    snap = snapshot_with(jira, work_tickets())
    add("POST", "issue/bulk", created(*((f"PG-{20 + n}", f"300{n}") for n in range(4))), status=201)
    jira.apply(snap, [CreateGates("PG-1", tuple(spec(g) for g in GATES))])
    responses.calls.reset()

    new_gates = [issue(f"PG-{20 + n}", f"300{n}", parent="PG-1", gate=g) for n, g in enumerate(GATES)]

    def lagging_search(request):
        # Search has not indexed the new gates yet: only reconciled ids are brought up to date.
        body = json.loads(request.body)
        reconciled = [g for g in new_gates if int(g["id"]) in body.get("reconcileIssues", [])]
        return 200, {}, json.dumps(page(work_tickets() + reconciled))

    add("GET", "issue/PG-1", epic())
    responses.add_callback("POST", API + "search/jql", callback=lagging_search)
    restarted, _, _ = connector(memory)  # a new process: only the ledger remembers the gates
    again = restarted.snapshot("PG-1")
    outcomes = restarted.apply(again, [CreateGates("PG-1", tuple(spec(g) for g in GATES))])

    assert set(again.gates()) == set(GATES)
    assert not outcomes[0].done
    assert sent() == [
        ("GET", "issue/PG-1", epic_get()),
        ("POST", "search/jql", children_search(["PG-1"], [3000, 3001, 3002, 3003])),
    ]


@responses.activate
def test_partial_failure_keeps_what_was_created_and_reports_jiras_reason():
    jira, memory, _ = connector()
    snap = snapshot_with(jira, work_tickets())
    answer = created(("PG-20", "3000"), ("PG-21", "3001"), ("PG-22", "3003"))
    answer["errors"] = [{"failedElementNumber": 2, "status": 400, "elementErrors": {
        "errorMessages": [], "errors": {"duedate": "Due date is not on the appropriate screen."}}}]
    add("POST", "issue/bulk", answer, status=201)

    [outcome] = jira.apply(snap, [CreateGates("PG-1", tuple(spec(g) for g in GATES))])

    assert not outcome.done
    assert outcome.created_keys == ("PG-20", "PG-21", "PG-22")
    assert outcome.reason == "security-briefing: duedate: Due date is not on the appropriate screen."
    assert memory.gate_tickets(Tracker.JIRA, "PG-1") == {
        "success-metric": "PG-20", "integration-architecture": "PG-21", "operations-owner": "PG-22"}


@responses.activate
def test_links_are_added_after_the_create_where_the_create_screen_lacks_them():
    jira, _, _ = connector()
    snap = snapshot_with(jira, work_tickets())
    refused = {"issues": [], "errors": [{"failedElementNumber": 0, "status": 400, "elementErrors": {
        "errorMessages": [], "errors": {"issuelinks": "Field 'issuelinks' cannot be set. It is not on the "
                                                      "appropriate screen, or unknown."}}}]}
    add("POST", "issue/bulk", refused, status=400)
    add("POST", "issue/bulk", created(("PG-20", "3000")), status=201)
    for _ in WORK:
        add("POST", "issueLink", status=201)

    [outcome] = jira.apply(snap, [CreateGates("PG-1", (spec("success-metric"),))])

    assert outcome.done and outcome.created_keys == ("PG-20",)
    assert sent() == [
        ("POST", "issue/bulk", {"issueUpdates": [wire("success-metric")]}),
        ("POST", "issue/bulk", {"issueUpdates": [wire("success-metric", links=False)]}),
        *[("POST", "issueLink", {"type": {"name": "Blocks"}, "inwardIssue": {"key": "PG-20"},
                                 "outwardIssue": {"key": key}}) for key in WORK],
    ]


@responses.activate
def test_create_that_times_out_is_not_resent_while_search_cannot_see_the_result():
    jira, memory, sleeps = connector()
    snap = snapshot_with(jira, work_tickets())
    responses.add("POST", API + "issue/bulk", body=requests.ReadTimeout("read timed out"))
    add("POST", "search/jql", page(work_tickets()))

    with pytest.raises(TransientError) as caught:
        jira.apply(snap, [CreateGates("PG-1", tuple(spec(g) for g in GATES))])

    assert caught.value.retry_after == 120.0
    assert [(method, path) for method, path, _ in sent()] == [("POST", "issue/bulk"), ("POST", "search/jql")]
    assert sent()[1][2] == children_search(["PG-1"])
    assert memory.gate_tickets(Tracker.JIRA, "PG-1") == {}
    assert sleeps == []


@responses.activate
def test_create_that_times_out_but_happened_is_recorded_from_a_fresh_read():
    jira, memory, _ = connector()
    snap = snapshot_with(jira, work_tickets())
    responses.add("POST", API + "issue/bulk", body=requests.ConnectionError("connection reset"))
    made = [issue(f"PG-{20 + n}", f"300{n}", parent="PG-1", gate=g) for n, g in enumerate(GATES)]
    add("POST", "search/jql", page(work_tickets() + made))

    [outcome] = jira.apply(snap, [CreateGates("PG-1", tuple(spec(g) for g in GATES))])

    assert outcome.done and outcome.created_keys == ("PG-20", "PG-21", "PG-22", "PG-23")
    assert [(method, path) for method, path, _ in sent()] == [
        ("POST", "issue/bulk"), ("POST", "search/jql")]
    assert memory.gate_tickets(Tracker.JIRA, "PG-1")["operations-owner"] == "PG-23"


@responses.activate
def test_more_than_fifty_gates_are_sent_in_bulk_requests_of_fifty():
    jira, _, _ = connector()
    snap = snapshot_with(jira, [])
    many = tuple(GateSpec(f"g{n}", f"Gate {n}", "", frozenset(), None, ()) for n in range(51))
    add("POST", "issue/bulk", created(*((f"PG-{100 + n}", str(5000 + n)) for n in range(50))), status=201)
    add("POST", "issue/bulk", created(("PG-150", "5050")), status=201)

    [outcome] = jira.apply(snap, [CreateGates("PG-1", many)])

    assert len(outcome.created_keys) == 51
    assert [len(body["issueUpdates"]) for method, _, body in sent() if method == "POST"] == [50, 1]
