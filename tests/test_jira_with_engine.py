"""The Jira connector driven by the real engine and the default template: provision once, then stay quiet."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import responses

from plugin.engine import plan
from plugin.model import AddBlocksLink, CreateGates, Tracker, UpsertComment
from plugin.templates import default_templates_dir, load_templates
from tests.jira_payloads import add, comment, connector, epic, issue, page, sent

NOW = datetime(2026, 1, 6, 9, 0, tzinfo=timezone.utc)
WORK = ["PG-2", "PG-3", "PG-4", "PG-5", "PG-6"]
GATES = ["success-metric", "integration-architecture", "security-briefing", "operations-owner"]


def template():
    return load_templates(default_templates_dir())["ai-pilot"]


def work(blocked_by=(), comments=()) -> list[dict]:
    return [issue(key, f"1000{key[-1]}", parent="PG-1", category="indeterminate" if key == "PG-3" else "new",
                  blocked_by=blocked_by, comments=comments if key == "PG-3" else ())
            for key in WORK]


@responses.activate
def test_engine_plan_for_a_new_pilot_becomes_one_bulk_create_with_every_link():
    jira, memory, _ = connector()
    add("GET", "issue/PG-1", epic())
    add("POST", "search/jql", page(work()))
    snap = jira.snapshot("PG-1")
    actions = plan(template(), snap, NOW)
    creates = [a for a in actions if isinstance(a, CreateGates)]
    assert [s.gate for s in creates[0].gates] == GATES
    responses.calls.reset()
    made = [(f"PG-{20 + n}", f"300{n}") for n in range(len(creates[0].gates))]
    add("POST", "issue/bulk", {"issues": [{"id": ref, "key": key} for key, ref in made], "errors": []}, status=201)
    add("PUT", "issue/PG-1", status=204)

    outcomes = jira.apply(snap, actions)

    assert all(o.done for o in outcomes)
    writes = sent()
    bulk = writes[0][2]["issueUpdates"]
    assert writes[0][:2] == ("POST", "issue/bulk") and len(bulk) == len(creates[0].gates)
    linked = {link["add"]["outwardIssue"]["key"] for u in bulk for link in u.get("update", {}).get("issuelinks", [])}
    assert linked <= set(WORK) and linked
    assert not any(isinstance(a, (UpsertComment, AddBlocksLink)) for a in actions)  # comments wait for gates
    assert len(memory.gate_tickets(Tracker.JIRA, "PG-1")) == len(made)


@responses.activate
def test_engine_and_connector_together_stay_quiet_once_everything_is_in_place():
    jira, memory, _ = connector()
    gates = [issue(f"PG-{20 + n}", f"300{n}", parent="PG-1", gate=g, summary=f"Gate {g}")
             for n, g in enumerate(GATES)]
    blockers = [g["key"] for g in gates]
    add("GET", "issue/PG-1", epic(labels=["ai-pilot"]))
    add("POST", "search/jql", page(work(blocked_by=blockers) + gates))
    first = jira.snapshot("PG-1")
    [upsert] = [a for a in plan(template(), first, NOW) if isinstance(a, UpsertComment)]
    assert upsert.ticket_key == "PG-3" and upsert.rule == "work_started_early"
    responses.calls.reset()
    add("POST", "issue/PG-3/comment", comment("40001", upsert.body), status=201)
    jira.apply(first, [upsert])
    assert json.loads(responses.calls[0].request.body)["body"] == upsert.body
    responses.calls.reset()

    add("POST", "search/jql", page([epic(labels=["ai-pilot"])] + work(blocked_by=blockers, comments=[
        comment("40001", upsert.body)]) + gates))
    again = jira.snapshot("PG-1")
    outcomes = jira.apply(again, plan(template(), again, NOW))

    assert [o for o in outcomes if o.done] == []
    assert [method for method, _, _ in sent()] == ["POST"]  # one read (the epic's id is known by now), no write

