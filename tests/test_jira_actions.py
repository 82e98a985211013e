"""Jira links, labels, checks and the bot's one comment per ticket: each applied once, whatever is replayed."""

from __future__ import annotations

import pytest
import requests
import responses

from connectors.base import TransientError
from plugin.model import (
    AddBlocksLink, AddLabel, CreateGates, Epic, GateSpec, SetCheck, Ticket, Tracker, UpsertComment,
)
from tests.jira_payloads import API, HUMAN, add, comment, connector, epic, issue, page, sent

MARKER = [{"key": "pilotgate", "value": {"rule": "work_started_early"}}]
TEXT = "Work started while gates are open: PG-7."


def snapshot(jira, children):
    add("GET", "issue/PG-1", epic())
    add("POST", "search/jql", page(children))
    snap = jira.snapshot("PG-1")
    responses.calls.reset()
    return snap


def link(blocker: str, blocked: str) -> tuple:
    return ("POST", "issueLink", {"type": {"name": "Blocks"}, "inwardIssue": {"key": blocker},
                                  "outwardIssue": {"key": blocked}})


@responses.activate
def test_new_work_gets_linked_to_each_gate_and_existing_links_are_left_alone():
    jira, _, _ = connector()
    snap = snapshot(jira, [
        issue("PG-7", "10007", parent="PG-1", gate="success-metric"),
        issue("PG-8", "10008", parent="PG-1", gate="operations-owner"),
        issue("PG-2", "10002", parent="PG-1", blocked_by=["PG-7", "PG-8"]),
        issue("PG-9", "10009", parent="PG-1", blocked_by=["PG-7"]),
    ])
    add("POST", "issueLink", status=201)

    outcomes = jira.apply(snap, [AddBlocksLink("PG-7", "PG-9"), AddBlocksLink("PG-8", "PG-9"),
                                 AddBlocksLink("PG-7", "PG-2")])

    assert [o.done for o in outcomes] == [False, True, False]
    assert sent() == [link("PG-8", "PG-9")]


@responses.activate
def test_a_link_request_that_hits_a_server_error_is_retried_because_jira_dedupes_links():
    jira, _, sleeps = connector()
    snap = snapshot(jira, [issue("PG-9", "10009", parent="PG-1")])
    add("POST", "issueLink", status=503)
    add("POST", "issueLink", status=201)

    [outcome] = jira.apply(snap, [AddBlocksLink("PG-7", "PG-9")])

    assert outcome.done and len(sleeps) == 1
    assert sent() == [link("PG-7", "PG-9"), link("PG-7", "PG-9")]


@responses.activate
def test_first_comment_is_created_with_its_invisible_marker_and_remembered():
    jira, memory, _ = connector()
    snap = snapshot(jira, [issue("PG-2", "10002", parent="PG-1")])
    add("POST", "issue/PG-2/comment", comment("30001", TEXT, properties=MARKER), status=201)

    [outcome] = jira.apply(snap, [UpsertComment("PG-2", TEXT, "work_started_early")])

    assert outcome.done
    assert sent() == [("POST", "issue/PG-2/comment", {"body": TEXT, "properties": MARKER})]
    assert memory.comment_id(Tracker.JIRA, "PG-2") == "30001"


@responses.activate
def test_changed_text_edits_the_remembered_comment_in_place():
    jira, memory, _ = connector()
    memory.record_comment(Tracker.JIRA, "PG-2", "30001")
    snap = snapshot(jira, [issue("PG-2", "10002", parent="PG-1", comments=[comment("30001", "old text")])])
    assert snap.bot_comments["PG-2"] == "old text"
    add("PUT", "issue/PG-2/comment/30001", comment("30001", TEXT))

    [outcome] = jira.apply(snap, [UpsertComment("PG-2", TEXT, "work_started_early")])

    assert outcome.done
    assert sent() == [("PUT", "issue/PG-2/comment/30001", {"body": TEXT})]


@responses.activate
def test_same_text_makes_no_call():
    jira, memory, _ = connector()
    memory.record_comment(Tracker.JIRA, "PG-2", "30001")
    snap = snapshot(jira, [issue("PG-2", "10002", parent="PG-1", comments=[comment("30001", TEXT + "\r\n")])])

    [outcome] = jira.apply(snap, [UpsertComment("PG-2", TEXT, "work_started_early")])

    assert not outcome.done and outcome.reason == "the comment already says this"
    assert sent() == []


