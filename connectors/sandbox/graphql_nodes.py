"""GraphQL object resolvers over the sandbox store; each class serves the fields named in its FIELDS.

The default field resolver calls `obj.<field>(info, **args)` when it is a method, else reads the
attribute or dict key. FIELDS doubles as the manifest the trimmed schema is generated from.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Sequence

from graphql import GraphQLError

from connectors.sandbox.github_store import GitHubStore, node_id, user_id
from connectors.sandbox.projects_store import ProjectStore

MAX_PAGE = 100


class NotFoundError(GraphQLError):
    """Answered as GitHub does: the field is null and an error with type NOT_FOUND is listed."""

    kind = "NOT_FOUND"


class InputError(GraphQLError):
    kind = "UNPROCESSABLE"


@dataclass
class Context:
    github: GitHubStore
    projects: ProjectStore
    base: str  # the sandbox's address, for url fields
    viewer: str


def _z(iso: str | None) -> str | None:
    return iso[:19] + "Z" if iso else None


def _cursor(index: int) -> str:
    return base64.b64encode(f"cursor:v2:{index}".encode()).decode()


def _index(cursor: str) -> int:
    try:
        return int(base64.b64decode(cursor).decode().rsplit(":", 1)[1])
    except (ValueError, IndexError, UnicodeDecodeError):
        raise InputError(f"`{cursor}` does not appear to be a valid cursor.") from None


def connection(info, items: Sequence[Any], wrap: Callable[[Any], Any], first: int | None = None,
               last: int | None = None, after: str | None = None, before: str | None = None, **_: Any) -> dict:
    """A GitHub-style connection page, refusing what GitHub refuses (no first/last, more than 100)."""
    name = info.field_name
    if first is None and last is None:
        raise InputError(f"You must provide a `first` or `last` value to properly paginate the `{name}` connection.")
    for label, value in (("first", first), ("last", last)):
        if value is not None and value > MAX_PAGE:
            raise InputError(f"Requesting {value} records on the `{name}` connection exceeds the `{label}` limit "
                             f"of {MAX_PAGE} records.")
        if value is not None and value < 0:
            raise InputError(f"`{label}` on the `{name}` connection cannot be less than zero.")
    start = _index(after) + 1 if after else 0
    end = min(_index(before), len(items)) if before else len(items)
    window = list(range(start, end))
    window = window[:first] if first is not None else window
    window = window[len(window) - last:] if last is not None and last < len(window) else window
    edges = [{"node": wrap(items[i]), "cursor": _cursor(i)} for i in window]
    return {"nodes": [e["node"] for e in edges], "edges": edges, "totalCount": len(items),
            "pageInfo": {"hasNextPage": bool(window) and window[-1] < end - 1,
                         "hasPreviousPage": bool(window) and window[0] > start,
                         "startCursor": edges[0]["cursor"] if edges else None,
                         "endCursor": edges[-1]["cursor"] if edges else None}}


class Node:
    TYPE: ClassVar[str]
    FIELDS: ClassVar[tuple[str, ...]]

    def __init__(self, ctx: Context, record: dict[str, Any]) -> None:
        self.ctx = ctx
        self.record = record

    @property
    def typename(self) -> str:
        return self.TYPE


class UserNode(Node):
    TYPE = "User"
    FIELDS = ("id", "login", "databaseId", "url")

    def __init__(self, ctx: Context, login: str) -> None:
        super().__init__(ctx, {"login": login})
        self.login = login
        self.databaseId = user_id(login)
        self.id = node_id("U", self.databaseId)
        self.url = f"{ctx.base}/{login}"


class LabelNode(Node):
    TYPE = "Label"
    FIELDS = ("id", "name", "color", "description")

    def __init__(self, ctx: Context, repo: str, name: str) -> None:
        label = ctx.github.label(repo, name)
        super().__init__(ctx, label)
        self.id, self.name, self.color, self.description = label["node_id"], name, label["color"], label["description"]


class RepositoryNode(Node):
    TYPE = "Repository"
    FIELDS = ("id", "databaseId", "name", "nameWithOwner", "owner", "url", "issue", "issues", "label", "labels")

    def __init__(self, ctx: Context, record: dict[str, Any]) -> None:
        super().__init__(ctx, record)
        self.id, self.databaseId, self.name = record["node_id"], record["id"], record["name"]
        self.nameWithOwner, self.url = record["full_name"], f"{ctx.base}/{record['full_name']}"

    def owner(self, info) -> UserNode:
        return OrganizationNode(self.ctx, self.record["owner"])

    def issue(self, info, number: int) -> "IssueNode":
        found = self.ctx.github.by_number.get(f"{self.nameWithOwner}#{number}")
        if found is None or self.ctx.github.by_id(found)["pull"]:
            raise NotFoundError(f"Could not resolve to an Issue with the number of {number}.")
        return IssueNode(self.ctx, self.ctx.github.by_id(found))

    def label(self, info, name: str) -> "LabelNode | None":
        found = self.ctx.github.existing_label(self.nameWithOwner, name)
        return LabelNode(self.ctx, self.nameWithOwner, found["name"]) if found else None

    def labels(self, info, query: str | None = None, **page) -> dict:
        page.pop("orderBy", None)
        names = [n for n in self.ctx.github.data["labels"].get(self.nameWithOwner, {})
                 if query is None or query.lower() in n.lower()]
        return connection(info, names, lambda n: LabelNode(self.ctx, self.nameWithOwner, n), **page)

    def issues(self, info, states: list[str] | None = None, labels: list[str] | None = None, **page) -> dict:
        wanted = {s.lower() for s in states or ("OPEN", "CLOSED")}
        found = [i for i in self.ctx.github.data["issues"].values() if i["repo"] == self.nameWithOwner
                 and not i["pull"] and i["state"] in wanted and set(labels or ()) <= set(i["labels"])]
        found.sort(key=lambda i: i["number"])
        return connection(info, found, lambda i: IssueNode(self.ctx, i), **page)


class OrganizationNode(UserNode):
    TYPE = "Organization"
    FIELDS = ("id", "login", "databaseId", "url", "projectV2")

    def projectV2(self, info, number: int) -> "ProjectNode":
        if str(number) not in self.ctx.github.data["projects"]:
            raise NotFoundError(f"Could not resolve to a ProjectV2 with the number {number}.")
        return ProjectNode(self.ctx, self.ctx.projects.project(number))


class IssueNode(Node):
    TYPE = "Issue"
    FIELDS = ("id", "databaseId", "number", "title", "body", "url", "state", "stateReason", "closed", "createdAt",
              "updatedAt", "closedAt", "repository", "author", "labels", "assignees", "issueType", "parent",
              "subIssues", "subIssuesSummary", "blockedBy", "blocking", "issueDependenciesSummary", "comments",
              "projectItems", "viewerDidAuthor")

    def __init__(self, ctx: Context, record: dict[str, Any]) -> None:
        super().__init__(ctx, record)
        r = record
        self.id, self.databaseId, self.number, self.title = r["node_id"], r["id"], r["number"], r["title"]
        self.body = r["body"] or ""
        self.url = f"{ctx.base}/{r['repo']}/{'pull' if r['pull'] else 'issues'}/{r['number']}"
        self.state, self.closed = r["state"].upper(), r["state"] == "closed"
        self.stateReason = r["state_reason"].upper() if r["state_reason"] else None
        self.createdAt, self.updatedAt, self.closedAt = _z(r["created_at"]), _z(r["updated_at"]), _z(r["closed_at"])
        self.viewerDidAuthor = r["user"] == ctx.viewer

    def _issues(self, ids: Sequence[int]) -> list[dict[str, Any]]:
        return [self.ctx.github.by_id(i) for i in ids]

    def repository(self, info) -> RepositoryNode:
        return RepositoryNode(self.ctx, self.ctx.github.repo(self.record["repo"]))

    def author(self, info) -> UserNode:
        return UserNode(self.ctx, self.record["user"])

    def labels(self, info, **page) -> dict:
        return connection(info, self.record["labels"], lambda n: LabelNode(self.ctx, self.record["repo"], n), **page)

    def assignees(self, info, **page) -> dict:
        return connection(info, self.record["assignees"], lambda login: UserNode(self.ctx, login), **page)

    def issueType(self, info) -> dict | None:
        name = self.record["type"]
        return {"id": node_id("IT", 30000 + sum(map(ord, name))), "name": name, "description": None,
                "isEnabled": True} if name else None

    def parent(self, info) -> "IssueNode | None":
        parent = self.record["parent"]
        return IssueNode(self.ctx, self.ctx.github.by_id(parent)) if parent else None

    def subIssues(self, info, **page) -> dict:
        return connection(info, self._issues(self.record["sub_issues"]), lambda i: IssueNode(self.ctx, i), **page)

    def subIssuesSummary(self, info) -> dict:
        subs = self._issues(self.record["sub_issues"])
        done = sum(1 for s in subs if s["state"] == "closed")
        return {"total": len(subs), "completed": done, "percentCompleted": done * 100 // len(subs) if subs else 0}

    def blockedBy(self, info, **page) -> dict:
        return connection(info, self._issues(self.record["blocked_by"]), lambda i: IssueNode(self.ctx, i), **page)

    def blocking(self, info, **page) -> dict:
        blocked = self._issues(self.ctx.github.blocking.get(self.record["id"], []))
        return connection(info, blocked, lambda i: IssueNode(self.ctx, i), **page)

    def issueDependenciesSummary(self, info) -> dict:
        blockers = self._issues(self.record["blocked_by"])
        blocked = self._issues(self.ctx.github.blocking.get(self.record["id"], []))
        return {"blockedBy": sum(1 for b in blockers if b["state"] == "open"),
                "blocking": sum(1 for b in blocked if b["state"] == "open"),
                "totalBlockedBy": len(blockers), "totalBlocking": len(blocked)}

    def comments(self, info, **page) -> dict:
        page.pop("orderBy", None)
        found = [self.ctx.github.comment(c) for c in self.record["comments"]]
        return connection(info, found, lambda c: CommentNode(self.ctx, c), **page)

    def projectItems(self, info, includeArchived: bool = True, **page) -> dict:
        items = self.ctx.projects.items_of(self.record)
        return connection(info, items, lambda item: ItemNode(self.ctx, item), **page)


class PullRequestNode(IssueNode):
    TYPE = "PullRequest"
    FIELDS = ("id", "databaseId", "number", "title", "body", "url", "state", "closed", "createdAt", "repository")


class CommentNode(Node):
    TYPE = "IssueComment"
    FIELDS = ("id", "databaseId", "body", "url", "createdAt", "updatedAt", "author", "viewerDidAuthor", "issue")

    def __init__(self, ctx: Context, record: dict[str, Any]) -> None:
        super().__init__(ctx, record)
        issue = ctx.github.by_id(record["issue"])
        self.id, self.databaseId, self.body = record["node_id"], record["id"], record["body"]
        self.url = f"{ctx.base}/{issue['repo']}/issues/{issue['number']}#issuecomment-{record['id']}"
        self.createdAt, self.updatedAt = _z(record["created_at"]), _z(record["updated_at"])
        self.viewerDidAuthor = record["user"] == ctx.viewer

    def author(self, info) -> UserNode:
        return UserNode(self.ctx, self.record["user"])

    def issue(self, info) -> IssueNode:
        return IssueNode(self.ctx, self.ctx.github.by_id(self.record["issue"]))


class ProjectNode(Node):
    TYPE = "ProjectV2"
    FIELDS = ("id", "databaseId", "number", "title", "url", "field", "fields", "items")

    def __init__(self, ctx: Context, record: dict[str, Any]) -> None:
        super().__init__(ctx, record)
        self.id, self.databaseId, self.number, self.title = (record["node_id"], record["id"], record["number"],
                                                             record["title"])
        self.url = f"{ctx.base}/orgs/{record['owner']}/projects/{record['number']}"

    def field(self, info, name: str) -> "StatusFieldNode | None":
        return StatusFieldNode(self.ctx, self.record) if name == "Status" else None

    def fields(self, info, **page) -> dict:
        page.pop("orderBy", None)
        return connection(info, [self.record], lambda p: StatusFieldNode(self.ctx, p), **page)

    def items(self, info, **page) -> dict:
        page.pop("orderBy", None)
        found = [i for i in self.ctx.github.data["items"].values() if i["project"] == self.number]
        return connection(info, found, lambda item: ItemNode(self.ctx, item), **page)


class StatusFieldNode(Node):
    TYPE = "ProjectV2SingleSelectField"
    FIELDS = ("id", "databaseId", "name", "dataType", "options", "project")

    def __init__(self, ctx: Context, project: dict[str, Any]) -> None:
        super().__init__(ctx, project)
        field = project["status_field"]
        self.id, self.databaseId, self.name, self.dataType = field["node_id"], field["id"], field["name"], "SINGLE_SELECT"

    def options(self, info, names: list[str] | None = None) -> list[dict]:
        return [{"id": o["id"], "name": o["name"], "color": o["color"], "description": o["description"]}
                for o in self.record["status_field"]["options"] if names is None or o["name"] in names]

    def project(self, info) -> ProjectNode:
        return ProjectNode(self.ctx, self.record)


class ItemNode(Node):
    TYPE = "ProjectV2Item"
    FIELDS = ("id", "databaseId", "type", "isArchived", "createdAt", "updatedAt", "project", "content",
              "fieldValueByName")

    def __init__(self, ctx: Context, record: dict[str, Any]) -> None:
        super().__init__(ctx, record)
        self.id, self.databaseId, self.isArchived = record["node_id"], record["id"], False
        self.createdAt, self.updatedAt = _z(record["created_at"]), _z(record["updated_at"])
        self.type = "PULL_REQUEST" if ctx.github.by_id(record["issue"])["pull"] else "ISSUE"

    def project(self, info) -> ProjectNode:
        return ProjectNode(self.ctx, self.ctx.projects.project(self.record["project"]))

    def content(self, info) -> IssueNode:
        issue = self.ctx.github.by_id(self.record["issue"])
        return (PullRequestNode if issue["pull"] else IssueNode)(self.ctx, issue)

    def fieldValueByName(self, info, name: str) -> "StatusValueNode | None":
        if name != "Status" or not self.record["status"]:
            return None
        return StatusValueNode(self.ctx, self.record)


class StatusValueNode(Node):
    TYPE = "ProjectV2ItemFieldSingleSelectValue"
    FIELDS = ("id", "databaseId", "name", "optionId", "color", "description", "createdAt", "updatedAt", "field",
              "item")

    def __init__(self, ctx: Context, item: dict[str, Any]) -> None:
        super().__init__(ctx, item)
        project = ctx.projects.project(item["project"])
        option = ctx.projects.option(project, item["status"]) or {}
        self.id, self.databaseId = node_id("PVTFSV", item["id"]), item["id"]
        self.name, self.optionId = option.get("name"), option.get("id")
        self.color, self.description = option.get("color"), option.get("description")
        self.createdAt, self.updatedAt = _z(item["created_at"]), _z(item["updated_at"])

    def field(self, info) -> StatusFieldNode:
        return StatusFieldNode(self.ctx, self.ctx.projects.project(self.record["project"]))

    def item(self, info) -> ItemNode:
        return ItemNode(self.ctx, self.record)


def wrap_node(ctx: Context, kind: str, record: dict[str, Any]) -> Node:
    if kind == "issue":
        return (PullRequestNode if record["pull"] else IssueNode)(ctx, record)
    return {"comment": CommentNode, "item": ItemNode, "repo": RepositoryNode, "project": ProjectNode}[kind](ctx, record)


NODE_CLASSES = (UserNode, OrganizationNode, LabelNode, RepositoryNode, IssueNode, PullRequestNode, CommentNode,
                ProjectNode, StatusFieldNode, ItemNode, StatusValueNode)
