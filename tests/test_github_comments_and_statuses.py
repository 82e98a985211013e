"""Writing to GitHub: the bot's one comment per ticket, labels and commit statuses, idempotently."""

from __future__ import annotations

from connectors.base import DictMemory
from plugin.model import AddLabel, SetCheck, Tracker, UpsertComment
from tests.github_nodes import API, REPO, comment, gh, issue_node, make_connector, sent
from tests.github_write_world import snapshot
from tests.openapi_github import example

__all__ = ["gh"]  # the fixture: imported so pytest finds it


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