@responses.activate
def test_comment_is_found_by_its_property_when_the_ledger_forgot_it():
    jira, memory, _ = connector()
    comments = [comment("30000", "I started", author=HUMAN), comment("30001", "old text")]
    snap = snapshot(jira, [issue("PG-2", "10002", parent="PG-1", comments=comments)])
    add("GET", "issue/PG-2/comment", {"startAt": 0, "maxResults": 100, "total": 2, "comments": comments})
    add("POST", "comment/list", {"isLast": True, "startAt": 0, "maxResults": 1000, "total": 1,
                                 "values": [comment("30001", "old text", properties=MARKER)]})
    add("PUT", "issue/PG-2/comment/30001", comment("30001", TEXT))

    [outcome] = jira.apply(snap, [UpsertComment("PG-2", TEXT, "work_started_early")])

    assert outcome.done
    assert sent() == [
        ("GET", "issue/PG-2/comment", {"startAt": "0", "maxResults": "100", "expand": "properties"}),
        ("POST", "comment/list?expand=properties", {"ids": [30001]}),
        ("PUT", "issue/PG-2/comment/30001", {"body": TEXT}),
    ]
    assert memory.comment_id(Tracker.JIRA, "PG-2") == "30001"


@responses.activate
def test_a_bot_comment_without_the_marker_is_not_taken_for_ours():
    jira, _, _ = connector()
    other = comment("30005", "Deployed by CI", properties=[])
    snap = snapshot(jira, [issue("PG-2", "10002", parent="PG-1", comments=[other])])
    add("GET", "issue/PG-2/comment", {"startAt": 0, "maxResults": 100, "total": 1, "comments": [other]})
    add("POST", "issue/PG-2/comment", comment("30006", TEXT, properties=MARKER), status=201)

    [outcome] = jira.apply(snap, [UpsertComment("PG-2", TEXT, "work_started_early")])

    assert outcome.done
    assert [(method, path) for method, path, _ in sent()] == [
        ("GET", "issue/PG-2/comment"), ("POST", "issue/PG-2/comment")]


@responses.activate
def test_comment_create_that_times_out_is_confirmed_before_anything_is_sent_again():
    jira, memory, _ = connector()
    snap = snapshot(jira, [issue("PG-2", "10002", parent="PG-1")])
    responses.add("POST", API + "issue/PG-2/comment", body=requests.ReadTimeout("read timed out"))
    add("GET", "issue/PG-2/comment", {"startAt": 0, "maxResults": 100, "total": 0, "comments": []})

    with pytest.raises(TransientError):
        jira.apply(snap, [UpsertComment("PG-2", TEXT, "work_started_early")])

    assert [(method, path) for method, path, _ in sent()] == [
        ("POST", "issue/PG-2/comment"), ("GET", "issue/PG-2/comment")]
    assert memory.comment_id(Tracker.JIRA, "PG-2") is None


@responses.activate
def test_label_is_added_once():
    jira, _, _ = connector()
    snap = snapshot(jira, [issue("PG-2", "10002", parent="PG-1", labels=["pilotgate-started-early"])])
    add("PUT", "issue/PG-1", status=204)

    outcomes = jira.apply(snap, [AddLabel("PG-2", "pilotgate-started-early"), AddLabel("PG-1", "pilotgate")])

    assert [o.done for o in outcomes] == [False, True]
    assert sent() == [("PUT", "issue/PG-1", {"update": {"labels": [{"add": "pilotgate"}]}})]


def test_commit_checks_are_skipped_on_jira():
    jira, _, _ = connector()
    [outcome] = jira.apply(Epic(Ticket(Tracker.JIRA, "PG-1", "Pilot")), [SetCheck("PG-2", "abc123", False, "open")])
    assert not outcome.done and "not supported" in outcome.reason


@responses.activate
def test_gates_are_created_before_other_actions_and_outcomes_keep_the_planned_order():
    jira, _, _ = connector()
    snap = snapshot(jira, [issue("PG-2", "10002", parent="PG-1")])
    add("POST", "issue/PG-2/comment", comment("30001", TEXT, properties=MARKER), status=201)
    add("POST", "issue/bulk", {"issues": [{"id": "3000", "key": "PG-20"}], "errors": []}, status=201)
    gate = GateSpec("success-metric", "Gate", "", frozenset(), None, ("PG-2",))

    outcomes = jira.apply(snap, [UpsertComment("PG-2", TEXT, "work_started_early"), CreateGates("PG-1", (gate,))])

    assert [type(o.action).__name__ for o in outcomes] == ["UpsertComment", "CreateGates"]
    assert [path for _, path, _ in sent()] == [
        "issue/bulk", "issue/PG-2/comment"]
