"""GraphQL documents the GitHub connector sends, and the mapping of their answers onto the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Sequence

from connectors.github_markers import COMMENT_MARKER, NOTE_MARKER, comment_text, issue_key, read_gate_marker
from plugin.model import Epic, StatusCategory, Ticket, Tracker

EPICS_PER_QUERY = 25  # 25 epics x 100 sub-issues x their connections stays under GitHub's 500,000-node cap
MAX_SUB_ISSUES = 100  # GitHub's limit per parent, so one page always holds every child
MAX_DEPENDENCIES = 50  # GitHub's limit per relationship kind
LAST_COMMENTS = 20
REPOSITORY_LABELS = 100  # one page; a label not among them is looked up by name

_ISSUE_FRAGMENTS = f"""
fragment PilotIssue on Issue {{
  id
  databaseId
  number
  title
  body
  url
  state
  createdAt
  closedAt
  repository {{ nameWithOwner }}
  labels(first: 20) {{ nodes {{ name }} }}
  assignees(first: 5) {{ nodes {{ login }} }}
  issueType {{ name }}
  projectItems(first: 10) {{
    nodes {{
      fieldValueByName(name: "Status") {{
        ... on ProjectV2ItemFieldSingleSelectValue {{ name updatedAt }}
      }}
    }}
  }}
  blockedBy(first: {MAX_DEPENDENCIES}) {{ nodes {{ number repository {{ nameWithOwner }} }} }}
  issueDependenciesSummary {{ totalBlockedBy totalBlocking }}
  comments(last: {LAST_COMMENTS}) {{ nodes {{ databaseId body viewerDidAuthor }} }}
}}

