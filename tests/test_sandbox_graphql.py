"""The sandbox's GraphQL endpoint: GitHub's schema, real execution, and a shipped trimmed schema that stays a subset."""

from __future__ import annotations

import pytest
import requests
from graphql import GraphQLEnumType, GraphQLInputObjectType, GraphQLObjectType, GraphQLUnionType, parse, validate

from connectors import github_graphql
from connectors.sandbox import Sandbox
from connectors.sandbox.graphql_schema import TRIMMED, generate, trimmed_schema
from tests.openapi_github import graphql_schema as official_schema
from tests.upstream import upstream

REPO = "example-org/ml-pilots"
CONNECTOR_DOCUMENTS = [github_graphql.SEARCH_EPICS, github_graphql.EPIC_OF, github_graphql.PROJECT_ITEM,
                       github_graphql.CONTENT_NODE, github_graphql.epics_by_key(3), github_graphql.lookup(2, 2),
                       github_graphql.create_issues(2), github_graphql.create_labels(2),
                       github_graphql.link_issues(["blocked_by", "sub_issue"])]


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox.start(schema="trimmed") as running:
        yield running


def ask(sandbox, query: str, **variables) -> dict:
    answer = requests.post(f"{sandbox.url}/graphql", json={"query": query, "variables": variables},
                           headers={"Authorization": "bearer t"}, timeout=10)
    assert answer.status_code == 200
    return answer.json()


@pytest.mark.parametrize("document", CONNECTOR_DOCUMENTS, ids=["search", "epic_of", "item", "content", "by_key",
                                                               "lookup", "create", "labels", "links"])
def test_every_connector_query_validates_against_the_shipped_trimmed_schema(document):
    assert validate(trimmed_schema(), parse(document)) == []


def test_trimmed_schema_is_what_the_generator_makes_from_the_official_one():
    upstream("github-graphql/schema.docs.graphql")
    assert TRIMMED.read_text(encoding="utf-8") == generate(), "run python -m connectors.sandbox.graphql_schema"


def test_trimmed_schema_is_a_consistent_subset_of_the_official_schema():
    official, trimmed = official_schema(), trimmed_schema()
    for name, kind in trimmed.type_map.items():
        if name.startswith("__"):
            continue
        theirs = official.get_type(name)
        assert type(theirs) is type(kind), name
        if isinstance(kind, GraphQLObjectType):
            for field_name, field in kind.fields.items():
                original = theirs.fields[field_name]
                assert str(field.type) == str(original.type), f"{name}.{field_name}"
                assert {a: str(v.type) for a, v in field.args.items()} == \
                       {a: str(v.type) for a, v in original.args.items()}, f"{name}.{field_name} arguments"
            assert {i.name for i in kind.interfaces} <= {i.name for i in theirs.interfaces}, name
        elif isinstance(kind, GraphQLInputObjectType):
            assert {f: str(v.type) for f, v in kind.fields.items()} == \
                   {f: str(v.type) for f, v in theirs.fields.items()}, name
        elif isinstance(kind, GraphQLEnumType):
            assert set(kind.values) <= set(theirs.values), name
        elif isinstance(kind, GraphQLUnionType):
            assert {t.name for t in kind.types} <= {t.name for t in theirs.types}, name


def test_search_reads_an_epic_with_sub_issues_dependencies_comments_and_project_status(sandbox):
    client = sandbox.client
    epic = client.github_issue(REPO, "Pilot", labels=["ai-pilot"])
    gate = client.github_issue(REPO, "Gate", parent=epic["number"])
    work = client.github_issue(REPO, "Work", parent=epic["number"], status="In Progress")
    requests.post(f"{sandbox.url}/repos/{REPO}/issues/{work['number']}/dependencies/blocked_by",
                  json={"issue_id": gate["id"]}, headers={"Authorization": "token t"}, timeout=10)
    data = ask(sandbox, github_graphql.SEARCH_EPICS, q=github_graphql.search_query([REPO], "ai-pilot"), first=25)
    assert "errors" not in data
    node = data["data"]["search"]["nodes"][0]
    children = {c["title"]: c for c in node["subIssues"]["nodes"]}
    assert node["subIssues"]["totalCount"] == 2 and node["databaseId"] == epic["id"]
    assert children["Work"]["blockedBy"]["nodes"] == [{"number": gate["number"], "repository": {"nameWithOwner": REPO}}]
    assert children["Work"]["projectItems"]["nodes"][0]["fieldValueByName"]["name"] == "In Progress"
    assert children["Gate"]["issueDependenciesSummary"] == {"totalBlockedBy": 0, "totalBlocking": 1}


