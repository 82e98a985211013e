"""Writing to GitHub: gate issues as sub-issues and blockers, idempotently; comments, labels, commit statuses."""

from __future__ import annotations

from datetime import date

import requests

from connectors.base import DictMemory
from plugin.model import (
    AddBlocksLink, AddLabel, CreateGates, GateSpec, SetCheck, Tracker, UpsertComment,
)
from tests.github_nodes import (
    API, REPO, FakeClock, comment, epic_node, gh, graphql_answer, issue_node, make_connector, sent,
)
from tests.openapi_github import example

__all__ = ["gh"]  # the fixture: imported so pytest finds it
EPIC = f"{REPO}#1"
GATES = ("success-metric", "integration-architecture", "security-briefing", "operations-owner")
DUE = date(2026, 1, 12)


def spec(gate: str, blocks: tuple[str, ...] = (f"{REPO}#7", f"{REPO}#8")) -> GateSpec:
    return GateSpec(gate=gate, title=gate.replace("-", " ").capitalize(), body=f"Body of {gate}.",
                    labels=frozenset({"ai-pilot"}), due=DUE if gate == "security-briefing" else None, blocks=blocks)


def gate_node(number: int, gate: str, **fields) -> dict:
    return issue_node(number, body=f"<!-- pilotgate:gate={gate} epic={EPIC} -->\n\nBody.", **fields)


def snapshot(gh, connector, *children, **fields):
    graphql_answer(gh, {"e0": {"issue": epic_node(1, tuple(children), **fields)}})
    return connector.snapshot(EPIC)


def expect_gate_writes(gh, number: int, gate: str) -> list:
    """Registers GitHub's answers for one gate and returns the requests it must cause."""
    created = example("issue", id=9000 + number, node_id=f"I_kwDO{number:04d}", number=number)
    gh.post(f"{API}/repos/{REPO}/issues", status=201, json=created)
    gh.post(f"{API}/repos/{REPO}/issues/1/sub_issues", status=201, json=example("issue"))
    gh.post(f"{API}/repos/{REPO}/issues/7/dependencies/blocked_by", status=201, json=example("issue"))
    gh.post(f"{API}/repos/{REPO}/issues/8/dependencies/blocked_by", status=201, json=example("issue"))
    s = spec(gate)
    due = f" due={DUE.isoformat()}" if s.due else ""
    return [
        ("POST", f"/repos/{REPO}/issues", {
            "title": s.title, "labels": ["ai-pilot", "pilotgate-gate"],
            "body": f"<!-- pilotgate:gate={gate} epic={EPIC}{due} -->\n\nBody of {gate}.",
        }),
        ("POST", f"/repos/{REPO}/issues/1/sub_issues", {"sub_issue_id": 9000 + number}),
        ("POST", f"/repos/{REPO}/issues/7/dependencies/blocked_by", {"issue_id": 9000 + number}),
        ("POST", f"/repos/{REPO}/issues/8/dependencies/blocked_by", {"issue_id": 9000 + number}),
    ]


def test_provisioning_four_missing_gates_creates_links_and_remembers_each(gh):
    memory, clock = DictMemory(), FakeClock()
    connector = make_connector(memory, clock)
    epic = snapshot(gh, connector, issue_node(7), issue_node(8))
    expected = [call for n, gate in enumerate(GATES, start=21) for call in expect_gate_writes(gh, n, gate)]

    outcomes = connector.apply(epic, [CreateGates(EPIC, tuple(spec(g) for g in GATES))])

    assert sent(gh)[1:] == expected
    assert outcomes[0].done and outcomes[0].created_keys == tuple(f"{REPO}#{n}" for n in range(21, 25))
    assert memory.gate_tickets(Tracker.GITHUB, EPIC) == {g: f"{REPO}#{n}" for n, g in enumerate(GATES, start=21)}
    assert memory.gate_refs(Tracker.GITHUB, EPIC)["success-metric"] == "9021:I_kwDO0021"
    assert len(clock.sleeps) == 15 and min(clock.sleeps) >= 1.0  # 16 writes, a second apart


def test_provisioning_one_missing_gate_creates_only_that_one(gh):
    connector = make_connector()
    present = [gate_node(20 + i, g, blocking=2) for i, g in enumerate(GATES[:3])]
    epic = snapshot(gh, connector, *present, issue_node(7), issue_node(8))
    expected = expect_gate_writes(gh, 24, "operations-owner")

    outcomes = connector.apply(epic, [CreateGates(EPIC, tuple(spec(g) for g in GATES))])

    assert sent(gh)[1:] == expected
    assert outcomes[0].created_keys == (f"{REPO}#24",)


