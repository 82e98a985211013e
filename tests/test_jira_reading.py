"""Reading Jira: pilot epics across pages, one-epic snapshots in two calls, batched children, epic_of."""

from __future__ import annotations

import json

import pytest
import responses

from connectors.base import DictMemory, NotFound, PermanentError
from plugin.model import Epic, StatusCategory, Ticket, Tracker
from tests.jira_payloads import (
    API, BOT, EPIC_FIELDS, HUMAN, PILOTS, add, children_search, comment, connector, epic, epic_get,
    epic_of_search, epic_search, issue, page, sent, ticket_get,
)

PILOT_SEARCH = {
    "jql": f"({PILOTS}) ORDER BY key ASC",
    "fields": EPIC_FIELDS.split(","),
    "maxResults": 100,
}


@responses.activate
def test_pilot_epics_follow_next_page_tokens_and_read_children_in_one_batch():
    jira, _, _ = connector()
    add("POST", "search/jql", page([epic("PG-1", "10001"), epic("PG-2", "10002")], token="page-2"))
    add("POST", "search/jql", page([epic("PG-3", "10003")]))
    add("POST", "search/jql", page([issue("PG-4", "10004", parent="PG-1"), issue("PG-5", "10005", parent="PG-3")],
                                   token="children-2"))
    add("POST", "search/jql", page([issue("PG-6", "10006", parent="PG-3")]))

    epics = list(jira.pilot_epics())

    assert [e.key for e in epics] == ["PG-1", "PG-2", "PG-3"]
    assert [[c.key for c in e.children] for e in epics] == [["PG-4"], [], ["PG-5", "PG-6"]]
    assert sent() == [
        ("POST", "search/jql", PILOT_SEARCH),
        ("POST", "search/jql", {**PILOT_SEARCH, "nextPageToken": "page-2"}),
        ("POST", "search/jql", children_search(["PG-1", "PG-2", "PG-3"])),
        ("POST", "search/jql", children_search(["PG-1", "PG-2", "PG-3"], token="children-2")),
    ]


@responses.activate
def test_pilot_epics_narrowed_to_some_keys_keep_the_configured_order_by():
    jira, _, _ = connector(pilots=f"{PILOTS} ORDER BY created DESC")
    add("POST", "search/jql", page([epic("PG-2", "10002")]))
    add("POST", "search/jql", page([]))

    assert [e.key for e in jira.pilot_epics(only=["PG-2", "pg-9"])] == ["PG-2"]
    assert sent()[0] == ("POST", "search/jql", {
        **PILOT_SEARCH, "jql": f"({PILOTS}) AND key in (PG-2, PG-9) ORDER BY created DESC",
    })


def test_keys_that_are_not_issue_keys_never_reach_jql():
    jira, _, _ = connector()
    with pytest.raises(PermanentError, match="not a Jira issue key"):
        list(jira.pilot_epics(only=['PG-1) OR project = "SECRET']))


@responses.activate
def test_epics_whose_new_gates_search_has_not_indexed_are_read_again_with_reconcile():
    memory = DictMemory()
    epics = [epic(f"PG-{n}", str(10000 + n)) for n in range(1, 15)]
    for n in range(1, 15):
        for g, gate in enumerate(("metric", "integration", "security", "operations")):
            memory.record_gate(Tracker.JIRA, f"PG-{n}", gate, f"PG-{100 * n + g}", str(20000 + 10 * n + g))
    jira, _, _ = connector(memory)
    add("POST", "search/jql", page(epics))
    add("POST", "search/jql", page([]))  # the index shows none of the 56 gates yet
    add("POST", "search/jql", page([]))
    add("POST", "search/jql", page([]))

    assert len(list(jira.pilot_epics())) == 14

    everyone, first, second = [body for _, _, body in sent()[1:]]
    assert everyone == children_search([f"PG-{n}" for n in range(1, 15)])
    assert first == children_search([f"PG-{n}" for n in range(1, 13)],
                                    [20000 + 10 * n + g for n in range(1, 13) for g in range(4)])
    assert second == children_search(["PG-13", "PG-14"], [20000 + 10 * n + g for n in (13, 14) for g in range(4)])
    assert len(first["reconcileIssues"]) == 48


