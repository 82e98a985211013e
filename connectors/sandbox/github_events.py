"""GitHub webhook payloads, shaped as the x-webhooks schemas in GitHub's OpenAPI description."""

from __future__ import annotations

from typing import Any

from connectors.sandbox.github_shapes import GitHubShapes
from connectors.sandbox.github_store import node_id
from connectors.sandbox.projects_store import ProjectStore

INSTALLATION_ID = 4242  # the GitHub App installation the sandbox pretends to deliver for


def github_payload(shapes: GitHubShapes, projects: ProjectStore, name: str,
                   facts: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(X-GitHub-Event, body) for one event as the store emitted it."""
    event, _, action = name.partition(".")
    base = {"action": action, "sender": shapes.user(facts["actor"]), "organization": organization(shapes),
            "installation": {"id": INSTALLATION_ID, "node_id": node_id("MDIz", INSTALLATION_ID)}}
    if event == "projects_v2_item":
        return event, {**base, **_project_item(shapes, projects, action, facts)}
    github = shapes.github
    issue = github.by_id(facts["issue"])
    base["repository"] = shapes.repository(issue["repo"])
    if event == "issues":
        payload = {**base, "issue": shapes.issue(issue)}
        if action == "assigned":
            payload["assignee"] = shapes.user(facts["assignee"])
        if action == "labeled":
            payload["label"] = shapes.label(issue["repo"], facts["label"])
        return event, payload
    if event == "issue_comment":
        return event, {**base, "issue": shapes.issue(issue), "comment": shapes.comment(github.comment(facts["comment"]))}
    if event == "sub_issues":
        sub = github.by_id(facts["sub"])
        return event, {**base, "parent_issue_id": issue["id"], "parent_issue": shapes.issue(issue),
                       "sub_issue_id": sub["id"], "sub_issue": shapes.issue(sub),
                       "sub_issue_repo": shapes.repository(sub["repo"])}
    if event == "issue_dependencies":
        blocker = github.by_id(facts["blocker"])
        return event, {**base, "blocked_issue_id": issue["id"], "blocked_issue": shapes.issue(issue),
                       "blocking_issue_id": blocker["id"], "blocking_issue": shapes.issue(blocker),
                       "blocking_issue_repo": shapes.repository(blocker["repo"])}
    if event == "pull_request":
        return event, {**base, "number": issue["number"], "pull_request": pull_request(shapes, issue)}
    raise ValueError(f"no webhook payload for event {name}")


def organization(shapes: GitHubShapes) -> dict[str, Any]:
    login = shapes.github.org
    url = f"{shapes.api}/orgs/{login}"
    oid = 300000 + sum(map(ord, login))
    return {"login": login, "id": oid, "node_id": node_id("O", oid), "url": url, "repos_url": f"{url}/repos",
            "events_url": f"{url}/events", "hooks_url": f"{url}/hooks", "issues_url": f"{url}/issues",
            "members_url": f"{url}/members{{/member}}", "public_members_url": f"{url}/public_members{{/member}}",
            "avatar_url": f"{shapes.api}/avatars/{login}", "description": None}


def _project_item(shapes: GitHubShapes, projects: ProjectStore, action: str, facts: dict[str, Any]) -> dict:
    item = shapes.github.data["items"][str(facts["item"])]
    project = projects.project(item["project"])
    issue = shapes.github.by_id(item["issue"])
    shaped = {"id": item["id"], "node_id": item["node_id"], "project_node_id": project["node_id"],
              "content_node_id": issue["node_id"], "content_type": "PullRequest" if issue["pull"] else "Issue",
              "creator": shapes.user(item["creator"]), "created_at": item["created_at"][:19] + "Z",
              "updated_at": item["updated_at"][:19] + "Z", "archived_at": None}
    payload: dict[str, Any] = {"projects_v2_item": shaped}
    if action == "edited":
        field = project["status_field"]
        payload["changes"] = {"field_value": {
            "field_node_id": field["node_id"], "field_type": "single_select", "field_name": field["name"],
            "project_number": project["number"], "from": facts["from"], "to": facts["to"]}}
    return payload


def pull_request(shapes: GitHubShapes, issue: dict[str, Any]) -> dict[str, Any]:
    """The pull-request-webhook shape for a pull request the sandbox opened (no diff behind it)."""
    repo, number, pull = issue["repo"], issue["number"], issue["pull"]
    api = f"{shapes.api}/repos/{repo}"
    url, html = f"{api}/pulls/{number}", f"{shapes.api}/{repo}/pull/{number}"
    repository = shapes.repository(repo)
    owner = repo.split("/")[0]
    user = shapes.user(issue["user"])

    def side(ref: str, sha: str) -> dict[str, Any]:
        return {"label": f"{owner}:{ref}", "ref": ref, "sha": sha, "user": user, "repo": repository}

    link = lambda href: {"href": href}  # noqa: E731
    return {
        "url": url, "id": issue["id"], "node_id": issue["node_id"], "html_url": html, "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch", "issue_url": f"{api}/issues/{number}", "number": number, "state": "open",
        "locked": False, "title": issue["title"], "user": user, "body": issue["body"],
        "created_at": issue["created_at"][:19] + "Z", "updated_at": issue["updated_at"][:19] + "Z",
        "closed_at": None, "merged_at": None, "merge_commit_sha": None, "assignee": None, "assignees": [],
        "requested_reviewers": [], "requested_teams": [], "labels": [shapes.label(repo, n) for n in issue["labels"]],
        "milestone": None, "draft": False, "commits_url": f"{url}/commits", "review_comments_url": f"{url}/comments",
        "review_comment_url": f"{api}/pulls/comments{{/number}}", "comments_url": f"{api}/issues/{number}/comments",
        "statuses_url": f"{api}/statuses/{pull['head_sha']}", "head": side(pull["head_ref"], pull["head_sha"]),
        "base": side(pull["base_ref"], pull["base_sha"]),
        "_links": {"self": link(url), "html": link(html), "issue": link(f"{api}/issues/{number}"),
                   "comments": link(f"{api}/issues/{number}/comments"), "review_comments": link(f"{url}/comments"),
                   "review_comment": link(f"{api}/pulls/comments{{/number}}"), "commits": link(f"{url}/commits"),
                   "statuses": link(f"{api}/statuses/{pull['head_sha']}")},
        "author_association": "MEMBER", "auto_merge": None, "active_lock_reason": None, "merged": False,
        "mergeable": None, "rebaseable": None, "mergeable_state": "unknown", "merged_by": None, "comments": 0,
        "review_comments": 0, "maintainer_can_modify": False, "commits": 1, "additions": 1, "deletions": 0,
        "changed_files": 1,
    }
