"""The whole story over real HTTP, per tracker: gates inserted by webhook, one early-work comment, gates clear."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from plugin.demo_stack import REPO, wait_for
from plugin.demo_story import GitHubTeam
from plugin.model import Tracker
from plugin.readiness import assess_all
from tests.e2e_world import (
    TRACKERS, GATES, STEP, bot_comments, children, number, open_pilot, provisioned, team_for, watcher_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@TRACKERS
def test_new_pilot_gets_gates_then_one_early_work_comment_that_turns_into_gates_clear(stack, tracker):
    team, watcher = team_for(stack, tracker), watcher_for(stack, tracker)
    template = stack.templates[tracker]
    pilot = open_pilot(stack, tracker)

    epic = provisioned(stack, pilot)  # by webhook alone: no sweep runs here
    gates = epic.gates()
    assert sorted(gates) == sorted(g.key for g in template.gates)
    for work_key, _ in pilot.work:
        assert {t.key for t in gates.values()} <= epic.child(work_key).blocked_by
    assert children(stack, pilot) == len(pilot.work) + GATES  # counted by the sandbox itself
    started, _ = pilot.work[0]

    team.start_work(started)
    first = wait_for("the early-work comment", lambda: watcher.comment(pilot.key, started), STEP)
    assert first.startswith(f"Work on {started} has started while {GATES} gates are still open")
    for gate in gates.values():
        assert gate.title in first  # each open gate is named

    for gate in gates.values():
        team.complete_gate(gate, template.placeholder)
    final = wait_for("the gates-clear comment", lambda: watcher.settled_comment(pilot.key, started), STEP)

    assert final.startswith(f"Update: every gate that blocks {started} is now done")
    raw = bot_comments(stack, tracker, started)
    assert len(raw) == 1 and final in raw[0]  # edited in place, never a second comment
    for other, _ in pilot.work[1:]:
        assert bot_comments(stack, tracker, other) == []  # not started: nothing to say
    assert stack.sandbox.wait_for_webhooks(10)
    assert all(d["delivered"] for d in stack.sandbox.client.deliveries())  # the service took every webhook
    readiness = assess_all([stack.connectors[tracker]], stack.templates, datetime.now(timezone.utc)).readiness
    assert [(r.epic.key, r.verdict) for r in readiness] == [(pilot.key, "ready")]


def test_pull_request_closing_a_ticket_with_open_gates_gets_a_failing_check(stack):
    team = team_for(stack, Tracker.GITHUB)
    assert isinstance(team, GitHubTeam)
    pilot = open_pilot(stack, Tracker.GITHUB)
    provisioned(stack, pilot)
    started, _ = pilot.work[0]

    pull = team.open_pull(started, "Nightly demand feed")

    def gate_check():
        record = stack.sandbox.client.github_record(REPO, pull["number"])
        return [s for s in record["statuses"] if s["context"] == "pilotgate/gates"]

    statuses = wait_for("the pilotgate/gates commit status", gate_check, STEP)
    assert [s["state"] for s in statuses] == ["failure"]
    assert statuses[0]["sha"] == pull["head_sha"]
    comment = wait_for("the early-work comment", lambda: bot_comments(stack, Tracker.GITHUB, started), STEP)
    assert len(comment) == 1 and f"#{number(started)}" in comment[0]
