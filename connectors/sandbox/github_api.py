"""The GitHub REST routes the GitHub connector (PyGithub and raw requests) calls."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, jsonify, request

from connectors.sandbox.github_search import search_issues
from connectors.sandbox.github_shapes import GitHubShapes
from connectors.sandbox.github_store import BOT_LOGIN, GitHubError, GitHubStore

bp = Blueprint("github", __name__)
ACTOR = BOT_LOGIN  # every REST call is made with the bot's token
REPO = "/repos/<owner>/<name>"
ISSUE = REPO + "/issues/<int:number>"


def current_github() -> GitHubStore:
    return current_app.extensions["sandbox"].github


def current_shapes() -> GitHubShapes:
    return GitHubShapes(current_github(), request.host_url)


def error_response(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"message": message, "documentation_url": "https://docs.github.com/rest",
                    "status": str(status)}), status


@bp.errorhandler(GitHubError)
def _github_error(err: GitHubError) -> tuple[Response, int]:
    return error_response(err.status, str(err))


@bp.before_request
def _authenticated() -> tuple[Response, int] | None:
    if not request.headers.get("Authorization"):
        return error_response(401, "Requires authentication")
    return None


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise GitHubError(400, "Problems parsing JSON")
    return body


def paginate(items: list[Any]) -> Response:
    """One page as GitHub serves it: per_page (max 100, default 30), page, and a Link header."""
    try:
        per_page = max(1, min(int(request.args.get("per_page", 30)), 100))
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        raise GitHubError(422, "Validation Failed: per_page and page must be numbers") from None
    last = max(1, -(-len(items) // per_page))
    response = jsonify(items[(page - 1) * per_page: page * per_page])
    links = []
    for rel, target in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
        if (rel in ("prev", "first") and page > 1) or (rel in ("next", "last") and page < last):
            query = {**request.args.to_dict(), "per_page": per_page, "page": target}
            links.append(f'<{request.base_url}?{urlencode(query)}>; rel="{rel}"')
    if links:
        response.headers["Link"] = ", ".join(links)
    return response


def _issue(owner: str, name: str, number: int) -> dict[str, Any]:
    github = current_github()
    github.repo(f"{owner}/{name}")
    return github.issue(f"{owner}/{name}", number)


@bp.get("/user")
def authenticated_user() -> Response:
    return jsonify(current_shapes().profile(ACTOR))


@bp.get(REPO)
def get_repo(owner: str, name: str) -> Response:
    return jsonify(current_shapes().repository(f"{owner}/{name}"))


@bp.get(REPO + "/issues")
def list_issues(owner: str, name: str) -> Response:
    github, repo = current_github(), f"{owner}/{name}"
    github.repo(repo)
    state = request.args.get("state", "open")
    wanted = {label for label in request.args.get("labels", "").split(",") if label}
    with github.store.lock:
        issues = [i for i in github.data["issues"].values() if i["repo"] == repo
                  and (state == "all" or i["state"] == state) and wanted <= set(i["labels"])]
        issues.sort(key=lambda i: i["number"], reverse=request.args.get("direction", "desc") == "desc")
        shapes = current_shapes()
        return paginate([shapes.issue(i) for i in issues])


@bp.post(REPO + "/issues")
def create_issue(owner: str, name: str) -> tuple[Response, int]:
    github = current_github()
    github.repo(f"{owner}/{name}")
    issue = github.create_issue(f"{owner}/{name}", json_body(), ACTOR)
    shaped = current_shapes().issue(issue)
    response = jsonify(shaped)
    response.headers["Location"] = shaped["url"]
    return response, 201


@bp.get(ISSUE)
def get_issue(owner: str, name: str, number: int) -> Response:
    return jsonify(current_shapes().issue(_issue(owner, name, number)))


@bp.patch(ISSUE)
def edit_issue(owner: str, name: str, number: int) -> Response:
    body = json_body()
    unknown = set(body) - {"title", "body", "state", "state_reason", "labels", "assignees", "type", "milestone"}
    if unknown:
        raise GitHubError(422, f"Validation Failed: unknown field(s) {', '.join(sorted(unknown))}")
    issue = current_github().edit_issue(_issue(owner, name, number), body, ACTOR)
    return jsonify(current_shapes().issue(issue))


@bp.get(ISSUE + "/labels")
def list_labels(owner: str, name: str, number: int) -> Response:
    issue, shapes = _issue(owner, name, number), current_shapes()
    return paginate([shapes.label(issue["repo"], label) for label in issue["labels"]])


@bp.post(ISSUE + "/labels")
def add_labels(owner: str, name: str, number: int) -> Response:
    body = request.get_json(silent=True)
    names = body.get("labels") if isinstance(body, dict) else body
    if not isinstance(names, list):
        raise GitHubError(422, "Validation Failed: labels must be a list")
    issue = _issue(owner, name, number)
    current_github().add_labels(issue, names, ACTOR)
    shapes = current_shapes()
    return jsonify([shapes.label(issue["repo"], label) for label in issue["labels"]])


@bp.post(ISSUE + "/assignees")
def add_assignees(owner: str, name: str, number: int) -> tuple[Response, int]:
    logins = json_body().get("assignees")
    if not isinstance(logins, list):
        raise GitHubError(422, "Validation Failed: assignees must be a list of logins")
    issue = _issue(owner, name, number)
    current_github().assign(issue, logins, ACTOR)
    return jsonify(current_shapes().issue(issue)), 201


@bp.get(ISSUE + "/comments")
def list_comments(owner: str, name: str, number: int) -> Response:
    github, shapes = current_github(), current_shapes()
    issue = _issue(owner, name, number)
    with github.store.lock:
        return paginate([shapes.comment(github.comment(cid)) for cid in issue["comments"]])


@bp.post(ISSUE + "/comments")
def add_comment(owner: str, name: str, number: int) -> tuple[Response, int]:
    comment = current_github().add_comment(_issue(owner, name, number), json_body().get("body"), ACTOR)
    shaped = current_shapes().comment(comment)
    response = jsonify(shaped)
    response.headers["Location"] = shaped["url"]
    return response, 201


def _repo_comment(owner: str, name: str, comment_id: int) -> dict[str, Any]:
    github = current_github()
    comment = github.comment(comment_id)
    if github.by_id(comment["issue"])["repo"] != f"{owner}/{name}":
        raise GitHubError(404, "Not Found")
    return comment


@bp.get(REPO + "/issues/comments/<int:comment_id>")
def get_comment(owner: str, name: str, comment_id: int) -> Response:
    return jsonify(current_shapes().comment(_repo_comment(owner, name, comment_id)))


@bp.patch(REPO + "/issues/comments/<int:comment_id>")
def edit_comment(owner: str, name: str, comment_id: int) -> Response:
    comment = current_github().edit_comment(_repo_comment(owner, name, comment_id), json_body().get("body"), ACTOR)
    return jsonify(current_shapes().comment(comment))


@bp.get(ISSUE + "/sub_issues")
def list_sub_issues(owner: str, name: str, number: int) -> Response:
    github, shapes = current_github(), current_shapes()
    with github.store.lock:
        return paginate([shapes.issue(github.by_id(s)) for s in _issue(owner, name, number)["sub_issues"]])


@bp.post(ISSUE + "/sub_issues")
def add_sub_issue(owner: str, name: str, number: int) -> tuple[Response, int]:
    body = json_body()
    parent = _issue(owner, name, number)
    current_github().add_sub_issue(parent, body.get("sub_issue_id"), bool(body.get("replace_parent")), ACTOR)
    shaped = current_shapes().issue(parent)
    response = jsonify(shaped)
    response.headers["Location"] = shaped["url"] + "/sub_issues"
    return response, 201


@bp.delete(ISSUE + "/sub_issue")
def remove_sub_issue(owner: str, name: str, number: int) -> Response:
    parent = _issue(owner, name, number)
    current_github().remove_sub_issue(parent, json_body().get("sub_issue_id"))
    return jsonify(current_shapes().issue(parent))


@bp.get(ISSUE + "/parent")
def get_parent(owner: str, name: str, number: int) -> Response:
    issue = _issue(owner, name, number)
    if not issue["parent"]:
        raise GitHubError(404, "Not Found")
    return jsonify(current_shapes().issue(current_github().by_id(issue["parent"])))


@bp.get(ISSUE + "/dependencies/blocked_by")
def list_blocked_by(owner: str, name: str, number: int) -> Response:
    github, shapes = current_github(), current_shapes()
    with github.store.lock:
        return paginate([shapes.issue(github.by_id(b)) for b in _issue(owner, name, number)["blocked_by"]])


@bp.get(ISSUE + "/dependencies/blocking")
def list_blocking(owner: str, name: str, number: int) -> Response:
    github, shapes = current_github(), current_shapes()
    issue = _issue(owner, name, number)
    with github.store.lock:
        return paginate([shapes.issue(github.by_id(b)) for b in github.blocking.get(issue["id"], [])])


@bp.post(ISSUE + "/dependencies/blocked_by")
def add_blocked_by(owner: str, name: str, number: int) -> tuple[Response, int]:
    blocked = _issue(owner, name, number)
    current_github().add_blocked_by(blocked, json_body().get("issue_id"), ACTOR)
    shaped = current_shapes().issue(blocked)
    response = jsonify(shaped)
    response.headers["Location"] = shaped["url"] + "/dependencies/blocked_by"
    return response, 201


@bp.delete(ISSUE + "/dependencies/blocked_by/<int:issue_id>")
def remove_blocked_by(owner: str, name: str, number: int, issue_id: int) -> Response:
    blocked = _issue(owner, name, number)
    current_github().remove_blocked_by(blocked, issue_id)
    return jsonify(current_shapes().issue(blocked))


@bp.post(REPO + "/statuses/<sha>")
def create_status(owner: str, name: str, sha: str) -> tuple[Response, int]:
    status = current_github().add_status(f"{owner}/{name}", sha, json_body(), ACTOR)
    shaped = current_shapes().status(status)
    response = jsonify(shaped)
    response.headers["Location"] = shaped["url"]
    return response, 201


@bp.get(REPO + "/commits/<ref>/statuses")
def list_statuses(owner: str, name: str, ref: str) -> Response:
    github, shapes = current_github(), current_shapes()
    github.repo(f"{owner}/{name}")
    found = [s for s in reversed(github.data["statuses"]) if s["repo"] == f"{owner}/{name}" and s["sha"] == ref]
    return paginate([shapes.status(s) for s in found])


@bp.get("/search/issues")
def search() -> Response:
    github, shapes = current_github(), current_shapes()
    with github.store.lock:
        found = search_issues(github, request.args.get("q", ""))
        items = [shapes.search_item(i) for i in found]
    response = paginate(items)
    page = response.get_json()
    body = {"total_count": len(items), "incomplete_results": False, "search_type": "lexical", "items": page}
    paged = jsonify(body)
    if "Link" in response.headers:
        paged.headers["Link"] = response.headers["Link"]
    return paged
