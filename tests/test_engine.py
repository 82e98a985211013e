"""The gate engine's rules, one behaviour per test."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from connectors.base import Outcome
from plugin import handlers
from plugin.engine import assess, check_status, missing_content, needs_second_pass, on_work_started, plan
from plugin.model import AddBlocksLink, AddLabel, CreateGates, SetCheck, StatusCategory, UpsertComment
from plugin.templates import default_templates_dir, load_templates, parse_template
from tests.fakes import T0, FakeConnector

NOW = T0 + timedelta(days=1)
LATE = T0 + timedelta(days=30)
GATES = ("success-metric", "integration-architecture", "security-briefing", "operations-owner")


@pytest.fixture(scope="module")
def template():
    return load_templates(default_templates_dir())["ai-pilot"]


@pytest.fixture
def fake():
    return FakeConnector()


def provision(fake, template, epic_key, now=NOW):
    """Plan and apply until nothing is left, like the reconciler: returns the rounds it took."""
    for rounds in range(1, 5):
        actions = plan(template, fake.snapshot(epic_key), now)
        if not actions:
            return rounds - 1
        fake.apply(fake.snapshot(epic_key), actions)
    raise AssertionError("plan did not converge")


def finish_gate(fake, key, body_fill="40 minutes", assignee="ops.lead"):
    body = fake.tickets[key].body.replace("(fill in)", body_fill).replace("- [ ]", "- [x]")
    fake.set(key, category=StatusCategory.DONE, status="Done", body=body, assignee=assignee)


def gate_keys(fake, epic_key):
    return {t.gate: t.key for t in fake.tickets.values() if t.parent == epic_key and t.gate}


def test_new_epic_gets_the_four_gates_blocking_its_work(fake, template):
    epic = fake.add_epic()
    work = [fake.add_work(epic, f"Build part {i}") for i in range(3)]
    actions = plan(template, fake.snapshot(epic.key), NOW)
    assert len(actions) == 1 and isinstance(actions[0], CreateGates)
    specs = actions[0].gates
    assert [s.gate for s in specs] == list(GATES)
    assert all(s.blocks == tuple(w.key for w in work) for s in specs)
    assert specs[0].title == "Success metric agreed: Invoice triage assistant"
    assert "- Target: (fill in)" in specs[0].body and epic.key in specs[0].body


def test_due_dates_count_from_the_epics_start(fake, template):
    epic = fake.add_epic()
    (create,) = plan(template, fake.snapshot(epic.key), NOW)
    due = {s.gate: s.due for s in create.gates}
    assert due["security-briefing"] == T0.date() + timedelta(days=7)
    assert due["integration-architecture"] == T0.date() + timedelta(days=14)


def test_only_missing_gates_are_created(fake, template):
    epic = fake.add_epic()
    fake.add_work(epic, "Gate copy", gate="success-metric")
    (create,) = plan(template, fake.snapshot(epic.key), NOW)
    assert [s.gate for s in create.gates] == list(GATES[1:])


def test_provisioned_epic_needs_nothing_more(fake, template):
    epic = fake.add_epic()
    fake.add_work(epic, "Build")
    provision(fake, template, epic.key)
    assert plan(template, fake.snapshot(epic.key), NOW) == []


def test_work_added_later_gets_blocked_by_every_open_gate(fake, template):
    epic = fake.add_epic()
    provision(fake, template, epic.key)
    late = fake.add_work(epic, "Late work")
    actions = plan(template, fake.snapshot(epic.key), NOW)
    gates = gate_keys(fake, epic.key)
    assert sorted(actions, key=str) == sorted((AddBlocksLink(gates[g], late.key) for g in GATES), key=str)


def test_done_gate_blocks_no_new_work(fake, template):
    epic = fake.add_epic()
    provision(fake, template, epic.key)
    finish_gate(fake, gate_keys(fake, epic.key)["security-briefing"])
    late = fake.add_work(epic, "Late work")
    blockers = {a.blocker_key for a in plan(template, fake.snapshot(epic.key), NOW)}
    assert gate_keys(fake, epic.key)["security-briefing"] not in blockers and len(blockers) == 3
    assert late.key in fake.tickets


def test_selector_limits_which_work_a_gate_blocks(fake):
    template = parse_template("""
name: narrow
gates:
  - key: model-card
    title: Model card
    body: Write it.
    blocks: {labels: [ml], title_pattern: "^train"}
