"""A small world of pilot epics in every state, on fake Jira and GitHub trackers, for readiness tests."""

from __future__ import annotations

from datetime import timedelta

from plugin.engine import plan
from plugin.model import StatusCategory, Tracker
from plugin.templates import Template, default_templates_dir, load_templates
from tests.fakes import T0, FakeConnector

NOW = T0 + timedelta(days=10)


def default_template() -> Template:
    return load_templates(default_templates_dir())["ai-pilot"]


def provision(fake: FakeConnector, template: Template, epic_key: str, now=NOW) -> None:
    """Plan and apply until the epic needs nothing more, as the reconciler does."""
    for _ in range(4):
        actions = plan(template, fake.snapshot(epic_key), now)
        if not actions:
            return
        fake.apply(fake.snapshot(epic_key), actions)
    raise AssertionError(f"{epic_key}: plan did not converge")


def gate_keys(fake: FakeConnector, epic_key: str) -> dict[str, str]:
    return {t.gate: t.key for t in fake.tickets.values() if t.parent == epic_key and t.gate}


def finish(fake: FakeConnector, key: str, fill: str = "40 minutes", assignee: str | None = "ops.lead") -> None:
    body = fake.tickets[key].body.replace("(fill in)", fill).replace("- [ ]", "- [x]")
    fake.set(key, category=StatusCategory.DONE, status="Done", body=body, assignee=assignee)


def jira_world(template: Template) -> FakeConnector:
    """A pilot at risk (work started early, gates overdue), a ready pilot, and one without gates yet."""
    fake = FakeConnector(Tracker.JIRA)
    risky = fake.add_epic("Invoice triage assistant")
    started = fake.add_work(risky, "Train the classifier")
    fake.add_work(risky, "Label 2,000 invoices")
    provision(fake, template, risky.key)
    gates = gate_keys(fake, risky.key)
    finish(fake, gates["security-briefing"])
    fake.set(gates["operations-owner"], category=StatusCategory.DONE, status="Done")  # no owner, unfilled
    fake.set(started.key, category=StatusCategory.IN_PROGRESS, status="In Progress")
    provision(fake, template, risky.key)

    ready = fake.add_epic("Support chat summarizer")
    fake.add_work(ready, "Prompt design")
    provision(fake, template, ready.key)
    for key in gate_keys(fake, ready.key).values():
        finish(fake, key)

    fake.add_epic("Contract clause finder", created=NOW - timedelta(days=1))
    return fake


def github_world(template: Template) -> FakeConnector:
    """A young pilot on track, and one whose success metric was closed with its target left blank."""
    fake = FakeConnector(Tracker.GITHUB)
    young = fake.add_epic("Forecasting copilot", key="acme/ml-pilots#1", created=NOW - timedelta(days=2))
    fake.add_work(young, "Data pipeline spike", key="acme/ml-pilots#2")
    provision(fake, template, young.key)

    sloppy = fake.add_epic("Code review bot", key="acme/ml-pilots#10", created=NOW - timedelta(days=3))
    provision(fake, template, sloppy.key)
    metric = gate_keys(fake, sloppy.key)["success-metric"]
    finish(fake, metric)
    body = fake.tickets[metric].body.replace("Target: 40 minutes", "Target: (fill in)")
    fake.set(metric, body=body)
    return fake