def test_missing_issue_is_null_with_a_not_found_error_as_github_answers(sandbox):
    sandbox.client.github_issue(REPO, "Exists")
    data = ask(sandbox, github_graphql.EPIC_OF, owner="example-org", name="ml-pilots", number=999)
    assert data["data"]["repository"]["issue"] is None
    assert data["errors"][0]["type"] == "NOT_FOUND" and data["errors"][0]["path"] == ["repository", "issue"]


def test_a_query_outside_the_schema_is_refused_not_guessed(sandbox):
    data = ask(sandbox, "{ repository(owner: \"a\", name: \"b\") { inventedField } }")
    assert "data" not in data and "inventedField" in data["errors"][0]["message"]


def test_connections_refuse_pages_without_first_or_last_as_github_does(sandbox):
    number = sandbox.client.github_issue(REPO, "Epic")["number"]
    data = ask(sandbox, "query($n:Int!){ repository(owner:\"example-org\", name:\"ml-pilots\")"
                        "{ issue(number:$n){ subIssues { totalCount } } } }", n=number)
    assert "You must provide a `first` or `last` value" in data["errors"][0]["message"]


def test_mutations_link_sub_issues_dependencies_and_project_status(sandbox):
    client = sandbox.client
    epic, gate, work = (client.github_issue(REPO, t) for t in ("Epic", "Gate", "Work"))
    item = client.github_project_status(REPO, work["number"], "Todo")["item"]
    project = ask(sandbox, "{ organization(login:\"example-org\"){ projectV2(number:1){ id field(name:\"Status\")"
                           "{ ... on ProjectV2SingleSelectField { id options { id name } } } } } }")
    project = project["data"]["organization"]["projectV2"]
    started = next(o["id"] for o in project["field"]["options"] if o["name"] == "In Progress")
    data = ask(sandbox, """mutation($e:ID!,$g:ID!,$w:ID!,$p:ID!,$i:ID!,$f:ID!,$o:String!){
      addSubIssue(input:{issueId:$e, subIssueId:$g}){ subIssue { parent { number } } }
      addBlockedBy(input:{issueId:$w, blockingIssueId:$g}){ issue { blockedBy(first:5){ totalCount } } }
      updateProjectV2ItemFieldValue(input:{projectId:$p, itemId:$i, fieldId:$f, value:{singleSelectOptionId:$o}})
        { projectV2Item { fieldValueByName(name:"Status"){ ... on ProjectV2ItemFieldSingleSelectValue { name } } } }
    }""", e=epic["node_id"], g=gate["node_id"], w=work["node_id"], p=project["id"], i=item,
               f=project["field"]["id"], o=started)
    assert "errors" not in data, data
    assert data["data"]["addSubIssue"]["subIssue"]["parent"]["number"] == epic["number"]
    assert data["data"]["addBlockedBy"]["issue"]["blockedBy"]["totalCount"] == 1
    assert data["data"]["updateProjectV2ItemFieldValue"]["projectV2Item"]["fieldValueByName"]["name"] == "In Progress"


def test_official_schema_is_used_when_shared_upstream_is_present():
    upstream("github-graphql/schema.docs.graphql")
    with Sandbox.start(schema="auto") as running:
        running.client.github_issue(REPO, "Pilot", labels=["ai-pilot"])
        data = ask(running, github_graphql.SEARCH_EPICS, q=github_graphql.search_query([REPO], "ai-pilot"), first=5)
        assert data["data"]["search"]["nodes"][0]["title"] == "Pilot"
        assert running.client.health()["graphql_schema"] == "official"


