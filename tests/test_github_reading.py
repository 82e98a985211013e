"""Reading GitHub: pilot epics in batches, snapshots, epic_of, Projects v2 items, authentication."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.base import NotFound
from connectors.github_graphql import EPIC_OF, SEARCH_EPICS
from plugin.model import StatusCategory
from tests.github_nodes import (
    GRAPHQL, REPO, comment, epic_node, fragment_fields, gh, graphql_answer, issue_node, make_connector, sent,
)
from tests.openapi_github import openapi

GATE_BODY = "<!-- pilotgate:gate=success-metric epic=example-org/ml-pilots#1 due=2026-01-12 -->\n\nAgree the metric."
SEARCH = 'is:issue is:open label:"ai-pilot" repo:example-org/ml-pilots'

__all__ = ["gh"]  # the fixture: imported so pytest finds it


def by_key_variables(*keys: str) -> dict:
    variables = {}
    for i, key in enumerate(keys):
        repository, number = key.split("#")
        variables.update({f"o{i}": repository.split("/")[0], f"r{i}": repository.split("/")[1], f"n{i}": int(number)})
    return variables


def test_fake_nodes_select_exactly_what_the_fragments_ask_for():
    assert set(issue_node(1)) == fragment_fields("PilotIssue")
    assert set(epic_node(1)) - set(issue_node(1)) == {"subIssues"}


def test_finding_pilot_epics_reads_25_epics_per_graphql_request(gh):
    first = [epic_node(n) for n in range(1, 26)]
    second = [epic_node(n) for n in range(26, 31)] + [epic_node(31, labels=("other",))]
    graphql_answer(gh, {"search": {"pageInfo": {"hasNextPage": True, "endCursor": "Y3Vyc29yOjI1"}, "nodes": first}})
    graphql_answer(gh, {"search": {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": second}})

    epics = list(make_connector().pilot_epics())

    assert [e.key for e in epics] == [f"{REPO}#{n}" for n in range(1, 31)]
    assert sent(gh) == [
        ("POST", "/graphql", {"q": SEARCH, "first": 25, "after": None}),
        ("POST", "/graphql", {"q": SEARCH, "first": 25, "after": "Y3Vyc29yOjI1"}),
    ]
    assert json.loads(gh.calls[0].request.body)["query"] == SEARCH_EPICS


def test_pilot_epics_of_the_wrong_issue_type_are_skipped_when_epic_type_is_set(gh):
    nodes = [epic_node(1, issue_type="Epic"), epic_node(2, issue_type="Task"), epic_node(3)]
    graphql_answer(gh, {"search": {"pageInfo": {"hasNextPage": False, "endCursor": None}, "nodes": nodes}})
    assert [e.key for e in make_connector(epic_type="Epic").pilot_epics()] == [f"{REPO}#1"]


def test_snapshot_maps_children_gates_statuses_blockers_and_bot_comments(gh):
    gate = issue_node(21, "Success metric", body=GATE_BODY, labels=("pilotgate-gate",), state="CLOSED")
    started = issue_node(7, status="In Progress", blocked_by=(f"{REPO}#21",), assignees=("bob",),
                         comments=(comment(501, "<!-- pilotgate:comment -->\nGates still open: #21"),))
    assigned_only = issue_node(8, assignees=("carol",), status="Todo")
    copied = issue_node(9, comments=(comment(502, "<!-- pilotgate:comment -->\nquoted by a human", ours=False),))
    graphql_answer(gh, {"e0": {"issue": epic_node(1, (gate, started, assigned_only, copied))}})

    epic = make_connector().snapshot(f"{REPO}#1")

    assert sent(gh) == [("POST", "/graphql", by_key_variables(f"{REPO}#1"))]
    assert epic.key == f"{REPO}#1" and epic.ticket.labels == {"ai-pilot"}
    assert {k: t.key for k, t in epic.gates().items()} == {"success-metric": f"{REPO}#21"}
    closed_gate = epic.child(f"{REPO}#21")
    assert (closed_gate.category, closed_gate.due, closed_gate.parent) == (
        StatusCategory.DONE, date(2026, 1, 12), f"{REPO}#1")
    work = epic.child(f"{REPO}#7")
    assert (work.category, work.status, work.blocked_by, work.ref) == (
        StatusCategory.IN_PROGRESS, "In Progress", {f"{REPO}#21"}, "9007:I_kwDO0007")
    assert epic.child(f"{REPO}#8").category is StatusCategory.NEW  # an assignee alone is not progress
    assert dict(epic.bot_comments) == {f"{REPO}#7": "Gates still open: #21"}


def test_many_epics_by_key_are_one_request_and_missing_ones_are_skipped(gh):
    keys = [f"{REPO}#1", f"{REPO}#2", "example-org/ml-data#3", f"{REPO}#4"]
    graphql_answer(gh, {"e0": {"issue": epic_node(1)}, "e1": {"issue": None},
                        "e2": {"issue": epic_node(3, repo="example-org/ml-data")},
                        "e3": {"issue": epic_node(4, state="CLOSED")}})

    epics = list(make_connector().pilot_epics(only=keys))

    assert [e.key for e in epics] == [f"{REPO}#1", "example-org/ml-data#3"]
    assert sent(gh) == [("POST", "/graphql", by_key_variables(*keys))]


def test_snapshot_of_a_missing_issue_is_not_found(gh):
    gh.post(GRAPHQL, json={"data": {"e0": {"issue": None}}, "errors": [
        {"type": "NOT_FOUND", "path": ["e0", "issue"],
         "message": "Could not resolve to an Issue with the number of 404."}
    ]})
    with pytest.raises(NotFound, match="example-org/ml-pilots#404"):
        make_connector().snapshot(f"{REPO}#404")


REPOSITORY = {"id": "R_kgDOpilots", "nameWithOwner": REPO,
              "labels": {"totalCount": 1, "nodes": [{"id": "LA_ai", "name": "ai-pilot"}]}}


def epic_of_answer(labels: tuple[str, ...], parent_labels: tuple[str, ...] | None) -> dict:
    """The EpicOf query's answer for issue #5 and, unless None, its parent #1 (both PilotEpic fragments)."""
    issue = epic_node(5, labels=labels)
    issue["parent"] = None if parent_labels is None else {
        **epic_node(1, (issue_node(5, labels=labels),), labels=parent_labels), "repository": REPOSITORY}
    return {"repository": {**REPOSITORY, "issue": issue}}