fragment PilotEpic on Issue {{
  ...PilotIssue
  subIssues(first: {MAX_SUB_ISSUES}) {{ totalCount nodes {{ ...PilotIssue }} }}
}}
"""

SEARCH_EPICS = _ISSUE_FRAGMENTS + """
query PilotEpics($q: String!, $first: Int!, $after: String) {
  search(query: $q, type: ISSUE, first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { ... on Issue { ...PilotEpic } }
  }
}
"""

_REPOSITORY_FRAGMENT = f"""
fragment RepositoryFacts on Repository {{
  id
  nameWithOwner
  labels(first: {REPOSITORY_LABELS}) {{ totalCount nodes {{ id name }} }}
}}
"""

# The issue and its parent, each read as fully as a snapshot reads an epic (with its repository's ids):
# whichever is the pilot, the snapshot that follows reuses this answer instead of asking again.
EPIC_OF = _ISSUE_FRAGMENTS + _REPOSITORY_FRAGMENT + """
query EpicOf($owner: String!, $name: String!, $number: Int!) {
  repository(owner: $owner, name: $name) {
    ...RepositoryFacts
    issue(number: $number) {
      ...PilotEpic
      parent { ...PilotEpic repository { ...RepositoryFacts } }
    }
  }
}
"""

PROJECT_ITEM = """
query ProjectItemStatus($id: ID!) {
  node(id: $id) {
    ... on ProjectV2Item {
      fieldValueByName(name: "Status") { ... on ProjectV2ItemFieldSingleSelectValue { name } }
      content { ... on Issue { number repository { nameWithOwner } } }
    }
  }
}
"""

CONTENT_NODE = """
query ContentIssue($id: ID!) {
  node(id: $id) { ... on Issue { number repository { nameWithOwner } } }
}
"""


def epics_by_key(count: int) -> str:
    """One query reading `count` epics by owner/name/number, aliased e0..eN (variables o_i, r_i, n_i).

    Each alias also reads the repository's id and first labels: what creating gates by GraphQL needs.
    """
    params = ", ".join(f"$o{i}: String!, $r{i}: String!, $n{i}: Int!" for i in range(count))
    fields = "\n".join(
        f"  e{i}: repository(owner: $o{i}, name: $r{i}) {{ ...RepositoryFacts issue(number: $n{i}) {{ ...PilotEpic }} }}"
        for i in range(count)
    )
    return _ISSUE_FRAGMENTS + _REPOSITORY_FRAGMENT + f"\nquery PilotEpicsByKey({params}) {{\n{fields}\n}}\n"


def lookup(labels: int, issues: int) -> str:
    """Ids creating and linking gates need that no snapshot gave: the repository's and `labels` label ids
    (variables owner, name, l_i), and `issues` issues by key with their parent (variables o_i, r_i, n_i)."""
    params = ["$owner: String!", "$name: String!"] + [f"$l{i}: String!" for i in range(labels)]
    params += [f"$o{i}: String!, $r{i}: String!, $n{i}: Int!" for i in range(issues)]
    named = " ".join(f"l{i}: label(name: $l{i}) {{ id name }}" for i in range(labels))
    fields = [f"  repo: repository(owner: $owner, name: $name) {{ id nameWithOwner {named} }}"]
    fields += [f"  i{i}: repository(owner: $o{i}, name: $r{i}) {{ issue(number: $n{i}) {{ "
               f"id databaseId number repository {{ nameWithOwner }} parent {{ id }} }} }}" for i in range(issues)]
    return f"query GateIds({', '.join(params)}) {{\n" + "\n".join(fields) + "\n}\n"


def create_issues(count: int) -> str:
    """`count` aliased createIssue mutations g0..gN, one CreateIssueInput variable each."""
    params = ", ".join(f"$g{i}: CreateIssueInput!" for i in range(count))
    fields = "\n".join(f"  g{i}: createIssue(input: $g{i}) {{ issue {{ id databaseId number }} }}"
                       for i in range(count))
    return f"mutation CreateGates({params}) {{\n{fields}\n}}\n"


def create_labels(count: int) -> str:
    params = ", ".join(f"$l{i}: CreateLabelInput!" for i in range(count))
    fields = "\n".join(f"  l{i}: createLabel(input: $l{i}) {{ label {{ id name }} }}" for i in range(count))
    return f"mutation CreateLabels({params}) {{\n{fields}\n}}\n"


LINK_MUTATIONS = {"blocked_by": ("addBlockedBy", "AddBlockedByInput"), "sub_issue": ("addSubIssue", "AddSubIssueInput")}


def link_issues(kinds: Sequence[str]) -> str:
    """One aliased mutation k0..kN per link; `kinds` are keys of LINK_MUTATIONS."""
    params = ", ".join(f"$k{i}: {LINK_MUTATIONS[kind][1]}!" for i, kind in enumerate(kinds))
    fields = "\n".join(f"  k{i}: {LINK_MUTATIONS[kind][0]}(input: $k{i}) {{ clientMutationId }}"
                       for i, kind in enumerate(kinds))
    return f"mutation LinkGates({params}) {{\n{fields}\n}}\n"


def search_query(repositories: Sequence[str], label: str) -> str:
    repos = " ".join(f"repo:{r}" for r in repositories)
    return f'is:issue is:open label:"{label}" {repos}'


@dataclass(frozen=True)
class EpicFacts:
    """What a snapshot saw that the model has no field for: counts behind GitHub's limits, comment ids."""

    sub_issues: int = 0
    blocked_by: dict[str, int] = field(default_factory=dict)  # ticket key -> its blockers, all states
    blocking: dict[str, int] = field(default_factory=dict)
    comments: dict[str, tuple[int, str]] = field(default_factory=dict)  # ticket key -> (id, text)
    notes: dict[str, tuple[int, str]] = field(default_factory=dict)  # limits notes, same shape


@dataclass
class RepoFacts:
    """A repository's node id and the label ids known so far (name -> id)."""

    node_id: str
    labels: dict[str, str] = field(default_factory=dict)
    all_labels_read: bool = False  # the snapshot's page held every label, so an absent one does not exist

    @classmethod
    def from_node(cls, node: dict[str, Any]) -> "RepoFacts":
        page = node.get("labels") or {}
        labels = {n["name"]: n["id"] for n in page.get("nodes") or () if n}
        return cls(node["id"], labels, all_labels_read=page.get("totalCount", 0) <= len(labels))


