"""`pilotgate sync`, `report`, `templates render` and `jira register-webhook`, on fake trackers and `responses`."""

from __future__ import annotations

import json

import pytest
import responses
from click.testing import CliRunner

from plugin.cli import main
from plugin.commands.admin import Runtime
from plugin.config import config_from_mapping
from plugin.ledger import Ledger
from plugin.model import StatusCategory, Tracker
from tests.conftest import JIRA_SECRET, config_mapping
from tests.fakes import FakeConnector
from tests.readiness_world import NOW, default_template, github_world, jira_world


@pytest.fixture
def config(tmp_path):
    return config_from_mapping(config_mapping(tmp_path), base_dir=tmp_path)


@pytest.fixture
def trackers():
    template = default_template()
    jira = FakeConnector(Tracker.JIRA)
    epic = jira.add_epic("Invoice triage assistant")
    started = jira.add_work(epic, "Train the classifier")
    jira.set(started.key, category=StatusCategory.IN_PROGRESS, status="In Progress")
    jira.add_work(epic, "Label invoices")
    jira.add_epic("Support chat summarizer")
    return {Tracker.JIRA: jira, Tracker.GITHUB: github_world(template)}


def invoke(config, trackers, *args):
    ledger = Ledger(config.database, base_dir=config.base_dir)
    ledger.create_schema()
    template = default_template()
    state = Runtime(config, trackers, {t: template for t in trackers}, ledger)
    return CliRunner().invoke(main, list(args), obj={"runtime": lambda _file: state, "now": lambda: NOW})


def writes(trackers) -> list[str]:
    return [line for fake in trackers.values() for line in fake.recorded]


def test_dry_run_prints_the_plan_and_writes_nothing(config, trackers):
    before = writes(trackers)
    result = invoke(config, trackers, "sync", "--dry-run")
    assert result.exit_code == 0, result.output
    assert writes(trackers) == before
    assert "PILOT-1 (jira): 1 action" in result.output
    assert "  create 4 gates: success-metric, integration-architecture, security-briefing, operations-owner " \
           "(blocking PILOT-2, PILOT-3)" in result.output
    assert result.output.splitlines()[-1].startswith("Dry run: 4 epics seen, 8 gates would be created")


def test_sync_provisions_every_epic_and_sums_up(config, trackers):
    result = invoke(config, trackers, "sync")
    assert result.exit_code == 0, result.output
    jira = trackers[Tracker.JIRA]
    assert sum(line.startswith("create PILOT-1:") for line in jira.recorded) == 4
    assert "comment PILOT-2:work_started_early" in jira.recorded
    comments = [line for line in jira.recorded if line.startswith("comment ")]
    assert len(comments) == 7  # work started early on PILOT-2, and 3 week-one gates overdue on each epic
    assert result.output.strip() == ("4 epics seen, 8 gates created, 8 links added, "
                                     "7 comments written, 0 errors")


def test_second_sync_changes_nothing(config, trackers):
    invoke(config, trackers, "sync")
    before = writes(trackers)
    result = invoke(config, trackers, "sync")
    assert writes(trackers) == before
    assert "0 gates created, 0 links added, 0 comments written, 0 errors" in result.output


def test_sync_of_one_epic_leaves_the_others_alone(config, trackers):
    github_before = list(trackers[Tracker.GITHUB].recorded)
    result = invoke(config, trackers, "sync", "--epic", "PILOT-1")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 epic seen, 4 gates created")
    assert trackers[Tracker.GITHUB].recorded == github_before
    assert not any(line.startswith("create PILOT-4:") for line in writes(trackers))  # the other Jira epic


def test_sync_of_an_unknown_epic_says_so(config, trackers):
    result = invoke(config, trackers, "sync", "--epic", "NOPE-9")
    assert result.exit_code == 1 and "NOPE-9 is not a pilot epic" in result.output


def test_sync_reports_a_tracker_error_and_exits_1(config, trackers):
    trackers[Tracker.GITHUB].fail_next.append(RuntimeError("boom"))
    result = invoke(config, trackers, "sync")
    assert result.exit_code == 1
    assert "error: github:" in result.output and "1 error" in result.output.splitlines()[-1]


def test_report_table_lists_riskiest_first(config):
    template = default_template()
    trackers = {Tracker.JIRA: jira_world(template), Tracker.GITHUB: github_world(template)}
    result = invoke(config, trackers, "report")
    assert result.exit_code == 0, result.output
    blocks = result.output.split("\n\n")
    assert blocks[1].startswith("AT RISK") and "Invoice triage assistant" in blocks[1]
    assert blocks[-1].startswith("READY")


def test_report_json_is_the_documented_document(config):
    template = default_template()
    result = invoke(config, {Tracker.JIRA: jira_world(template)}, "report", "--format", "json")
    document = json.loads(result.output)
    assert document["schema"] == "pilotgate.report/1" and len(document["pilots"]) == 3


def test_report_html_is_a_standalone_page(config):
    template = default_template()
    result = invoke(config, {Tracker.JIRA: jira_world(template)}, "report", "--format", "html")
    assert result.output.startswith("<!doctype html>") and "<style>" in result.output