""")
    epic = fake.add_epic()
    train = fake.add_work(epic, "Train the model", labels=frozenset({"ml"}))
    fake.add_work(epic, "Train the model", labels=frozenset({"ui"}))
    fake.add_work(epic, "Deploy", labels=frozenset({"ml"}))
    (create,) = plan(template, fake.snapshot(epic.key), NOW)
    assert create.gates[0].blocks == (train.key,)


def test_work_started_early_gets_one_comment_naming_open_gates_and_what_is_missing(fake, template):
    epic = fake.add_epic()
    work = fake.add_work(epic, "Build")
    provision(fake, template, epic.key)
    fake.set(work.key, category=StatusCategory.IN_PROGRESS, status="In Progress")
    (comment,) = on_work_started(template, fake.snapshot(epic.key), work.key, NOW)
    assert isinstance(comment, UpsertComment) and comment.rule == "work_started_early"
    assert "4 gates are still open" in comment.body
    assert "target missing" in comment.body and "operations sign-off not ticked" in comment.body
    assert fake.tickets[gate_keys(fake, epic.key)["success-metric"]].url in comment.body
    gate_lines = [line for line in comment.body.splitlines() if line.startswith("- ")]
    assert len(gate_lines) == 4 and gate_lines[0].endswith("technology sign-off not ticked")


def test_work_started_with_all_gates_done_says_nothing(fake, template):
    epic = fake.add_epic()
    work = fake.add_work(epic, "Build")
    provision(fake, template, epic.key)
    for key in gate_keys(fake, epic.key).values():
        finish_gate(fake, key)
    assert on_work_started(template, fake.snapshot(epic.key), work.key, NOW) == []


def test_a_gate_ticket_never_triggers_a_work_started_comment(fake, template):
    epic = fake.add_epic()
    provision(fake, template, epic.key)
    gate = gate_keys(fake, epic.key)["integration-architecture"]
    fake.set(gate, category=StatusCategory.IN_PROGRESS)
    assert on_work_started(template, fake.snapshot(epic.key), gate, NOW) == []
    assert all(not (isinstance(a, UpsertComment) and a.ticket_key == gate) for a in plan(template, fake.snapshot(epic.key), NOW))


def test_comment_is_edited_when_a_gate_moves_and_cleared_when_all_are_done(fake, template):
    epic = fake.add_epic()
    work = fake.add_work(epic, "Build")
    provision(fake, template, epic.key)
    fake.set(work.key, category=StatusCategory.IN_PROGRESS)
    fake.apply(fake.snapshot(epic.key), on_work_started(template, fake.snapshot(epic.key), work.key, NOW))
    gates = gate_keys(fake, epic.key)
    finish_gate(fake, gates["success-metric"])
    (edit,) = plan(template, fake.snapshot(epic.key), NOW)
    assert edit.ticket_key == work.key and "3 gates are still open" in edit.body
    for key in gates.values():
        finish_gate(fake, key)
    (clear,) = plan(template, fake.snapshot(epic.key), NOW)
    assert clear.rule == "gates_clear" and clear.ticket_key == work.key
    fake.apply(fake.snapshot(epic.key), [clear])
    assert plan(template, fake.snapshot(epic.key), NOW) == []
    assert fake.recorded.count(f"comment {work.key}:work_started_early") == 1


def test_closed_gate_with_placeholders_left_is_not_done(fake, template):
    epic = fake.add_epic()
    provision(fake, template, epic.key)
    key = gate_keys(fake, epic.key)["success-metric"]
    fake.set(key, category=StatusCategory.DONE)
    states = {s.key: s for s in assess(template, fake.snapshot(epic.key), NOW).gates}
    assert states["success-metric"].state == "incomplete"
    assert "metric missing" in states["success-metric"].missing


def test_operations_gate_needs_an_owner(fake, template):
    epic = fake.add_epic()
    provision(fake, template, epic.key)
    key = gate_keys(fake, epic.key)["operations-owner"]
    finish_gate(fake, key, assignee=None)
    gate = fake.snapshot(epic.key).child(key)
    assert missing_content(template, template.gate("operations-owner"), gate) == ("no owner assigned",)


def test_overdue_gate_gets_a_notice_once(fake, template):
    epic = fake.add_epic()
    provision(fake, template, epic.key)
    actions = plan(template, fake.snapshot(epic.key), LATE)
    overdue = [a for a in actions if isinstance(a, UpsertComment)]
    assert {a.rule for a in overdue} == {"gate_overdue"} and len(overdue) == 4
    assert str(T0.date() + timedelta(days=7)) in overdue[0].body
    fake.apply(fake.snapshot(epic.key), actions)
    assert plan(template, fake.snapshot(epic.key), LATE) == []


def test_epic_label_is_added_when_the_template_asks(fake):
    template = parse_template("name: t\nepic_label: pilot-gated\ngates: [{key: a, title: A, body: B}]\n")
    epic = fake.add_epic()
    assert AddLabel(epic.key, "pilot-gated") in plan(template, fake.snapshot(epic.key), NOW)


def test_pull_request_check_fails_while_gates_are_open_and_passes_after(fake, template):
    epic = fake.add_epic()
    work = fake.add_work(epic, "Build")
    provision(fake, template, epic.key)
    (failing,) = check_status(template, fake.snapshot(epic.key), work.key, "abc123", NOW)
    assert failing == SetCheck(work.key, "abc123", False, failing.description)
    assert failing.description.startswith("Open gates: Success metric agreed")
    for key in gate_keys(fake, epic.key).values():
        finish_gate(fake, key)
    (passing,) = check_status(template, fake.snapshot(epic.key), work.key, "abc123", NOW)
    assert passing.passed


def test_readiness_verdicts(fake, template):
    epic = fake.add_epic()
    work = fake.add_work(epic, "Build")
    assert assess(template, fake.snapshot(epic.key), NOW).verdict == "not_provisioned"
    provision(fake, template, epic.key)
    assert assess(template, fake.snapshot(epic.key), NOW).verdict == "on_track"
    fake.set(work.key, category=StatusCategory.IN_PROGRESS)
    risky = assess(template, fake.snapshot(epic.key), NOW)
    assert risky.verdict == "at_risk" and [t.key for t in risky.early_work] == [work.key]
    for key in gate_keys(fake, epic.key).values():
        finish_gate(fake, key)
    assert assess(template, fake.snapshot(epic.key), NOW).verdict == "ready"


def test_gate_due_date_on_the_ticket_wins_over_the_template(fake, template):
    epic = fake.add_epic()
    provision(fake, template, epic.key)
    key = gate_keys(fake, epic.key)["security-briefing"]
    fake.set(key, due=date(2027, 1, 1))
    states = {s.key: s for s in assess(template, fake.snapshot(epic.key), LATE).gates}
    assert states["security-briefing"].state == "open" and states["success-metric"].state == "overdue"


def test_epic_outside_the_templates_scope_is_left_alone(fake, template):
    epic = fake.add_epic(labels=frozenset({"ai-pilot"}), issue_type="Story")
    work = fake.add_work(epic, "Build", category=StatusCategory.IN_PROGRESS)
    assert plan(template, fake.snapshot(epic.key), NOW) == []
    assert on_work_started(template, fake.snapshot(epic.key), work.key, NOW) == []


def test_epic_whose_tracker_reports_no_issue_type_is_in_scope_by_its_label(fake, template):
    epic = fake.add_epic(issue_type=None)
    unlabelled = fake.add_epic(issue_type=None, labels=frozenset())
    assert plan(template, fake.snapshot(epic.key), NOW)
    assert plan(template, fake.snapshot(unlabelled.key), NOW) == []


def test_no_second_pass_after_creating_gates_when_no_work_has_started(fake, template):
    epic = fake.add_epic()
    fake.add_work(epic, "Build")
    assert not needs_second_pass(template, fake.snapshot(epic.key), NOW)
    provision(fake, template, epic.key)
    assert plan(template, fake.snapshot(epic.key), NOW) == []


def test_second_pass_when_work_started_before_its_gates_existed(fake, template):
    epic = fake.add_epic()
    work = fake.add_work(epic, "Build")
    fake.set(work.key, category=StatusCategory.IN_PROGRESS, status="In Progress")
    assert needs_second_pass(template, fake.snapshot(epic.key), NOW)
    assert provision(fake, template, epic.key) == 2  # gates, then the comment naming them


def test_second_pass_for_the_events_ticket_the_snapshot_does_not_show_started(fake, template):
    epic = fake.add_epic()
    work = fake.add_work(epic, "Build")
    assert needs_second_pass(template, fake.snapshot(epic.key), NOW, started=(work.key,))


def test_second_pass_when_a_gate_is_created_past_its_due_date(fake, template):
    epic = fake.add_epic()
    assert needs_second_pass(template, fake.snapshot(epic.key), LATE)
    assert not needs_second_pass(template, fake.snapshot(epic.key), NOW)


def test_second_pass_when_the_gates_were_made_by_another_process_after_this_ones_read(fake, template):
    epic = fake.add_epic()
    work = fake.add_work(epic, "Build")
    fake.set(work.key, category=StatusCategory.IN_PROGRESS, status="In Progress")
    stale = fake.snapshot(epic.key)  # read before another worker process created the gates
    [create] = [action for action in plan(template, stale, NOW) if isinstance(action, CreateGates)]
    found = Outcome(create, done=False, reason="every gate already exists", gates_exist=True)
    refused = Outcome(create, done=False, reason="success-metric: field 'duedate' is required")
    # Without the second pass, the comment on the started work waited for gates and was never made.
    assert handlers.plan_batch_again([], template, stale, NOW, [found])
    assert not handlers.plan_batch_again([], template, stale, NOW, [refused])
