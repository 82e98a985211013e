"""Over real HTTP, per tracker: redelivered webhooks, a tracker failing for a while, a service that was down."""

from __future__ import annotations

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import delete

from plugin.cli import main
from plugin.demo_stack import wait_for
from plugin.ledger import slots
from plugin.model import Tracker
from tests.e2e_world import (
    TRACKERS, GATES, STEP, bot_comments, children, open_pilot, provisioned, settled, team_for, writes,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
HUMAN = ("ana@example.com", "sandbox-token")  # the sandbox takes any basic credentials


@TRACKERS
def test_redelivering_every_webhook_changes_nothing(stack, tracker):
    client = stack.sandbox.client
    pilot = open_pilot(stack, tracker)
    provisioned(stack, pilot)
    started, _ = pilot.work[0]
    team_for(stack, tracker).start_work(started)
    wait_for("the early-work comment", lambda: bot_comments(stack, tracker, started), STEP)
    settled(stack)
    before = (writes(stack), children(stack, pilot), bot_comments(stack, tracker, started))
    originals = client.deliveries()

    for delivery in originals:
        client.redeliver(delivery["id"])
    settled(stack)

    again = [d for d in client.deliveries() if d["redelivery"]]
    assert len(again) == len(originals)
    assert {d["status"] for d in again} == {200}  # duplicate (or ignored, as the first time): nothing queued
    assert (writes(stack), children(stack, pilot), bot_comments(stack, tracker, started)) == before


@TRACKERS
def test_tracker_failing_for_a_while_loses_nothing_once_it_recovers(stack, tracker):
    client = stack.sandbox.client
    client.faults(error_rate=1.0)  # every API call answers 500; the people's admin calls still work
    pilot = open_pilot(stack, tracker)
    started, _ = pilot.work[0]
    team_for(stack, tracker).start_work(started)
    wait_for("the service meeting 500s", lambda: client.calls()["injected"].get("500", 0) >= 3, STEP)
    assert children(stack, pilot) == len(pilot.work)  # nothing got through yet

    client.faults(burst_429=4, retry_after=1)  # then rate limited for a moment, then healthy
    wait_for("the gates, after recovery", lambda: children(stack, pilot) == len(pilot.work) + GATES, 60)
    wait_for("the early-work comment, after recovery", lambda: bot_comments(stack, tracker, started), STEP)
    settled(stack)

    assert children(stack, pilot) == len(pilot.work) + GATES  # no gate twice, though creates were refused
    assert len(bot_comments(stack, tracker, started)) == 1
    assert client.calls()["injected"]["429"] == 4
    assert stack.sandbox.client.health()["ok"]
    assert _failed_events(stack) == 0


@TRACKERS
def test_pilot_opened_while_the_service_was_down_is_found_by_pilotgate_sync(stack, tracker):
    client = stack.sandbox.client
    stack.stop_service()
    pilot = open_pilot(stack, tracker)
    assert stack.sandbox.wait_for_webhooks(15)
    assert not any(d["delivered"] for d in client.deliveries())  # the sandbox gave up, as trackers do
    stack.start_service()  # back on the same address; nothing re-sends the lost webhooks
    assert children(stack, pilot) == len(pilot.work)

    result = CliRunner().invoke(main, ["sync", "--config", str(stack.config_file)], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert f"1 epic seen, {GATES} gates created" in result.output
    provisioned(stack, pilot, timeout=5)
    started, _ = pilot.work[0]
    team_for(stack, tracker).start_work(started)  # and webhooks work again
    wait_for("the early-work comment", lambda: bot_comments(stack, tracker, started), STEP)


def test_pilot_opened_while_the_service_was_down_is_found_by_the_periodic_sweep(stack):
    stack.stop_service()
    pilot = open_pilot(stack, Tracker.JIRA)
    assert stack.sandbox.wait_for_webhooks(15)
    service = stack.start_service()
    queue = service.runtime.queue
    # A new period begins: the service started with the stack took this one's slot (and swept, before
    # the pilot existed) when it started on a quarter hour, which made this test fail at those times.
    with queue.ledger.write() as conn:
        conn.execute(delete(slots).where(slots.c.name == "sweep"))

    queue.sweep()  # what huey's scheduler runs every `sweep_minutes`

    # When the service's own scheduler fired the new period's sweep first, this call finds its slot
    # taken and that sweep does the work on a worker thread: wait for it either way.
    provisioned(stack, pilot, timeout=STEP)
    assert children(stack, pilot) == len(pilot.work) + GATES


def _failed_events(stack) -> int:
    import requests

    return requests.get(f"{stack.url}/healthz", timeout=5).json()["queue"]["failed"]


def test_gate_link_deleted_by_hand_in_jira_is_made_again(stack):
    pilot = open_pilot(stack, Tracker.JIRA)
    gates = {ticket.key for ticket in provisioned(stack, pilot).gates().values()}
    work, _ = pilot.work[0]
    api = f"{stack.sandbox.url}/rest/api/2"
    links = requests.get(f"{api}/issue/{work}", params={"fields": "issuelinks"}, auth=HUMAN, timeout=10).json()
    # Seen from the work ticket, `inwardIssue` is the ticket that blocks it.
    removed = next(link for link in links["fields"]["issuelinks"] if link.get("inwardIssue", {}).get("key") in gates)
    settled(stack)
    assert requests.delete(f"{api}/issueLink/{removed['id']}", auth=HUMAN, timeout=10).status_code == 204

    blocker = removed["inwardIssue"]["key"]
    snapshot = stack.connectors[Tracker.JIRA].snapshot
    wait_for(f"{blocker} blocking {work} again", lambda: blocker in snapshot(pilot.key).child(work).blocked_by, STEP)
    settled(stack)
    assert gates <= snapshot(pilot.key).child(work).blocked_by