@responses.activate
def test_epics_whose_gates_are_indexed_need_no_second_read():
    memory = DictMemory()
    memory.record_gate(Tracker.JIRA, "PG-1", "metric", "PG-7", "10007")
    jira, _, _ = connector(memory)
    add("POST", "search/jql", page([epic("PG-1", "10001"), epic("PG-2", "10002")]))
    add("POST", "search/jql", page([issue("PG-7", "10007", parent="PG-1", gate="metric")]))

    assert [len(e.gates()) for e in jira.pilot_epics()] == [1, 0]
    assert len(responses.calls) == 2


@responses.activate
def test_snapshot_reads_the_epic_and_its_children_in_two_calls():
    memory = DictMemory()
    memory.record_gate(Tracker.JIRA, "PG-1", "success-metric", "PG-7", "10007")
    memory.record_comment(Tracker.JIRA, "PG-3", "30002")
    jira, _, _ = connector(memory)
    add("GET", "issue/PG-1", epic("PG-1", "10001"))
    add("POST", "search/jql", page([
        issue("PG-2", "10002", parent="PG-1", category="indeterminate", blocked_by=["PG-7"],
              comments=[comment("30001", "Pilot Gate: gates open", author=BOT)]),
        issue("PG-3", "10003", parent="PG-1",
              comments=[comment("30000", "looks good", author=HUMAN), comment("30002", " Gate text \r\n")]),
        issue("PG-7", "10007", parent="PG-1", gate="success-metric", category="done"),
    ]))

    snap = jira.snapshot("PG-1")

    assert sent() == [
        ("GET", "issue/PG-1", epic_get()),
        ("POST", "search/jql", children_search(["PG-1"], [10007])),
    ]
    assert snap.key == "PG-1" and snap.ticket.issue_type == "Epic"
    work = snap.child("PG-2")
    assert work.category is StatusCategory.IN_PROGRESS
    assert work.blocked_by == frozenset({"PG-7"})
    assert work.parent == "PG-1" and work.ref == "10002"
    assert work.url == "https://example.atlassian.net/browse/PG-2"
    assert snap.gates() == {"success-metric": snap.child("PG-7")}
    assert snap.child("PG-7").category is StatusCategory.DONE
    assert dict(snap.bot_comments) == {"PG-2": "Pilot Gate: gates open", "PG-3": "Gate text"}


@responses.activate
def test_blocks_links_are_read_in_the_right_direction():
    jira, _, _ = connector()
    add("GET", "issue/PG-1", epic())
    blocker = issue("PG-7", "10007", parent="PG-1", gate="success-metric")
    # Seen from PG-7, an outwardIssue PG-2 means "PG-7 blocks PG-2": that is not PG-7 being blocked.
    blocker["fields"]["issuelinks"] = [{"id": "3", "type": {"name": "Blocks", "inward": "is blocked by",
                                                            "outward": "blocks"},
                                        "outwardIssue": {"id": "10002", "key": "PG-2"}}]
    add("POST", "search/jql", page([blocker, issue("PG-2", "10002", parent="PG-1", blocked_by=["PG-7"])]))

    snap = jira.snapshot("PG-1")

    assert snap.child("PG-7").blocked_by == frozenset()
    assert snap.child("PG-2").blocked_by == frozenset({"PG-7"})


@responses.activate
def test_gate_found_by_label_when_its_property_was_removed():
    jira, _, _ = connector()
    add("GET", "issue/PG-1", epic())
    gate = issue("PG-7", "10007", parent="PG-1", labels=["pilotgate-gate-security-briefing"])
    add("POST", "search/jql", page([gate]))
    assert jira.snapshot("PG-1").child("PG-7").gate == "security-briefing"


@responses.activate
def test_epic_of_a_work_ticket_is_its_pilot_parent_read_with_every_sibling_in_one_search():
    jira, _, _ = connector()
    ticket = issue("PG-2", "10002", parent="PG-1", category="indeterminate")
    add("GET", "issue/PG-2", ticket)
    add("POST", "search/jql", page([epic("PG-1", "10001"), issue("PG-3", "10003", parent="PG-1")]))

    assert jira.epic_of("PG-2") == "PG-1"
    snap = jira.snapshot("PG-1")

    assert [(c.key, c.category) for c in snap.children] == [
        ("PG-2", StatusCategory.IN_PROGRESS), ("PG-3", StatusCategory.NEW)]
    parent_id = int(ticket["fields"]["parent"]["id"])
    assert sent() == [  # the search leaves the ticket out: in its answer, the ticket would be a pilot
        ("GET", "issue/PG-2", ticket_get()),
        ("POST", "search/jql", epic_of_search(["PG-2", "PG-1"], [10002, parent_id], PILOTS, work=True)),
    ]