@pytest.mark.parametrize("labels, parent_labels, expected", [
    (("ai-pilot",), None, f"{REPO}#5"),
    ((), ("AI-Pilot",), f"{REPO}#1"),
    ((), ("bug",), None),
    ((), None, None),
])
def test_epic_of_is_the_issue_itself_or_its_pilot_parent(gh, labels, parent_labels, expected):
    graphql_answer(gh, epic_of_answer(labels, parent_labels))

    assert make_connector().epic_of(f"{REPO}#5") == expected
    assert sent(gh) == [("POST", "/graphql", {"owner": "example-org", "name": "ml-pilots", "number": 5})]
    assert json.loads(gh.calls[0].request.body)["query"] == EPIC_OF


def test_epic_of_a_missing_issue_is_none(gh):
    graphql_answer(gh, {"repository": {**REPOSITORY, "issue": None}})
    assert make_connector().epic_of(f"{REPO}#404") is None


def test_project_item_status_names_the_issue_and_its_status(gh):
    graphql_answer(gh, {"node": {"fieldValueByName": {"name": "In Progress"},
                                 "content": {"number": 7, "repository": {"nameWithOwner": REPO}}}})
    graphql_answer(gh, {"node": {"number": 7, "repository": {"nameWithOwner": REPO}}})
    connector = make_connector()

    assert connector.project_item_status("PVTI_lADOexample") == (f"{REPO}#7", "In Progress")
    assert connector.ticket_key_of_node("I_kwDOexample7") == f"{REPO}#7"
    assert sent(gh) == [("POST", "/graphql", {"id": "PVTI_lADOexample"}),
                        ("POST", "/graphql", {"id": "I_kwDOexample7"})]


def test_project_item_of_a_draft_issue_has_no_ticket(gh):
    graphql_answer(gh, {"node": {"fieldValueByName": None, "content": {}}})
    assert make_connector().project_item_status("PVTI_draft") == (None, None)


def test_github_app_installation_token_is_fetched_once_and_sent(gh):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    # PyGithub spells the URL with an explicit :443
    token_url = re.compile(r"https://api\.github\.com(:443)?/app/installations/4242/access_tokens")
    gh.post(token_url, status=201,
            json={"token": "ghs_installation", "expires_at": "2099-01-01T00:00:00Z"})
    graphql_answer(gh, {"node": None})
    graphql_answer(gh, {"node": None})
    connector = make_connector(token=None, app_id="12345", private_key=pem, installation_id=4242)

    connector.ticket_key_of_node("I_1")
    connector.ticket_key_of_node("I_2")

    assert [bool(token_url.match(c.request.url)) for c in gh.calls] == [True, False, False]
    assert gh.calls[0].request.headers["Authorization"].startswith("Bearer ")  # the app's JWT
    assert gh.calls[1].request.headers["Authorization"] == "token ghs_installation"


def test_token_auth_sends_bearer_and_api_version(gh):
    graphql_answer(gh, {"node": None})
    make_connector().ticket_key_of_node("I_1")
    headers = gh.calls[0].request.headers
    assert (headers["Authorization"], headers["X-GitHub-Api-Version"]) == ("Bearer ghp_test_token", "2022-11-28")


def test_enterprise_server_graphql_lives_beside_the_rest_root():
    with responses.RequestsMock() as mock:
        mock.post("https://ghe.example.com/api/graphql", json={"data": {"node": None}})
        assert make_connector(api_url="https://ghe.example.com/api/v3").ticket_key_of_node("I_1") is None


def test_githubs_issue_schema_has_the_fields_gate_recovery_relies_on():
    issue = openapi()["components"]["schemas"]["issue"]["properties"]
    assert {"id", "node_id", "number", "body", "parent_issue_url"} <= set(issue)
