"""GitHub REST JSON shapes (issue, user, repository, label, comment, status) rendered from sandbox records."""

from __future__ import annotations

from typing import Any

from connectors.sandbox.github_store import BOT_LOGIN, GitHubStore, node_id, user_id

REPO_URL_TEMPLATES = {
    "archive_url": "/{archive_format}{/ref}", "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}", "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}", "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}", "compare_url": "/compare/{base}...{head}", "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors", "deployments_url": "/deployments", "downloads_url": "/downloads",
    "events_url": "/events", "forks_url": "/forks", "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}", "git_tags_url": "/git/tags{/sha}", "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}", "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}", "keys_url": "/keys{/key_id}", "labels_url": "/labels{/name}",
    "languages_url": "/languages", "merges_url": "/merges", "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}", "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}", "stargazers_url": "/stargazers", "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers", "subscription_url": "/subscription", "tags_url": "/tags",
    "teams_url": "/teams", "trees_url": "/git/trees{/sha}",
}
NO_REACTIONS = {"total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "confused": 0, "heart": 0, "hooray": 0,
                "eyes": 0, "rocket": 0}


class GitHubShapes:
    """Renders records with URLs on the sandbox's own address, as GitHub Enterprise Server would."""

    def __init__(self, github: GitHubStore, base: str) -> None:
        self.github = github
        self.api = base.rstrip("/")

    def user(self, login: str | None) -> dict[str, Any] | None:
        if login is None:
            return None
        url = f"{self.api}/users/{login}"
        return {"login": login, "id": user_id(login), "node_id": node_id("U", user_id(login)),
                "avatar_url": f"{self.api}/avatars/{login}", "gravatar_id": "", "url": url,
                "html_url": f"{self.api}/{login}", "followers_url": f"{url}/followers",
                "following_url": f"{url}/following{{/other_user}}", "gists_url": f"{url}/gists{{/gist_id}}",
                "starred_url": f"{url}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{url}/subscriptions",
                "organizations_url": f"{url}/orgs", "repos_url": f"{url}/repos", "events_url": f"{url}/events{{/privacy}}",
                "received_events_url": f"{url}/received_events", "type": "Bot" if login.endswith("[bot]") else "User",
                "user_view_type": "public", "site_admin": False}

    def profile(self, login: str) -> dict[str, Any]:
        """GET /user: the public-user shape."""
        return {**self.user(login), "name": "Pilot Gate" if login == BOT_LOGIN else login.title(), "company": None,
                "blog": "", "location": None, "email": None, "hireable": None, "bio": None, "twitter_username": None,
                "public_repos": len(self.github.data["repos"]), "public_gists": 0, "followers": 0, "following": 0,
                "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z"}

    def repository(self, full_name: str) -> dict[str, Any]:
        repo = self.github.repo(full_name)
        url = f"{self.api}/repos/{full_name}"
        shaped = {name: url + suffix for name, suffix in REPO_URL_TEMPLATES.items()}
        open_issues = sum(1 for i in self.github.data["issues"].values() if i["repo"] == full_name
                          and i["state"] == "open")
        shaped.update({
            "id": repo["id"], "node_id": repo["node_id"], "name": repo["name"], "full_name": full_name,
            "private": False, "owner": self.user(repo["owner"]) | {"type": "Organization"},
            "html_url": f"{self.api}/{full_name}", "description": None, "fork": False, "url": url,
            "git_url": f"git://sandbox/{full_name}.git", "ssh_url": f"git@sandbox:{full_name}.git",
            "clone_url": f"{self.api}/{full_name}.git", "svn_url": f"{self.api}/{full_name}", "mirror_url": None,
            "homepage": None, "language": "Python", "forks_count": 0, "forks": 0, "stargazers_count": 0,
            "watchers_count": 0, "watchers": 0, "size": 0, "default_branch": "main",
            "open_issues_count": open_issues, "open_issues": open_issues, "is_template": False, "topics": [],
            "has_issues": True, "has_projects": True, "has_wiki": False, "has_pages": False,
            "has_downloads": False, "has_discussions": False, "archived": False, "disabled": False,
            "visibility": "public", "license": None, "allow_forking": True, "web_commit_signoff_required": False,
            "pushed_at": _z(repo["created_at"]), "created_at": _z(repo["created_at"]),
            "updated_at": _z(repo["created_at"]), "network_count": 0, "subscribers_count": 0,
            "permissions": {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True},
        })
        return shaped

    def label(self, repo: str, name: str) -> dict[str, Any]:
        label = self.github.label(repo, name)
        return {**label, "url": f"{self.api}/repos/{repo}/labels/{name}"}

    def issue(self, issue: dict[str, Any]) -> dict[str, Any]:
        repo, number = issue["repo"], issue["number"]
        url = f"{self.api}/repos/{repo}/issues/{number}"
        shaped = {
            "id": issue["id"], "node_id": issue["node_id"], "url": url, "repository_url": f"{self.api}/repos/{repo}",
            "labels_url": f"{url}/labels{{/name}}", "comments_url": f"{url}/comments", "events_url": f"{url}/events",
            "html_url": f"{self.api}/{repo}/{'pull' if issue['pull'] else 'issues'}/{number}", "number": number,
            "state": issue["state"], "state_reason": issue["state_reason"], "title": issue["title"],
            "body": issue["body"], "user": self.user(issue["user"]),
            "labels": [self.label(repo, name) for name in issue["labels"]],
            "assignee": self.user(issue["assignees"][0]) if issue["assignees"] else None,
            "assignees": [self.user(a) for a in issue["assignees"]], "milestone": None, "locked": False,
            "active_lock_reason": None, "comments": len(issue["comments"]), "closed_at": _z(issue["closed_at"]),
            "created_at": _z(issue["created_at"]), "updated_at": _z(issue["updated_at"]),
            "author_association": "MEMBER", "timeline_url": f"{url}/timeline", "performed_via_github_app": None,
            "reactions": {"url": f"{url}/reactions", **NO_REACTIONS}, "type": self.issue_type(issue["type"]),
            "sub_issues_summary": self.sub_issues_summary(issue),
            "issue_dependencies_summary": self.dependencies_summary(issue),
        }
        if issue["parent"]:
            parent = self.github.by_id(issue["parent"])
            shaped["parent_issue_url"] = f"{self.api}/repos/{parent['repo']}/issues/{parent['number']}"
        if issue["pull"]:
            pull_url = f"{self.api}/repos/{repo}/pulls/{number}"
            shaped["pull_request"] = {"url": pull_url, "html_url": shaped["html_url"], "merged_at": None,
                                      "diff_url": f"{shaped['html_url']}.diff",
                                      "patch_url": f"{shaped['html_url']}.patch"}
            shaped["draft"] = False
        return shaped

    def issue_type(self, name: str | None) -> dict[str, Any] | None:
        if not name:
            return None
        tid = 30000 + sum(map(ord, name))
        return {"id": tid, "node_id": node_id("IT", tid), "name": name, "description": f"{name} issues",
                "color": "purple" if name == "Epic" else "gray", "is_enabled": True,
                "created_at": "2025-03-18T00:00:00Z", "updated_at": "2025-03-18T00:00:00Z"}

    def sub_issues_summary(self, issue: dict[str, Any]) -> dict[str, int]:
        subs = [self.github.by_id(s) for s in issue["sub_issues"]]
        done = sum(1 for s in subs if s["state"] == "closed")
        return {"total": len(subs), "completed": done, "percent_completed": done * 100 // len(subs) if subs else 0}

    def dependencies_summary(self, issue: dict[str, Any]) -> dict[str, int]:
        """`blocked_by`/`blocking` count open issues only, `total_*` all (GITHUB-FACTS, PyGithub replays)."""
        blockers = [self.github.by_id(b) for b in issue["blocked_by"]]
        blocked = [self.github.by_id(b) for b in self.github.blocking.get(issue["id"], [])]
        return {"blocked_by": sum(1 for b in blockers if b["state"] == "open"),
                "blocking": sum(1 for b in blocked if b["state"] == "open"),
                "total_blocked_by": len(blockers), "total_blocking": len(blocked)}

    def search_item(self, issue: dict[str, Any]) -> dict[str, Any]:
        shaped = self.issue(issue)
        return {**shaped, "body": shaped["body"] or "", "score": 1.0}  # the search item schema has no null body

    def comment(self, comment: dict[str, Any]) -> dict[str, Any]:
        issue = self.github.by_id(comment["issue"])
        repo, cid = issue["repo"], comment["id"]
        issue_url = f"{self.api}/repos/{repo}/issues/{issue['number']}"
        return {"id": cid, "node_id": comment["node_id"], "url": f"{self.api}/repos/{repo}/issues/comments/{cid}",
                "html_url": f"{self.api}/{repo}/issues/{issue['number']}#issuecomment-{cid}",
                "issue_url": issue_url, "body": comment["body"], "user": self.user(comment["user"]),
                "created_at": _z(comment["created_at"]), "updated_at": _z(comment["updated_at"]),
                "author_association": "MEMBER", "performed_via_github_app": None,
                "reactions": {"url": f"{self.api}/repos/{repo}/issues/comments/{cid}/reactions", **NO_REACTIONS}}

    def status(self, status: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"{self.api}/repos/{status['repo']}/statuses/{status['sha']}",
                "avatar_url": f"{self.api}/avatars/{status['creator']}", "id": status["id"],
                "node_id": status["node_id"], "state": status["state"], "description": status["description"],
                "target_url": status["target_url"], "context": status["context"],
                "created_at": _z(status["created_at"]), "updated_at": _z(status["updated_at"]),
                "creator": self.user(status["creator"])}


def _z(iso: str | None) -> str | None:
    """GitHub's timestamps: second precision, Z suffix."""
    return iso[:19] + "Z" if iso else None