@responses.activate
def test_epic_of_the_epic_itself_reads_its_children_so_the_snapshot_sends_nothing():
    memory = DictMemory()
    memory.record_gate(Tracker.JIRA, "PG-1", "success-metric", "PG-7", "10007")
    jira, _, _ = connector(memory)
    add("GET", "issue/PG-1", epic("PG-1", "10001"))
    add("POST", "search/jql", page([epic("PG-1", "10001"), issue("PG-2", "10002", parent="PG-1"),
                                    issue("PG-7", "10007", parent="PG-1", gate="success-metric")]))

    assert jira.epic_of("PG-1") == "PG-1"
    snap = jira.snapshot("PG-1")

    assert [c.key for c in snap.children] == ["PG-2", "PG-7"] and list(snap.gates()) == ["success-metric"]
    assert sent() == [
        ("GET", "issue/PG-1", ticket_get()),
        ("POST", "search/jql", epic_of_search(["PG-1"], [10001, 10007], PILOTS)),
    ]


@responses.activate
def test_a_write_to_the_epic_after_epic_of_read_it_makes_the_snapshot_read_again():
    jira, _, _ = connector()
    other, _, _ = connector()  # the sweep's connector, say: same process, same write log
    add("GET", "issue/PG-1", epic("PG-1", "10001"))
    add("POST", "search/jql", page([epic("PG-1", "10001"), issue("PG-2", "10002", parent="PG-1")]))
    add("POST", "search/jql", page([epic("PG-1", "10001"), issue("PG-2", "10002", parent="PG-1")]))

    assert jira.epic_of("PG-1") == "PG-1"
    other.apply(Epic(Ticket(Tracker.JIRA, "PG-1", "AI pilot")), [])
    jira.snapshot("PG-1")

    # The kept read was void: the snapshot read the epic again (GET it, then search its children).
    assert [(method, path) for method, path, _ in sent()[2:]] == [("GET", "issue/PG-1"), ("POST", "search/jql")]


@responses.activate
def test_epic_of_a_parent_with_many_children_asks_about_the_candidates_alone_after_one_page():
    jira, _, _ = connector()
    add("GET", "issue/OPS-1", issue("OPS-1", "20001", issuetype="Epic"))
    add("POST", "search/jql", page([issue(f"OPS-{n}", str(20000 + n), parent="OPS-1") for n in range(2, 102)],
                                   token="more-children"))
    add("POST", "search/jql", page([]))

    assert jira.epic_of("OPS-1") is None
    assert sent()[2] == ("POST", "search/jql", {
        "jql": f"({PILOTS}) AND key in (OPS-1)", "fields": EPIC_FIELDS.split(","), "maxResults": 100,
        "reconcileIssues": [20001]})
    assert len(sent()) == 3  # not a page more, however many children the epic has


@responses.activate
def test_snapshot_right_after_epic_of_found_the_parent_of_an_epic_reads_only_the_children_then_by_id():
    jira, _, _ = connector()
    add("GET", "issue/PG-2", issue("PG-2", "10002", issuetype="Epic", parent="PG-1"))
    add("POST", "search/jql", page([epic("PG-1", "10001")]))
    add("POST", "search/jql", page([issue("PG-2", "10002", parent="PG-1")]))
    add("POST", "search/jql", page([epic("PG-1", "10001"), issue("PG-2", "10002", parent="PG-1")]))

    assert jira.epic_of("PG-2") == "PG-1"
    assert [c.key for c in jira.snapshot("PG-1").children] == ["PG-2"]
    assert sent()[2:] == [("POST", "search/jql", children_search(["PG-1"]))]
    again = jira.snapshot("PG-1")  # the epic read by epic_of stands in once only; its id is known now
    assert again.ticket.key == "PG-1" and [c.key for c in again.children] == ["PG-2"]
    assert sent()[3:] == [("POST", "search/jql", epic_search("PG-1", [10001]))]


