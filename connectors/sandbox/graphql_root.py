"""GraphQL Query and Mutation roots over the sandbox store, and the manifest of every field served."""

from __future__ import annotations

import time
from typing import Any

from connectors.sandbox.github_search import search_issues
from connectors.sandbox.github_store import GitHubError
from connectors.sandbox.graphql_nodes import (
    NODE_CLASSES, CommentNode, Context, InputError, IssueNode, ItemNode, LabelNode, NotFoundError, OrganizationNode,
    RepositoryNode, UserNode, connection, wrap_node,
)

SEARCH_LIMIT = 1000  # GitHub serves at most 1,000 search results


class Query:
    TYPE = "Query"
    FIELDS = ("repository", "node", "nodes", "search", "viewer", "organization", "rateLimit")

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def repository(self, info, owner: str, name: str, **_: Any) -> RepositoryNode:
        repo = self.ctx.github.data["repos"].get(f"{owner}/{name}")
        if repo is None:
            raise NotFoundError(f"Could not resolve to a Repository with the name '{owner}/{name}'.")
        return RepositoryNode(self.ctx, repo)

    def node(self, info, id: str) -> Any:  # noqa: A002 - GraphQL's argument name
        found = self.ctx.github.node(id)
        if found is None:
            raise NotFoundError(f"Could not resolve to a node with the global id of '{id}'")
        return wrap_node(self.ctx, *found)

    def nodes(self, info, ids: list[str]) -> list[Any]:
        if len(ids) > 100:
            raise InputError("You may not request more than 100 nodes at once.")
        found = [self.ctx.github.node(i) for i in ids]
        missing = [i for i, f in zip(ids, found) if f is None]
        if missing:
            raise NotFoundError(f"Could not resolve to a node with the global id of '{missing[0]}'")
        return [wrap_node(self.ctx, *f) for f in found]

    def search(self, info, query: str, type: str, **page: Any) -> dict:  # noqa: A002
        if type != "ISSUE":
            raise InputError(f"The sandbox searches issues only (type: ISSUE), not {type}.")
        try:
            found = search_issues(self.ctx.github, query)[:SEARCH_LIMIT]
        except GitHubError as err:
            raise InputError(str(err)) from None
        result = connection(info, found, lambda i: wrap_node(self.ctx, "issue", i), **page)
        result["issueCount"] = len(found)
        return result

    def viewer(self, info) -> UserNode:
        return UserNode(self.ctx, self.ctx.viewer)

    def organization(self, info, login: str) -> OrganizationNode:
        if login != self.ctx.github.org:
            raise NotFoundError(f"Could not resolve to an Organization with the login of '{login}'.")
        return OrganizationNode(self.ctx, login)

    def rateLimit(self, info, dryRun: bool = False) -> dict:
        return {"cost": 1, "limit": 5000, "nodeCount": 0, "remaining": 4999, "used": 1,
                "resetAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))}


class Mutation:
    TYPE = "Mutation"
    FIELDS = ("addSubIssue", "removeSubIssue", "addBlockedBy", "removeBlockedBy", "addProjectV2ItemById",
              "updateProjectV2ItemFieldValue", "addComment", "updateIssueComment", "createIssue", "closeIssue",
              "reopenIssue", "createLabel")

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def _issue(self, nid: str | None) -> dict[str, Any]:
        found = self.ctx.github.node(nid or "")
        if found is None or found[0] != "issue":
            raise NotFoundError(f"Could not resolve to a node with the global id of '{nid}'")
        return found[1]

    def _run(self, action):
        try:
            return action()
        except GitHubError as err:
            raise (NotFoundError if err.status == 404 else InputError)(str(err)) from None

    def _payload(self, input: dict, **fields: Any) -> dict:  # noqa: A002
        return {"clientMutationId": input.get("clientMutationId"), **fields}

    def addSubIssue(self, info, input: dict) -> dict:  # noqa: A002
        parent = self._issue(input["issueId"])
        sub = self._sub_issue(input)
        self._run(lambda: self.ctx.github.add_sub_issue(parent, sub["id"], bool(input.get("replaceParent")),
                                                        self.ctx.viewer))
        return self._payload(input, issue=IssueNode(self.ctx, parent), subIssue=IssueNode(self.ctx, sub))

    def _sub_issue(self, input: dict) -> dict[str, Any]:  # noqa: A002
        if input.get("subIssueId"):
            return self._issue(input["subIssueId"])
        url = input.get("subIssueUrl") or ""
        repo_and_number = url.split("://", 1)[-1].split("/", 1)[-1].replace("/issues/", "#")
        issue_id = self.ctx.github.by_number.get(repo_and_number)
        if issue_id is None:
            raise InputError("Provide subIssueId or the subIssueUrl of an existing issue.")
        return self.ctx.github.by_id(issue_id)

    def removeSubIssue(self, info, input: dict) -> dict:  # noqa: A002
        parent, sub = self._issue(input["issueId"]), self._issue(input["subIssueId"])
        self._run(lambda: self.ctx.github.remove_sub_issue(parent, sub["id"]))
        return self._payload(input, issue=IssueNode(self.ctx, parent), subIssue=IssueNode(self.ctx, sub))

    def addBlockedBy(self, info, input: dict) -> dict:  # noqa: A002
        blocked, blocker = self._issue(input["issueId"]), self._issue(input["blockingIssueId"])
        self._run(lambda: self.ctx.github.add_blocked_by(blocked, blocker["id"], self.ctx.viewer))
        return self._payload(input, issue=IssueNode(self.ctx, blocked), blockingIssue=IssueNode(self.ctx, blocker))

    def removeBlockedBy(self, info, input: dict) -> dict:  # noqa: A002
        blocked, blocker = self._issue(input["issueId"]), self._issue(input["blockingIssueId"])
        self._run(lambda: self.ctx.github.remove_blocked_by(blocked, blocker["id"]))
        return self._payload(input, issue=IssueNode(self.ctx, blocked), blockingIssue=IssueNode(self.ctx, blocker))

    def addProjectV2ItemById(self, info, input: dict) -> dict:  # noqa: A002
        project = self._run(lambda: self.ctx.projects.by_node(input["projectId"]))
        item = self.ctx.projects.add_item(project, self._issue(input["contentId"]), self.ctx.viewer)
        return self._payload(input, item=ItemNode(self.ctx, item))

    def updateProjectV2ItemFieldValue(self, info, input: dict) -> dict:  # noqa: A002
        project = self._run(lambda: self.ctx.projects.by_node(input["projectId"]))
        item = self._run(lambda: self.ctx.projects.item_by_node(input["itemId"]))
        if item["project"] != project["number"] or input["fieldId"] != project["status_field"]["node_id"]:
            raise InputError("The item or field does not belong to this project (the sandbox has a Status field only).")
        option = input["value"].get("singleSelectOptionId")
        if option is None:
            raise InputError("The Status field takes value: {singleSelectOptionId}.")
        self._run(lambda: self.ctx.projects.set_status(item, option, self.ctx.viewer))
        return self._payload(input, projectV2Item=ItemNode(self.ctx, item))

    def addComment(self, info, input: dict) -> dict:  # noqa: A002
        issue = self._issue(input["subjectId"])
        comment = self._run(lambda: self.ctx.github.add_comment(issue, input["body"], self.ctx.viewer))
        node = CommentNode(self.ctx, comment)
        return self._payload(input, commentEdge={"node": node, "cursor": node.id}, subject=IssueNode(self.ctx, issue))

    def updateIssueComment(self, info, input: dict) -> dict:  # noqa: A002
        found = self.ctx.github.node(input["id"])
        if found is None or found[0] != "comment":
            raise NotFoundError(f"Could not resolve to a node with the global id of '{input['id']}'")
        comment = self._run(lambda: self.ctx.github.edit_comment(found[1], input["body"], self.ctx.viewer))
        return self._payload(input, issueComment=CommentNode(self.ctx, comment))

    def _repo(self, nid: str) -> dict[str, Any]:
        found = self.ctx.github.node(nid)
        if found is None or found[0] != "repo":
            raise NotFoundError(f"Could not resolve to a node with the global id of '{nid}'")
        return found[1]

    def createIssue(self, info, input: dict) -> dict:  # noqa: A002
        """Checks everything it names before creating, so a refused create leaves nothing behind."""
        repo = self._repo(input["repositoryId"])["full_name"]
        labels = [self._label(nid, repo) for nid in input.get("labelIds") or ()]
        parent = self._issue(input["parentIssueId"]) if input.get("parentIssueId") else None
        github = self.ctx.github
        with github.store.write():
            issue = self._run(lambda: github.create_issue(repo, {"title": input["title"], "body": input.get("body"),
                                                                 "labels": labels}, self.ctx.viewer))
            if parent is not None:
                self._run(lambda: github.add_sub_issue(parent, issue["id"], False, self.ctx.viewer))
        return self._payload(input, issue=IssueNode(self.ctx, issue))

    def _label(self, nid: str, repo: str) -> str:
        found = self.ctx.github.node(nid)
        if found is None or found[0] != "label" or found[1]["repo"] != repo:
            raise NotFoundError(f"Could not resolve to a node with the global id of '{nid}'")
        return found[1]["name"]

    def createLabel(self, info, input: dict) -> dict:  # noqa: A002
        repo = self._repo(input["repositoryId"])["full_name"]
        label = self._run(lambda: self.ctx.github.create_label(repo, input["name"], input["color"],
                                                                input.get("description")))
        return self._payload(input, label=LabelNode(self.ctx, repo, label["name"]))

    def closeIssue(self, info, input: dict) -> dict:  # noqa: A002
        issue = self._issue(input["issueId"])
        reason = (input.get("stateReason") or "COMPLETED").lower()
        self._run(lambda: self.ctx.github.set_state(issue, "closed", reason, self.ctx.viewer))
        return self._payload(input, issue=IssueNode(self.ctx, issue))

    def reopenIssue(self, info, input: dict) -> dict:  # noqa: A002
        issue = self._issue(input["issueId"])
        self._run(lambda: self.ctx.github.set_state(issue, "open", None, self.ctx.viewer))
        return self._payload(input, issue=IssueNode(self.ctx, issue))


# Types served as plain dicts, with the fields the resolvers above fill in.
DICT_TYPES = {
    "PageInfo": ("hasNextPage", "hasPreviousPage", "startCursor", "endCursor"),
    "IssueConnection": ("nodes", "edges", "pageInfo", "totalCount"),
    "IssueEdge": ("node", "cursor"),
    "LabelConnection": ("nodes", "edges", "pageInfo", "totalCount"),
    "LabelEdge": ("node", "cursor"),
    "UserConnection": ("nodes", "edges", "pageInfo", "totalCount"),
    "UserEdge": ("node", "cursor"),
    "IssueCommentConnection": ("nodes", "edges", "pageInfo", "totalCount"),
    "IssueCommentEdge": ("node", "cursor"),
    "ProjectV2ItemConnection": ("nodes", "edges", "pageInfo", "totalCount"),
    "ProjectV2ItemEdge": ("node", "cursor"),
    "ProjectV2FieldConfigurationConnection": ("nodes", "edges", "pageInfo", "totalCount"),
    "ProjectV2FieldConfigurationEdge": ("node", "cursor"),
    "SearchResultItemConnection": ("issueCount", "nodes", "edges", "pageInfo"),
    "SearchResultItemEdge": ("node", "cursor"),
    "SubIssuesSummary": ("total", "completed", "percentCompleted"),
    "IssueDependenciesSummary": ("blockedBy", "blocking", "totalBlockedBy", "totalBlocking"),
    "IssueType": ("id", "name", "description", "isEnabled"),
    "ProjectV2SingleSelectFieldOption": ("id", "name", "color", "description"),
    "RateLimit": ("cost", "limit", "nodeCount", "remaining", "used", "resetAt"),
    "AddSubIssuePayload": ("clientMutationId", "issue", "subIssue"),
    "RemoveSubIssuePayload": ("clientMutationId", "issue", "subIssue"),
    "AddBlockedByPayload": ("clientMutationId", "issue", "blockingIssue"),
    "RemoveBlockedByPayload": ("clientMutationId", "issue", "blockingIssue"),
    "AddProjectV2ItemByIdPayload": ("clientMutationId", "item"),
    "UpdateProjectV2ItemFieldValuePayload": ("clientMutationId", "projectV2Item"),
    "AddCommentPayload": ("clientMutationId", "commentEdge", "subject"),
    "UpdateIssueCommentPayload": ("clientMutationId", "issueComment"),
    "CreateIssuePayload": ("clientMutationId", "issue"),
    "CreateLabelPayload": ("clientMutationId", "label"),
    "CloseIssuePayload": ("clientMutationId", "issue"),
    "ReopenIssuePayload": ("clientMutationId", "issue"),
}


def served_fields() -> dict[str, tuple[str, ...]]:
    """Type name -> fields the sandbox resolves: the manifest the trimmed schema is built from."""
    served = dict(DICT_TYPES)
    for cls in (Query, Mutation, *NODE_CLASSES):
        served[cls.TYPE] = tuple(dict.fromkeys(served.get(cls.TYPE, ()) + cls.FIELDS))
    return served
