"""What the GitHub write tests share: the epic, its gate specs, GraphQL answers and the requests seen."""

from __future__ import annotations

import json
import re
from datetime import date

from plugin.model import GateSpec
from tests.github_nodes import REPO, epic_node, graphql_answer, issue_node, sent

EPIC = f"{REPO}#1"
GATES = ("success-metric", "integration-architecture", "security-briefing", "operations-owner")
DUE = date(2026, 1, 12)


def spec(gate: str, blocks: tuple[str, ...] = (f"{REPO}#7", f"{REPO}#8")) -> GateSpec:
    return GateSpec(gate=gate, title=gate.replace("-", " ").capitalize(), body=f"Body of {gate}.",
                    labels=frozenset({"ai-pilot"}), due=DUE if gate == "security-briefing" else None, blocks=blocks)


def gate_node(number: int, gate: str, **fields) -> dict:
    return issue_node(number, body=f"<!-- pilotgate:gate={gate} epic={EPIC} -->\n\nBody.", **fields)


REPO_ID = "R_kgDOpilots"
LABEL_IDS = {"ai-pilot": "LA_ai", "pilotgate-gate": "LA_gate"}


def repository(labels: dict[str, str] | None = None) -> dict:
    """The RepositoryFacts fragment as the snapshot reads it."""
    labels = LABEL_IDS if labels is None else labels
    return {"id": REPO_ID, "nameWithOwner": REPO,
            "labels": {"totalCount": len(labels), "nodes": [{"id": i, "name": n} for n, i in labels.items()]}}


def snapshot(gh, connector, *children, repo: dict | None = None, **fields):
    graphql_answer(gh, {"e0": {**(repository() if repo is None else repo), "issue": epic_node(1, tuple(children), **fields)}})
    return connector.snapshot(EPIC)


def operations(gh) -> list[tuple[str, object]]:
    """(GraphQL operation name, variables) or (REST method and path, body) of each request after the snapshot."""
    seen = []
    for call, (method, path, body) in list(zip(gh.calls, sent(gh)))[1:]:
        if path == "/graphql":
            query = json.loads(call.request.body)["query"]
            seen.append((re.search(r"(query|mutation) (\w+)", query).group(2), body))
        else:
            seen.append((f"{method} {path}", body))
    return seen


def node(number: int) -> str:
    return f"I_kwDO{number:04d}"


def created(*numbers: int) -> dict:
    return {f"g{i}": {"issue": {"id": node(n), "databaseId": 9000 + n, "number": n}} for i, n in enumerate(numbers)}


def create_input(gate: str, labels: tuple[str, ...] = ("LA_ai", "LA_gate")) -> dict:
    s = spec(gate)
    due = f" due={DUE.isoformat()}" if s.due else ""
    return {"repositoryId": REPO_ID, "title": s.title,
            "body": f"<!-- pilotgate:gate={gate} epic={EPIC}{due} -->\n\nBody of {gate}.",
            "labelIds": list(labels), "parentIssueId": node(1)}


def blocked_by(blocker: int, blocked: int) -> dict:
    return {"issueId": node(blocked), "blockingIssueId": node(blocker)}


def linked(count: int) -> dict:
    return {f"k{i}": {"clientMutationId": None} for i in range(count)}