@responses.activate
def test_snapshot_by_id_of_an_epic_deleted_since_answers_not_found():
    jira, _, _ = connector()
    add("GET", "issue/PG-1", epic())
    add("POST", "search/jql", page([]))
    jira.snapshot("PG-1")
    add("POST", "search/jql", {"errorMessages": ["An issue with key 'PG-1' does not exist for field 'key'."],
                               "errors": {}}, status=400)
    add("GET", "issue/PG-1", {"errorMessages": ["Issue does not exist or you do not have permission to see it."],
                              "errors": {}}, status=404)

    with pytest.raises(NotFound):
        jira.snapshot("PG-1")
    assert [(method, path) for method, path, _ in sent()[2:]] == [("POST", "search/jql"), ("GET", "issue/PG-1")]


@responses.activate
def test_epic_of_a_pilot_epic_is_itself_and_of_an_unrelated_ticket_none():
    jira, _, _ = connector()
    add("GET", "issue/PG-1", epic())
    add("POST", "search/jql", page([{"id": "10001", "key": "PG-1"}]))
    add("GET", "issue/10009", issue("OPS-9", "10009"))
    add("POST", "search/jql", page([]))
    add("GET", "issue/PG-404", {"errorMessages": ["Issue does not exist"]}, status=404)

    assert jira.epic_of("PG-1") == "PG-1"
    assert jira.epic_of("10009") is None
    assert jira.epic_of("PG-404") is None


@responses.activate
def test_data_center_pages_the_classic_search_with_start_at():
    jira, _, _ = connector(email=None)
    add("POST", "search", {"startAt": 0, "maxResults": 1, "total": 2, "issues": [epic("PG-1", "10001")]})
    add("POST", "search", {"startAt": 1, "maxResults": 1, "total": 2, "issues": [epic("PG-2", "10002")]})
    add("POST", "search", {"startAt": 0, "maxResults": 100, "total": 0, "issues": []})

    assert [e.key for e in jira.pilot_epics()] == ["PG-1", "PG-2"]
    bodies = [(path, body.get("startAt")) for _, path, body in sent()]
    assert bodies == [("search", 0), ("search", 1), ("search", 0)]



def paging_search(epics: list[dict], children: dict[str, list[dict]]):
    """A search/jql that pages 100 issues at a time like Jira, for the pilot query and `parent in (...)`."""

    def answer(request):
        body = json.loads(request.body)
        if body["jql"].startswith("parent in ("):
            keys = body["jql"][len("parent in ("):body["jql"].index(")")].split(", ")
            found = [child for key in keys for child in children[key]]
        else:
            found = epics
        start = int(body.get("nextPageToken") or 0)
        rest = found[start:start + body["maxResults"]]
        more = start + len(rest) < len(found)
        return 200, {}, json.dumps(page(rest, token=str(start + len(rest)) if more else None))

    return answer


@responses.activate
def test_sync_of_a_hundred_epics_with_twenty_children_and_four_gates_each_takes_25_calls():
    memory = DictMemory()
    epics = [epic(f"PG-{n}", str(10000 + n)) for n in range(1, 101)]
    children = {}
    for n in range(1, 101):
        kids = [issue(f"W{n}-{c}", str(100000 + 100 * n + c), parent=f"PG-{n}") for c in range(20)]
        gates = [issue(f"G{n}-{g}", str(200000 + 10 * n + g), parent=f"PG-{n}", gate=f"gate-{g}") for g in range(4)]
        for g, gate in enumerate(gates):
            memory.record_gate(Tracker.JIRA, f"PG-{n}", f"gate-{g}", gate["key"], gate["id"])
        children[f"PG-{n}"] = kids + gates
    jira, _, _ = connector(memory)
    responses.add_callback("POST", API + "search/jql", callback=paging_search(epics, children))

    synced = list(jira.pilot_epics())

    assert len(synced) == 100 and all(len(e.children) == 24 and len(e.gates()) == 4 for e in synced)
    assert len(responses.calls) == 25  # 1 page of epics + 24 pages of 100 children: the API's minimum