def test_templates_render_previews_gates_and_comments():
    result = CliRunner().invoke(main, ["templates", "render", "ai-pilot", "--title", "Invoice triage"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "PILOT-3  Success metric agreed: Invoice triage" in out
    assert "labels: pilot-gate" in out and "blocks: PILOT-2" in out
    assert "  | - Target: (fill in)" in out
    for rule in ("work_started_early", "gates_clear", "gate_overdue"):
        assert f"({rule}):" in out


def test_templates_render_of_the_lighter_template_on_github():
    result = CliRunner().invoke(main, ["templates", "render", "internal-tool", "--title", "Notes bot",
                                       "--tracker", "github"])
    assert result.exit_code == 0, result.output
    assert result.output.count("example-org/ml-pilots#") > 3 and "Data and access check: Notes bot" in result.output


def test_templates_render_names_the_known_templates_for_a_typo():
    result = CliRunner().invoke(main, ["templates", "render", "ai-pilto", "--title", "x"])
    assert result.exit_code == 1 and "ai-pilot, internal-tool" in result.output


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "pilotgate.yaml"
    path.write_text(json.dumps(config_mapping(tmp_path)), encoding="utf-8")
    return str(path)


def test_register_webhook_dry_run_masks_the_secret(config_file):
    with responses.RequestsMock():  # any request would fail the test
        result = CliRunner().invoke(main, ["jira", "register-webhook", "https://pg.example.com/webhooks/jira",
                                           "--dry-run", "--config", config_file])
    assert result.exit_code == 0, result.output
    assert JIRA_SECRET not in result.output and '"secret": "********"' in result.output
    assert result.output.startswith("POST http://127.0.0.1:9/jira/rest/webhooks/1.0/webhook")


@responses.activate
def test_register_webhook_posts_name_url_events_and_secret(config_file):
    endpoint = "http://127.0.0.1:9/jira/rest/webhooks/1.0/webhook"
    responses.get(endpoint, json=[])
    responses.post(endpoint, status=201, json={"name": "Pilot Gate", "self": endpoint + "/7",
                                               "url": "https://pg.example.com/webhooks/jira", "enabled": True})
    result = CliRunner().invoke(main, ["jira", "register-webhook", "https://pg.example.com/webhooks/jira",
                                       "--jql", "project = AI", "--config", config_file])
    assert result.exit_code == 0, result.output
    body = json.loads(responses.calls[1].request.body)
    assert body == {"name": "Pilot Gate", "url": "https://pg.example.com/webhooks/jira", "excludeBody": False,
                    "events": ["jira:issue_created", "jira:issue_updated", "jira:issue_deleted",
                               "issuelink_deleted"],
                    "filters": {"issue-related-events-section": "project = AI"}, "secret": JIRA_SECRET}
    assert responses.calls[1].request.headers["Authorization"].startswith("Basic ")
    assert JIRA_SECRET not in result.output and endpoint + "/7" in result.output


@responses.activate
def test_register_webhook_twice_registers_once(config_file):
    endpoint = "http://127.0.0.1:9/jira/rest/webhooks/1.0/webhook"
    responses.get(endpoint, json=[{"name": "Pilot Gate", "url": "https://pg.example.com/webhooks/jira",
                                   "self": endpoint + "/7"}])
    result = CliRunner().invoke(main, ["jira", "register-webhook", "https://pg.example.com/webhooks/jira",
                                       "--config", config_file])
    assert result.exit_code == 0 and "nothing changed" in result.output
    assert [c.request.method for c in responses.calls] == ["GET"]


@responses.activate
def test_register_webhook_without_admin_rights_says_what_is_needed(config_file):
    endpoint = "http://127.0.0.1:9/jira/rest/webhooks/1.0/webhook"
    responses.get(endpoint, status=403, json={"errorMessages": ["You are not an administrator."], "errors": {}})
    result = CliRunner().invoke(main, ["jira", "register-webhook", "https://pg.example.com/webhooks/jira",
                                       "--config", config_file])
    assert result.exit_code == 1
    assert "needs a Jira administrator" in result.output and "You are not an administrator." in result.output


class Bar:
    def __init__(self) -> None:
        self.length = 0
        self.pos = 0

    def update(self, steps: int) -> None:
        self.pos += steps


def test_progress_advances_as_each_epic_is_finished(trackers):
    from plugin.commands.admin import _Progress

    bar = Bar()
    progress = _Progress(trackers[Tracker.JIRA], bar)
    seen = []
    for epic in progress.pilot_epics():
        seen.append((epic.key, bar.pos))
    assert bar.length == 2 and bar.pos == 2
    assert seen == [("PILOT-1", 0), ("PILOT-4", 1)]
    assert progress.tracker is Tracker.JIRA and progress.snapshot("PILOT-1").key == "PILOT-1"


def test_github_app_manifest_asks_only_for_what_pilot_gate_uses():
    from pathlib import Path

    from tests.upstream import upstream_json

    manifest = json.loads((Path(__file__).resolve().parents[1] / "github-app-manifest.json").read_text())
    assert manifest["default_permissions"] == {"issues": "write", "metadata": "read", "statuses": "write",
                                               "organization_projects": "read"}
    openapi = upstream_json("github-openapi/api.github.com.json")
    known = openapi["components"]["schemas"]["app-permissions"]["properties"]
    for name, level in manifest["default_permissions"].items():
        assert level in known[name]["enum"], name
    events = {op["post"]["x-github"]["subcategory"].replace("-", "_") for op in openapi["x-webhooks"].values()}
    assert set(manifest["default_events"]) <= events
    assert manifest["hook_attributes"]["url"].endswith("/webhooks/github")