def test_aliased_creates_make_labelled_sub_issues_and_a_refused_alias_leaves_the_others_done(sandbox):
    client = sandbox.client
    epic = client.github_issue(REPO, "Pilot epic", labels=["ai-pilot"])
    facts = ask(sandbox, github_graphql.epics_by_key(1), o0="example-org", r0="ml-pilots", n0=epic["number"])
    repo = facts["data"]["e0"]
    assert "gate-label" not in {n["name"] for n in repo["labels"]["nodes"]}
    label = ask(sandbox, github_graphql.create_labels(1),
                l0={"repositoryId": repo["id"], "name": "gate-label", "color": "ededed"})["data"]["l0"]["label"]
    before = client.calls()["total"]
    gate = {"repositoryId": repo["id"], "body": "<!-- marker -->", "labelIds": [label["id"]],
            "parentIssueId": epic["node_id"]}
    answer = ask(sandbox, github_graphql.create_issues(3), g0={**gate, "title": "Gate A"},
                 g1={**gate, "title": "Gate B", "labelIds": ["LA_nonexistent"]}, g2={**gate, "title": "Gate C"})

    assert client.calls()["total"] == before + 1
    assert answer["data"]["g1"] is None and answer["errors"][0]["path"] == ["g1"]
    assert answer["errors"][0]["type"] == "NOT_FOUND"
    numbers = [answer["data"][a]["issue"]["number"] for a in ("g0", "g2")]
    records = [client.github_record(REPO, n) for n in numbers]
    assert [r["title"] for r in records] == ["Gate A", "Gate C"]
    assert all(r["labels"] == ["gate-label"] and r["parent"] == epic["id"] for r in records)
    again = ask(sandbox, github_graphql.create_labels(1),
                l0={"repositoryId": repo["id"], "name": "gate-label", "color": "ededed"})
    assert again["data"]["l0"] is None and "already been taken" in again["errors"][0]["message"]


def test_aliased_blocked_by_links_are_one_request_and_a_duplicate_is_refused_alone(sandbox):
    client = sandbox.client
    gate, first, second = (client.github_issue(REPO, t) for t in ("Gate", "Work 1", "Work 2"))
    link = github_graphql.link_issues(["blocked_by", "blocked_by"])
    done = ask(sandbox, link, k0={"issueId": first["node_id"], "blockingIssueId": gate["node_id"]},
               k1={"issueId": second["node_id"], "blockingIssueId": gate["node_id"]})
    repeat = ask(sandbox, link, k0={"issueId": first["node_id"], "blockingIssueId": gate["node_id"]},
                 k1={"issueId": gate["node_id"], "blockingIssueId": gate["node_id"]})

    assert "errors" not in done and set(done["data"]) == {"k0", "k1"}
    assert [e["path"] for e in repeat["errors"]] == [["k0"], ["k1"]]
    assert all(e["type"] == "UNPROCESSABLE" for e in repeat["errors"])
    assert client.github_record(REPO, second["number"])["blocked_by"] == [gate["id"]]


def test_graphql_mutations_are_counted_as_writes_apart_from_queries(sandbox):
    client = sandbox.client
    gate, work = (client.github_issue(REPO, t) for t in ("Counted gate", "Counted work"))
    client.reset_calls()
    ask(sandbox, github_graphql.CONTENT_NODE, id=work["node_id"])
    ask(sandbox, github_graphql.link_issues(["blocked_by"]),
        k0={"issueId": work["node_id"], "blockingIssueId": gate["node_id"]})
    named = "query Read { viewer { login } }\nmutation Write { __typename }"
    requests.post(f"{sandbox.url}/graphql", json={"query": named, "operationName": "Read"},
                  headers={"Authorization": "bearer t"}, timeout=10)

    calls = client.calls()
    assert calls["routes"] == {"POST /graphql": 2, "POST /graphql mutation": 1}
    assert calls["paths"] == {"POST /graphql": 2, "POST /graphql mutation": 1}