def is_pilot(node: dict[str, Any], label: str, epic_type: str | None) -> bool:
    labels = {n["name"].lower() for n in node["labels"]["nodes"]}
    kind = (node.get("issueType") or {}).get("name")
    return label.lower() in labels and (epic_type is None or (kind or "").lower() == epic_type.lower())


def node_key(node: dict[str, Any]) -> str:
    return issue_key(node["repository"]["nameWithOwner"], node["number"])


def to_epic(node: dict[str, Any], in_progress: Sequence[str]) -> tuple[Epic, EpicFacts]:
    epic_key = node_key(node)
    nodes = [node] + list(node["subIssues"]["nodes"])
    children = tuple(to_ticket(child, in_progress, parent=epic_key) for child in node["subIssues"]["nodes"])
    facts = EpicFacts(
        sub_issues=node["subIssues"]["totalCount"],
        blocked_by={node_key(n): n["issueDependenciesSummary"]["totalBlockedBy"] for n in nodes},
        blocking={node_key(n): n["issueDependenciesSummary"]["totalBlocking"] for n in nodes},
        comments=_marked_comments(nodes, COMMENT_MARKER),
        notes=_marked_comments([node], NOTE_MARKER),
    )
    epic = Epic(
        ticket=to_ticket(node, in_progress, parent=None),
        children=children,
        bot_comments=MappingProxyType({key: text for key, (_, text) in facts.comments.items()}),
    )
    return epic, facts


def to_ticket(node: dict[str, Any], in_progress: Sequence[str], parent: str | None) -> Ticket:
    mark = read_gate_marker(node.get("body"))
    status, category, changed = _status(node, in_progress)
    assignees = node["assignees"]["nodes"]
    return Ticket(
        tracker=Tracker.GITHUB,
        key=node_key(node),
        title=node["title"],
        url=node.get("url") or "",
        status=status,
        category=category,
        assignee=assignees[0]["login"] if assignees else None,
        labels=frozenset(n["name"] for n in node["labels"]["nodes"]),
        issue_type=(node.get("issueType") or {}).get("name"),
        gate=mark.gate if mark else None,
        parent=parent,
        created=_timestamp(node.get("createdAt")),
        status_changed=changed,
        due=mark.due if mark else None,
        body=node.get("body") or "",
        blocked_by=frozenset(node_key(n) for n in node["blockedBy"]["nodes"]),
        ref=f"{node['databaseId']}:{node['id']}",
    )


def _status(node: dict[str, Any], in_progress: Sequence[str]) -> tuple[str, StatusCategory, datetime | None]:
    """closed -> DONE; open with a Projects Status named in `in_progress` -> IN_PROGRESS; else NEW.

    An assignee alone does not count: teams assign backlog items long before anyone starts on them.
    """
    if node["state"] == "CLOSED":
        return "closed", StatusCategory.DONE, _timestamp(node.get("closedAt"))
    wanted = {name.lower() for name in in_progress}
    values = [item.get("fieldValueByName") or {} for item in node["projectItems"]["nodes"]]
    named = [v for v in values if v.get("name")]
    for value in named:
        if value["name"].lower() in wanted:
            return value["name"], StatusCategory.IN_PROGRESS, _timestamp(value.get("updatedAt"))
    if named:
        return named[0]["name"], StatusCategory.NEW, _timestamp(named[0].get("updatedAt"))
    return "open", StatusCategory.NEW, None


def _marked_comments(nodes: list[dict[str, Any]], marker: str) -> dict[str, tuple[int, str]]:
    """The bot's oldest marked comment per issue: a copy made by a race is never the one edited."""
    found: dict[str, tuple[int, str]] = {}
    for node in nodes:
        for comment in node["comments"]["nodes"]:
            text = comment_text(marker, comment.get("body")) if comment.get("viewerDidAuthor") else None
            if text is not None and node_key(node) not in found:
                found[node_key(node)] = (comment["databaseId"], text)
    return found


def _timestamp(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