def test_provisioning_with_no_missing_gate_sends_nothing(gh):
    connector = make_connector()
    epic = snapshot(gh, connector, *[gate_node(21 + i, g) for i, g in enumerate(GATES)])

    outcomes = connector.apply(epic, [CreateGates(EPIC, tuple(spec(g) for g in GATES))])

    assert len(sent(gh)) == 1 and (outcomes[0].done, outcomes[0].reason) == (False, "gates already exist")


def test_second_provisioning_changes_nothing_even_from_a_stale_snapshot(gh):
    connector = make_connector()
    epic = snapshot(gh, connector, issue_node(7), issue_node(8))
    for n, gate in enumerate(GATES, start=21):
        expect_gate_writes(gh, n, gate)
    action = CreateGates(EPIC, tuple(spec(g) for g in GATES))
    connector.apply(epic, [action])
    for n in range(21, 25):
        gh.get(f"{API}/repos/{REPO}/issues/{n}",
               json=example("issue", number=n, parent_issue_url=f"{API}/repos/{REPO}/issues/1"))
    writes_before = len(gh.calls)

    again = connector.apply(epic, [action])

    assert [m for m, _, _ in sent(gh)[writes_before:]] == ["GET"] * 4  # the ledger is checked, nothing written
    assert (again[0].done, again[0].created_keys) == (False, ())


def test_create_that_timed_out_is_found_by_its_marker_instead_of_created_twice(gh):
    memory = DictMemory()
    connector = make_connector(memory)
    epic = snapshot(gh, connector)
    gh.post(f"{API}/repos/{REPO}/issues", body=requests.ConnectTimeout("read timed out"))
    marker = f"<!-- pilotgate:gate=success-metric epic={EPIC} -->\n\nBody of success-metric."
    recent = [example("issue", number=30, id=9030, body="unrelated"),
              example("issue", number=21, id=9021, node_id="I_21", body=marker)]
    gh.get(f"{API}/repos/{REPO}/issues", json=recent)
    gh.post(f"{API}/repos/{REPO}/issues/1/sub_issues", status=201, json=example("issue"))

    outcomes = connector.apply(epic, [CreateGates(EPIC, (spec("success-metric", blocks=()),))])

    assert [(m, p) for m, p, _ in sent(gh)[1:]] == [
        ("POST", f"/repos/{REPO}/issues"),
        ("GET", f"/repos/{REPO}/issues?state=all&sort=created&direction=desc&per_page=100"),
        ("POST", f"/repos/{REPO}/issues/1/sub_issues"),
    ]
    assert outcomes[0].created_keys == (f"{REPO}#21",)
    assert memory.gate_refs(Tracker.GITHUB, EPIC) == {"success-metric": "9021:I_21"}


def test_create_that_failed_with_5xx_and_is_absent_is_sent_once_more(gh):
    connector = make_connector()
    epic = snapshot(gh, connector)
    gh.post(f"{API}/repos/{REPO}/issues", status=502, json={"message": "Server Error"})
    gh.get(f"{API}/repos/{REPO}/issues", json=[])
    gh.post(f"{API}/repos/{REPO}/issues", status=201, json=example("issue", number=21, id=9021))
    gh.post(f"{API}/repos/{REPO}/issues/1/sub_issues", status=201, json=example("issue"))

    outcomes = connector.apply(epic, [CreateGates(EPIC, (spec("success-metric", blocks=()),))])

    assert [m for m, _, _ in sent(gh)[1:]] == ["POST", "GET", "POST", "POST"]
    assert outcomes[0].created_keys == (f"{REPO}#21",)


def test_gate_remembered_but_not_linked_after_a_crash_gets_its_links_without_a_new_issue(gh):
    memory = DictMemory()
    memory.record_gate(Tracker.GITHUB, EPIC, "success-metric", f"{REPO}#21", "9021:I_21")
    connector = make_connector(memory)
    epic = snapshot(gh, connector, issue_node(7), issue_node(8))
    gh.get(f"{API}/repos/{REPO}/issues/21", json=example("issue", number=21, parent_issue_url=None))
    gh.post(f"{API}/repos/{REPO}/issues/1/sub_issues", status=201, json=example("issue"))
    gh.post(f"{API}/repos/{REPO}/issues/7/dependencies/blocked_by", status=201, json=example("issue"))
    gh.post(f"{API}/repos/{REPO}/issues/8/dependencies/blocked_by", status=201, json=example("issue"))

    connector.apply(epic, [CreateGates(EPIC, (spec("success-metric"),))])

    assert [(m, p, b) for m, p, b in sent(gh)[1:]] == [
        ("GET", f"/repos/{REPO}/issues/21", None),
        ("POST", f"/repos/{REPO}/issues/1/sub_issues", {"sub_issue_id": 9021}),
        ("POST", f"/repos/{REPO}/issues/7/dependencies/blocked_by", {"issue_id": 9021}),
        ("POST", f"/repos/{REPO}/issues/8/dependencies/blocked_by", {"issue_id": 9021}),
    ]


