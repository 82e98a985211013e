"""`pilotgate doctor`: one line per check with OK/FAIL and what to fix; exit 1 when anything fails."""

from __future__ import annotations

import json

import pytest
import responses
from click.testing import CliRunner

from plugin.cli import main
from tests.conftest import GITHUB_TOKEN, JIRA_TOKEN, config_mapping

JIRA = "http://127.0.0.1:9/jira/rest/api/2"
GITHUB = "http://127.0.0.1:9/github"
PUBLIC = "https://pilotgate.example.com"
# Shapes from Jira's OpenAPI (Permissions / UserPermission example) and GitHub's (full-repository).
ALL_GRANTED = {"permissions": {key: {"id": str(i), "key": key, "name": key.title(), "type": "PROJECT",
                                     "description": "", "havePermission": True}
                               for i, key in enumerate(("CREATE_ISSUES", "LINK_ISSUES", "ADD_COMMENTS", "EDIT_ISSUES"))}}


def write_config(tmp_path, **overrides) -> str:
    path = tmp_path / "pilotgate.yaml"
    path.write_text(json.dumps(config_mapping(tmp_path, **overrides)), encoding="utf-8")
    return str(path)


def healthy_trackers(permissions=ALL_GRANTED, repo_permissions=None):
    responses.get(f"{JIRA}/myself", json={"accountId": "557058:pilotgate-bot", "displayName": "Pilot Gate"})
    responses.get(f"{JIRA}/search/jql", json={"issues": [{"id": "10001", "key": "AI-1"}, {"id": "10002", "key": "ML-7"}],
                                             "isLast": True})
    responses.get(f"{JIRA}/mypermissions", json=permissions)
    responses.get(f"{GITHUB}/user", json={"login": "pilotgate-bot", "id": 1, "type": "User"})
    responses.get(f"{GITHUB}/repos/example-org/ml-pilots",
                  json={"full_name": "example-org/ml-pilots", "permissions": repo_permissions or
                        {"admin": False, "maintain": False, "push": False, "triage": True, "pull": True}})


def doctor(config_file, *extra):
    return CliRunner().invoke(main, ["doctor", "--config", config_file, *extra])


@responses.activate
def test_healthy_setup_passes_every_check(tmp_path):
    healthy_trackers()
    result = doctor(write_config(tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert all(line.startswith(("OK ", "SKIP", " ")) or line == "all checks passed" for line in lines)
    assert "authenticated as Pilot Gate (557058:pilotgate-bot)" in result.output
    assert "2 pilot epics in AI, ML" in result.output
    assert "project ML: can create, link, comment on and edit issues" in result.output
    assert "example-org/ml-pilots: can create issues" in result.output
    assert "SKIP  webhooks" in result.output and "--public-url" in result.output


@responses.activate
def test_permission_check_asks_jira_for_exactly_the_four_permissions(tmp_path):
    healthy_trackers()
    doctor(write_config(tmp_path))
    asked = [c.request for c in responses.calls if "mypermissions" in c.request.url]
    assert len(asked) == 2
    assert "projectKey=AI" in asked[0].url
    assert "permissions=CREATE_ISSUES%2CLINK_ISSUES%2CADD_COMMENTS%2CEDIT_ISSUES" in asked[0].url


@responses.activate
def test_missing_jira_permission_fails_and_says_what_to_grant(tmp_path):
    denied = json.loads(json.dumps(ALL_GRANTED))
    denied["permissions"]["LINK_ISSUES"]["havePermission"] = False
    healthy_trackers(permissions=denied)
    result = doctor(write_config(tmp_path))
    assert result.exit_code == 1
    assert "FAIL  jira permissions    project AI: missing LINK_ISSUES" in result.output
    assert "fix: grant the bot user LINK_ISSUES in AI's permission scheme" in result.output
    assert result.output.splitlines()[-1] == "2 problems found"


@responses.activate
def test_rejected_credentials_stop_the_trackers_other_checks(tmp_path):
    responses.get(f"{JIRA}/myself", status=401, json={"errorMessages": ["Client must be authenticated"], "errors": {}})
    healthy_trackers()
    result = doctor(write_config(tmp_path))
    assert result.exit_code == 1
    assert "FAIL  jira credentials" in result.output and "Client must be authenticated" in result.output
    assert "fix: check jira.email and jira.token" in result.output
    assert "jira pilots" not in result.output
    assert JIRA_TOKEN not in result.output and GITHUB_TOKEN not in result.output


@responses.activate
def test_read_only_repository_fails(tmp_path):
    healthy_trackers(repo_permissions={"admin": False, "maintain": False, "push": False, "triage": False, "pull": True})
    result = doctor(write_config(tmp_path))
    assert result.exit_code == 1
    assert "example-org/ml-pilots: read-only access (needs triage or write)" in result.output


@responses.activate
def test_bad_pilots_jql_is_named(tmp_path):
    responses.get(f"{JIRA}/myself", json={"accountId": "557058:pilotgate-bot", "displayName": "Pilot Gate"})
    responses.get(f"{JIRA}/search/jql", status=400,
                  json={"errorMessages": ["Field 'lables' does not exist or you do not have permission to view it."],
                        "errors": {}})
    result = doctor(write_config(tmp_path, github=None))
    assert result.exit_code == 1
    assert "FAIL  jira pilots" in result.output and "Field 'lables' does not exist" in result.output


def test_broken_configuration_is_the_only_line(tmp_path):
    result = doctor(write_config(tmp_path, jira={"url": "not a url"}))
    assert result.exit_code == 1
    assert result.output.startswith("FAIL  config") and "jira." in result.output


@responses.activate
def test_unknown_template_name_fails(tmp_path):
    healthy_trackers()
    mapping = config_mapping(tmp_path)
    mapping["github"]["template"] = "ai-pilto"
    path = tmp_path / "pilotgate.yaml"
    path.write_text(json.dumps(mapping), encoding="utf-8")
    result = doctor(str(path))
    assert result.exit_code == 1 and "FAIL  templates" in result.output and "'ai-pilto'" in result.output


@responses.activate
def test_public_url_is_reachable_and_refuses_unsigned_deliveries(tmp_path):
    healthy_trackers()
    responses.get(f"{PUBLIC}/healthz", json={"status": "ok"})
    responses.post(f"{PUBLIC}/webhooks/jira", status=401, json={"error": "bad signature"})
    responses.post(f"{PUBLIC}/webhooks/github", status=401, json={"error": "bad signature"})
    result = doctor(write_config(tmp_path), "--public-url", PUBLIC)
    assert result.exit_code == 0, result.output
    assert f"OK    webhooks            {PUBLIC}/webhooks/github is reachable and refuses unsigned deliveries" \
        in result.output


@responses.activate
def test_public_url_that_accepts_unsigned_deliveries_fails(tmp_path):
    healthy_trackers()
    responses.get(f"{PUBLIC}/healthz", json={"status": "ok"})
    responses.post(f"{PUBLIC}/webhooks/jira", status=404)
    responses.post(f"{PUBLIC}/webhooks/github", status=401)
    result = doctor(write_config(tmp_path), "--public-url", PUBLIC)
    assert result.exit_code == 1 and "answered 404 to an unsigned delivery (expected 401)" in result.output


@pytest.mark.parametrize("status", [502, 404])
@responses.activate
def test_unreachable_public_url_fails(tmp_path, status):
    healthy_trackers()
    responses.get(f"{PUBLIC}/healthz", status=status)
    result = doctor(write_config(tmp_path), "--public-url", PUBLIC)
    assert result.exit_code == 1 and f"{PUBLIC}/healthz answered {status}" in result.output
