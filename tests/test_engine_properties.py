"""Property-based checks of the engine: idempotent planning whatever the snapshot looks like."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

from plugin.engine import plan
from plugin.model import CreateGates, StatusCategory, UpsertComment
from plugin.templates import default_templates_dir, load_templates
from tests.fakes import T0, FakeConnector

TEMPLATE = load_templates(default_templates_dir())["ai-pilot"]
GATE_KEYS = [g.key for g in TEMPLATE.gates]

child = st.fixed_dictionaries({
    "gate": st.none() | st.sampled_from(GATE_KEYS),
    "category": st.sampled_from(list(StatusCategory)),
    "labels": st.frozensets(st.sampled_from(["ml", "ui", "data"]), max_size=2),
    "assignee": st.none() | st.just("someone"),
    "filled": st.booleans(),
})
world = st.fixed_dictionaries({
    "children": st.lists(child, max_size=8),
    "order": st.randoms(use_true_random=False),
    "days": st.integers(min_value=0, max_value=40),
    "linked": st.booleans(),
})
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def build(spec) -> tuple[FakeConnector, str]:
    fake = FakeConnector()
    epic = fake.add_epic()
    children = list(spec["children"])
    spec["order"].shuffle(children)
    for i, c in enumerate(children):
        body = "- Target: 5%" if c["filled"] else "- Target: (fill in)\n- [ ] Operations sign-off"
        fake.add_work(epic, f"Ticket {i}", gate=c["gate"], category=c["category"], labels=c["labels"],
                      assignee=c["assignee"], body=body)
    if spec["linked"]:
        gates = [t.key for t in fake.tickets.values() if t.gate]
        for t in list(fake.tickets.values()):
            if t.parent == epic.key and not t.gate:
                fake.set(t.key, blocked_by=frozenset(gates[:1]))
    return fake, epic.key


@SETTINGS
@given(world)
def test_planning_never_creates_a_gate_that_exists_or_twice(spec):
    fake, epic_key = build(spec)
    snapshot = fake.snapshot(epic_key)
    present = {t.gate for t in snapshot.children if t.gate}
    created = [g.gate for a in plan(TEMPLATE, snapshot, T0 + timedelta(days=spec["days"]))
               if isinstance(a, CreateGates) for g in a.gates]
    assert len(created) == len(set(created))
    assert not present & set(created)
    assert set(created) | present == set(GATE_KEYS)


@SETTINGS
@given(world)
def test_applying_the_plan_and_planning_again_yields_nothing_once_gates_exist(spec):
    fake, epic_key = build(spec)
    now = T0 + timedelta(days=spec["days"])
    first = plan(TEMPLATE, fake.snapshot(epic_key), now)
    fake.apply(fake.snapshot(epic_key), first)
    second = plan(TEMPLATE, fake.snapshot(epic_key), now)
    if not any(isinstance(a, CreateGates) for a in first):
        assert second == []
    else:
        # Comments link the real gate tickets, so they follow one pass after the gates are created.
        assert all(isinstance(a, UpsertComment) for a in second)
        fake.apply(fake.snapshot(epic_key), second)
        assert plan(TEMPLATE, fake.snapshot(epic_key), now) == []


@SETTINGS
@given(world)
def test_plan_does_not_depend_on_the_order_of_children(spec):
    fake, epic_key = build(spec)
    now = T0 + timedelta(days=spec["days"])
    snapshot = fake.snapshot(epic_key)
    reversed_snapshot = type(snapshot)(snapshot.ticket, tuple(reversed(snapshot.children)), snapshot.bot_comments)
    assert sorted(map(repr, plan(TEMPLATE, snapshot, now))) == sorted(map(repr, plan(TEMPLATE, reversed_snapshot, now)))


@SETTINGS
@given(world)
def test_a_gate_ticket_never_gets_a_work_started_comment(spec):
    fake, epic_key = build(spec)
    snapshot = fake.snapshot(epic_key)
    gates = {t.key for t in snapshot.children if t.gate}
    for action in plan(TEMPLATE, snapshot, T0 + timedelta(days=spec["days"])):
        if isinstance(action, UpsertComment) and action.ticket_key in gates:
            assert action.rule == "gate_overdue"