def test_sub_issue_and_dependency_limits_are_told_on_the_epic_instead_of_failing_silently(gh):
    connector = make_connector()
    crowded = issue_node(7, blocked_by=tuple(f"{REPO}#{n}" for n in range(100, 150)))
    epic = snapshot(gh, connector, crowded, issue_node(8), total=99)
    # only the first gate fits under the 100 sub-issue limit, and #7 already has 50 blockers
    gh.post(f"{API}/repos/{REPO}/issues", status=201, json=example("issue", id=9021, number=21))
    gh.post(f"{API}/repos/{REPO}/issues/1/sub_issues", status=201, json=example("issue"))
    gh.post(f"{API}/repos/{REPO}/issues/8/dependencies/blocked_by", status=201, json=example("issue"))
    gh.post(f"{API}/repos/{REPO}/issues/1/comments", status=201, json=example("issue-comment", id=777))

    connector.apply(epic, [CreateGates(EPIC, tuple(spec(g) for g in GATES[:2]))])

    note = sent(gh)[-1]
    assert note[:2] == ("POST", f"/repos/{REPO}/issues/1/comments")
    assert note[2]["body"].startswith("<!-- pilotgate:note -->\nPilot Gate could not finish wiring this pilot:")
    assert f"{REPO}#21 could not be marked as blocking {REPO}#7" in note[2]["body"]
    assert "maximum of 100 sub-issues" in note[2]["body"]
    assert [p for _, p, _ in sent(gh)[1:-1]].count(f"/repos/{REPO}/issues") == 1


def test_dependency_links_for_new_work_use_the_gates_database_id_and_skip_existing_ones(gh):
    connector = make_connector()
    epic = snapshot(gh, connector, gate_node(21, "success-metric"), issue_node(7, blocked_by=(f"{REPO}#21",)),
                    issue_node(9))
    gh.post(f"{API}/repos/{REPO}/issues/9/dependencies/blocked_by", status=201, json=example("issue"))

    outcomes = connector.apply(epic, [AddBlocksLink(f"{REPO}#21", f"{REPO}#7"),
                                      AddBlocksLink(f"{REPO}#21", f"{REPO}#9")])

    assert sent(gh)[1:] == [("POST", f"/repos/{REPO}/issues/9/dependencies/blocked_by", {"issue_id": 9021})]
    assert [(o.done, o.reason) for o in outcomes] == [(False, "already linked"), (True, "")]


def test_comment_is_created_with_its_marker_and_remembered(gh):
    memory = DictMemory()
    connector = make_connector(memory)
    epic = snapshot(gh, connector, issue_node(7))
    gh.post(f"{API}/repos/{REPO}/issues/7/comments", status=201, json=example("issue-comment", id=555))

    outcomes = connector.apply(epic, [UpsertComment(f"{REPO}#7", "Gates still open.", "work_started_early")])

    assert sent(gh)[1:] == [("POST", f"/repos/{REPO}/issues/7/comments",
                             {"body": "<!-- pilotgate:comment -->\nGates still open."})]
    assert (outcomes[0].done, outcomes[0].reason) == (True, "created")
    assert memory.comment_id(Tracker.GITHUB, f"{REPO}#7") == "555"


def test_comment_is_edited_in_place_when_its_text_changed(gh):
    connector = make_connector()
    epic = snapshot(gh, connector, issue_node(7, comments=(comment(501, "<!-- pilotgate:comment -->\nOld."),)))
    gh.patch(f"{API}/repos/{REPO}/issues/comments/501", json=example("issue-comment", id=501))

    outcomes = connector.apply(epic, [UpsertComment(f"{REPO}#7", "New.", "gates_clear")])

    assert sent(gh)[1:] == [("PATCH", f"/repos/{REPO}/issues/comments/501",
                             {"body": "<!-- pilotgate:comment -->\nNew."})]
    assert outcomes[0].reason == "edited"


