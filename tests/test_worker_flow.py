"""The worker on accepted deliveries: provisioning, comments, audit, retries, failed events and replay."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from connectors.base import TransientError
from plugin.cli import main
from plugin.logs import Redactor
from plugin.worker import RetryPolicy
from tests.fakes import FakeConnector, transient
from tests.worker_world import (
    WORK, comments_posted, epic_edited, gate_tickets, make_worker, new_pilot, work_off, work_started,
)


@pytest.fixture
def fake() -> FakeConnector:
    return new_pilot(FakeConnector())


def test_work_started_on_new_pilot_creates_the_gates_then_one_comment(config, deliveries, fake):
    setup = make_worker(config, fake)
    assert deliveries.jira(work_started(), delivery="w-1").status_code == 202
    work_off(setup)
    assert len(gate_tickets(fake)) == 4
    assert comments_posted(fake, WORK) == 1
    assert setup.outbox.stats().depth == 0


def test_every_action_is_audited_with_delivery_ticket_and_rule(config, deliveries, fake):
    setup = make_worker(config, fake)
    deliveries.jira(work_started(), delivery="w-2")
    work_off(setup)
    trail = setup.ledger.audit_trail()
    assert {r["delivery"] for r in trail} == {"w-2"}
    assert {"create_gates", "upsert_comment"} <= {r["action"] for r in trail}
    comment = next(r for r in trail if r["action"] == "upsert_comment")
    assert (comment["ticket_key"], comment["rule"], comment["done"]) == (WORK, "work_started_early", True)


def test_second_event_about_a_provisioned_epic_changes_nothing(config, deliveries, fake):
    setup = make_worker(config, fake)
    deliveries.jira(work_started(), delivery="w-3")
    work_off(setup)
    before = list(fake.recorded)
    deliveries.jira(epic_edited(), delivery="w-4")
    work_off(setup)
    assert fake.recorded == before
    last = setup.ledger.audit_trail()[-1]
    assert (last["delivery"], last["action"], last["reason"]) == ("w-4", "none", "epic already in shape")


def test_ticket_outside_any_pilot_epic_is_done_without_tracker_writes(config, deliveries, fake):
    fake.add_epic("Orphan task", key="OTHER-1", issue_type="Task", labels=frozenset())
    setup = make_worker(config, fake)
    deliveries.jira(work_started("OTHER-1", "OTHER-0"), delivery="w-5")
    work_off(setup)
    assert fake.recorded == []
    assert setup.ledger.audit_trail()[-1]["reason"] == "not part of a pilot epic"


def test_tracker_answering_500_and_429_for_a_while_loses_nothing(config, deliveries, fake):
    setup = make_worker(config, fake, RetryPolicy(attempts=6, base=0.01))
    fake.fail_next = [TransientError("503", status=503), TransientError("429", status=429, retry_after=0.05),
                      transient(), TransientError("500", status=500)]
    for number in range(3):
        deliveries.jira(work_started(), delivery=f"r-{number}")
    work_off(setup)
    assert len(gate_tickets(fake)) == 4
    assert comments_posted(fake, WORK) == 1
    assert setup.outbox.stats().failed == 0


def test_retry_waits_at_least_as_long_as_retry_after(config, deliveries, fake):
    setup = make_worker(config, fake, RetryPolicy(attempts=3, base=0.01))
    fake.fail_next = [TransientError("429", status=429, retry_after=120)]
    deliveries.jira(work_started(), delivery="ra-1")
    [event_id] = setup.outbox.dispatch_due()
    setup.worker.process(event_id)
    record = setup.outbox.get(event_id)
    assert record.status == "queued" and record.attempts == 1
    assert record.due_at - setup.ledger.clock() > 110


def test_event_past_its_retry_budget_is_listed_failed_and_can_be_replayed(config, deliveries, fake, tmp_path):
    setup = make_worker(config, fake, RetryPolicy(attempts=3, base=0.01))
    fake.fail_next = [transient() for _ in range(3)]
    deliveries.jira(work_started(), delivery="f-1")
    work_off(setup)
    [failed] = setup.outbox.failed()
    assert (failed.attempts, failed.delivery) == (3, "f-1")
    assert "TransientError (HTTP 503)" in failed.error

    config_file = _write_config(tmp_path)
    listed = CliRunner().invoke(main, ["events", "--config", str(config_file), "--failed"])
    assert listed.exit_code == 0 and "f-1" in listed.output and "HTTP 503" in listed.output
    replayed = CliRunner().invoke(main, ["events", "--config", str(config_file), "--retry", str(failed.id)])
    assert replayed.exit_code == 0, replayed.output
    work_off(setup)
    assert setup.outbox.get(failed.id).status == "done"
    assert len(gate_tickets(fake)) == 4


def test_retry_of_an_unknown_event_says_so(tmp_path):
    result = CliRunner().invoke(main, ["events", "--config", str(_write_config(tmp_path)), "--retry", "999"])
    assert result.exit_code == 1
    assert "no failed event with id 999" in result.output


def test_unexpected_error_fails_the_event_at_once_for_replay(config, deliveries, fake):
    setup = make_worker(config, fake)
    fake.fail_next = [KeyError("surprise")]
    deliveries.jira(work_started(), delivery="u-1")
    work_off(setup)
    [failed] = setup.outbox.failed()
    assert failed.attempts == 1 and "KeyError" in failed.error


def _write_config(folder):
    import yaml

    from tests.conftest import config_mapping

    path = folder / "pilotgate.yaml"
    path.write_text(yaml.safe_dump(config_mapping(folder)), encoding="utf-8")
    return path


def test_failed_event_never_stores_a_secret_from_the_error_text(config, deliveries, fake):
    setup = make_worker(config, fake)
    setup.worker.redact = Redactor(["s3cr3t-token"]).mask
    fake.fail_next = [KeyError("request with Authorization: Bearer s3cr3t-token refused")]
    deliveries.jira(work_started(), delivery="s-1")
    work_off(setup)
    [failed] = setup.outbox.failed()
    assert "s3cr3t-token" not in failed.error and "Bearer ***" in failed.error
