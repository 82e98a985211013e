"""The readiness report: rows riskiest first, gate states with what is missing, table / JSON / HTML."""

from __future__ import annotations

import json
import re

import pytest

from plugin.engine import assess
from plugin.report import SCHEMA, completion_by_gate, pilot_rows, render_json, render_table, report_document
from plugin.report_html import Filters, completion_chart, render_html
from tests.readiness_world import NOW, default_template, github_world, jira_world


@pytest.fixture(scope="module")
def rows():
    template = default_template()
    readiness = [assess(template, epic, NOW) for fake in (jira_world(template), github_world(template))
                 for epic in fake.pilot_epics()]
    return pilot_rows(readiness, NOW)


def by_title(rows, title):
    return next(r for r in rows if r.epic.title == title)


def test_riskiest_pilot_comes_first_and_ready_last(rows):
    assert rows[0].epic.title == "Invoice triage assistant"
    assert [r.risk for r in rows] == sorted((r.risk for r in rows), reverse=True)
    assert rows[-1].verdict == "ready"


def test_each_gate_state_is_reported_with_what_is_missing(rows):
    risky = {g.key: g for g in by_title(rows, "Invoice triage assistant").gates}
    assert risky["success-metric"].state == "overdue"
    assert risky["security-briefing"].state == "done"
    assert risky["operations-owner"].state == "incomplete"
    assert "no owner assigned" in risky["operations-owner"].missing
    sloppy = {g.key: g for g in by_title(rows, "Code review bot").gates}
    assert sloppy["success-metric"].missing == ("target missing",)


def test_work_started_before_its_gates_is_counted_with_its_tickets(rows):
    risky = by_title(rows, "Invoice triage assistant")
    assert [t.title for t in risky.early_work] == ["Train the classifier"]
    assert by_title(rows, "Support chat summarizer").early_work == ()


def test_age_counts_days_since_the_epic_was_created(rows):
    assert by_title(rows, "Invoice triage assistant").age_days == 10
    assert by_title(rows, "Contract clause finder").age_days == 1


def test_json_report_has_the_documented_shape(rows):
    document = json.loads(render_json(rows, NOW))
    assert document["schema"] == SCHEMA and document["generated_at"] == NOW.isoformat()
    assert document["summary"]["pilots"] == 5
    assert document["summary"]["verdicts"] == {"at_risk": 2, "not_provisioned": 1, "on_track": 1, "ready": 1}
    first = document["pilots"][0]
    assert set(first) == {"tracker", "epic", "created", "age_days", "verdict", "risk", "gates_done",
                          "gates_total", "gates", "early_work"}
    assert set(first["gates"][0]) == {"key", "title", "state", "ticket", "due", "missing"}
    assert set(first["gates"][0]["ticket"]) == {"key", "title", "url", "status"}
    assert first["early_work"]["count"] == len(first["early_work"]["tickets"]) == 1
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", first["gates"][0]["due"])


def test_json_of_an_absent_gate_has_no_ticket(rows):
    fresh = report_document([by_title(rows, "Contract clause finder")], NOW)["pilots"][0]
    assert {g["state"] for g in fresh["gates"]} == {"absent"} and all(g["ticket"] is None for g in fresh["gates"])


def test_table_names_gate_states_and_missing_content(rows):
    text = render_table(rows, NOW)
    assert text.splitlines()[0].startswith("5 pilots at 2026-01-15 09:00")
    assert "content missing" in text and "no owner assigned" in text
    assert "work started before its gates: 1" in text
    assert text.index("Invoice triage assistant") < text.index("Support chat summarizer")


def test_table_without_pilots_says_where_to_look():
    assert "No pilot epics found" in render_table([], NOW)


def test_html_report_is_self_contained_with_chips_linking_to_tickets(rows):
    page = render_html(rows, NOW)
    assert "<style>" in page and "<link" not in page
    assert page.count('class="pilot"') == 5
    risky = by_title(rows, "Invoice triage assistant")
    metric = next(g for g in risky.gates if g.key == "success-metric")
    assert f'class="chip chip-overdue" href="{metric.ticket.url}"' in page


def test_chart_draws_one_bar_per_gate_with_the_done_count(rows):
    bars = completion_by_gate(rows)
    assert [b["key"] for b in bars] == ["success-metric", "integration-architecture", "security-briefing",
                                        "operations-owner"]
    svg = str(completion_chart(rows))
    assert svg.count('class="chart-label"') == 4
    assert f'{bars[2]["states"]["done"]}/5 done' in svg


def test_filters_keep_only_matching_pilots(rows):
    assert {r.tracker for r in Filters(tracker="github").apply(rows)} == {"github"}
    assert [r.verdict for r in Filters(verdict="ready").apply(rows)] == ["ready"]
    overdue = Filters(gate="overdue").apply(rows)
    assert [r.epic.title for r in overdue] == ["Invoice triage assistant"]