def test_comment_with_the_same_text_is_left_alone(gh):
    connector = make_connector()
    epic = snapshot(gh, connector, issue_node(7, comments=(comment(501, "<!-- pilotgate:comment -->\nSame."),)))

    outcomes = connector.apply(epic, [UpsertComment(f"{REPO}#7", "Same.", "work_started_early")] * 2)

    assert len(sent(gh)) == 1 and [o.reason for o in outcomes] == ["unchanged", "unchanged"]


def test_comment_older_than_the_snapshot_window_is_found_by_its_remembered_id(gh):
    memory = DictMemory()
    memory.record_comment(Tracker.GITHUB, f"{REPO}#7", "444")
    connector = make_connector(memory)
    epic = snapshot(gh, connector, issue_node(7))
    gh.get(f"{API}/repos/{REPO}/issues/comments/444",
           json=example("issue-comment", id=444, body="<!-- pilotgate:comment -->\nSame."))

    outcomes = connector.apply(epic, [UpsertComment(f"{REPO}#7", "Same.", "work_started_early")])

    assert [(m, p) for m, p, _ in sent(gh)[1:]] == [("GET", f"/repos/{REPO}/issues/comments/444")]
    assert outcomes[0].reason == "unchanged"


def test_label_is_added_once(gh):
    connector = make_connector()
    epic = snapshot(gh, connector, issue_node(7), issue_node(8, labels=("blocked-by-gates",)))
    gh.post(f"{API}/repos/{REPO}/issues/7/labels", json=[])

    outcomes = connector.apply(epic, [AddLabel(f"{REPO}#7", "blocked-by-gates"),
                                      AddLabel(f"{REPO}#8", "blocked-by-gates")])

    assert sent(gh)[1:] == [("POST", f"/repos/{REPO}/issues/7/labels", {"labels": ["blocked-by-gates"]})]
    assert [o.done for o in outcomes] == [True, False]


def test_commit_status_fails_with_the_open_gates_and_links_the_ticket(gh):
    connector = make_connector()
    epic = snapshot(gh, connector, issue_node(7))
    sha = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    gh.post(f"{API}/repos/{REPO}/statuses/{sha}", status=201, json=example("status"))
    long = "Open gates: " + ", ".join(f"#{n} Security, legal and compliance briefing" for n in range(21, 25))

    connector.apply(epic, [SetCheck(f"{REPO}#7", sha, passed=False, description=long)])

    (method, path, body), = sent(gh)[1:]
    assert (method, path) == ("POST", f"/repos/{REPO}/statuses/{sha}")
    assert body == {"state": "failure", "target_url": f"https://github.com/{REPO}/issues/7",
                    "description": long[:139] + "…", "context": "pilotgate/gates"}


def test_commit_status_succeeds_once_gates_are_done(gh):
    connector = make_connector()
    sha = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    gh.post(f"{API}/repos/{REPO}/statuses/{sha}", status=201, json=example("status"))
    epic = snapshot(gh, connector)

    connector.apply(epic, [SetCheck(f"{REPO}#7", sha, passed=True, description="All gates done")])

    assert sent(gh)[-1][2] == {"state": "success", "target_url": f"https://github.com/{REPO}/issues/7",
                               "description": "All gates done", "context": "pilotgate/gates"}


def test_refused_action_becomes_an_outcome_with_githubs_message_and_the_rest_still_happen(gh):
    connector = make_connector()
    epic = snapshot(gh, connector, issue_node(7))
    gh.post(f"{API}/repos/{REPO}/issues/7/labels", status=422, json={
        "message": "Validation Failed", "errors": [{"resource": "Label", "field": "name", "code": "invalid"}]})
    gh.post(f"{API}/repos/{REPO}/issues/7/comments", status=201, json=example("issue-comment", id=9))

    outcomes = connector.apply(epic, [AddLabel(f"{REPO}#7", "bad,label"), UpsertComment(f"{REPO}#7", "Hi.", "r")])

    assert not outcomes[0].done
    assert outcomes[0].reason == (f"refused: GitHub answered 422: Validation Failed; Label name invalid "
                                  f"(POST /repos/{REPO}/issues/7/labels)")
    assert outcomes[1].reason == "created"


def test_commit_status_goes_to_the_pull_requests_repository_when_it_differs(gh):
    connector = make_connector()
    sha = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    gh.post(f"{API}/repos/example-org/service/statuses/{sha}", status=201, json=example("status"))
    epic = snapshot(gh, connector)

    connector.apply(epic, [SetCheck(f"{REPO}#7", sha, False, "Open gates: Success metric",
                                    pull_request="example-org/service#31")])

    method, path, _ = sent(gh)[-1]
    assert (method, path) == ("POST", f"/repos/example-org/service/statuses/{sha}")
