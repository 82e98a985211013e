"""The sandbox's own admin API under /_sandbox: act as a human in either tracker, inspect, inject faults."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from connectors.sandbox.faults import FaultPlan
from connectors.sandbox.github_store import HUMAN_LOGIN, GitHubError
from connectors.sandbox.jira_people import JiraPerson
from connectors.sandbox.jira_store import HUMAN, JiraError

bp = Blueprint("sandbox_admin", __name__, url_prefix="/_sandbox")


def _state():
    return current_app.extensions["sandbox"]


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    return body


def _required(body: dict[str, Any], *names: str) -> list[Any]:
    missing = [n for n in names if body.get(n) in (None, "")]
    if missing:
        raise ValueError(f"missing field(s): {', '.join(missing)}")
    return [body[n] for n in names]


@bp.errorhandler(ValueError)
@bp.errorhandler(KeyError)
def _bad_request(err: Exception) -> tuple[Response, int]:
    return jsonify({"error": str(err).strip("'\"")}), 400


@bp.errorhandler(JiraError)
@bp.errorhandler(GitHubError)
def _tracker_error(err: JiraError | GitHubError) -> tuple[Response, int]:
    return jsonify({"error": str(err)}), err.status


@bp.get("/health")
def health() -> Response:
    return jsonify({"ok": True, "graphql_schema": _state().schema_source()})


def _person(body: dict[str, Any]) -> JiraPerson:
    return JiraPerson(_state().jira, body.get("actor", HUMAN))


@bp.post("/jira/epics")
def jira_epic() -> tuple[Response, int]:
    body = _body()
    return jsonify(_person(body).jira_epic(
        _required(body, "summary")[0], body.get("project", "PILOT"), body.get("labels", ["ai-pilot"]),
        body.get("description"))), 201


@bp.post("/jira/issues")
def jira_issue() -> tuple[Response, int]:
    body = _body()
    return jsonify(_person(body).jira_issue(
        _required(body, "summary")[0], body.get("parent"), body.get("project", "PILOT"), body.get("type", "Task"),
        body.get("labels", []), body.get("assignee"), body.get("description"))), 201


@bp.post("/jira/transition")
def jira_transition() -> Response:
    body = _body()
    return jsonify(_person(body).jira_transition(*_required(body, "key", "status")))


@bp.post("/jira/assign")
def jira_assign() -> Response:
    body = _body()
    return jsonify(_person(body).jira_assign(_required(body, "key")[0], body.get("assignee")))


@bp.get("/jira/issues/<key>")
def jira_record(key: str) -> Response:
    jira = _state().jira
    with jira.store.lock:
        issue = jira.issue(key)
        return jsonify({**issue, "comments": jira.comments_of(key), "links": jira.links_of(key),
                        "children": list(jira.children.get(issue["key"], []))})


@bp.post("/github/issues")
def github_issue() -> tuple[Response, int]:
    body = _body()
    repo, title = _required(body, "repo", "title")
    state, actor = _state(), body.get("actor", HUMAN_LOGIN)
    github = state.github
    with github.store.write():
        issue = github.create_issue(repo, {"title": title, "body": body.get("body"), "type": body.get("type"),
                                           "assignees": body.get("assignees")}, actor)
        github.add_labels(issue, body.get("labels", []), actor)
        if body.get("parent"):
            github.add_sub_issue(github.issue(repo, int(body["parent"])), issue["id"], False, actor)
        if body.get("status"):
            _set_project_status(issue, body["status"], int(body.get("project", 1)), actor)
    return jsonify({"number": issue["number"], "id": issue["id"], "node_id": issue["node_id"],
                    "key": f"{repo}#{issue['number']}"}), 201


@bp.post("/github/pulls")
def github_pull() -> tuple[Response, int]:
    body = _body()
    repo, title = _required(body, "repo", "title")
    pull = {"head_sha": body.get("head_sha") or uuid.uuid4().hex + uuid.uuid4().hex[:8],
            "head_ref": body.get("head_ref", "feature"), "base_ref": body.get("base_ref", "main"),
            "base_sha": uuid.uuid4().hex + uuid.uuid4().hex[:8]}
    issue = _state().github.create_issue(repo, {"title": title, "body": body.get("body")},
                                         body.get("actor", HUMAN_LOGIN), pull=pull)
    return jsonify({"number": issue["number"], "id": issue["id"], "head_sha": pull["head_sha"]}), 201


@bp.post("/github/project-status")
def github_project_status() -> Response:
    body = _body()
    repo, number, status = _required(body, "repo", "number", "status")
    issue = _state().github.issue(repo, int(number))
    item = _set_project_status(issue, status, int(body.get("project", 1)), body.get("actor", HUMAN_LOGIN))
    return jsonify({"item": item["node_id"], "status": _state().projects.status_name(item)})


def _set_project_status(issue: dict[str, Any], status: str, project_number: int, actor: str) -> dict[str, Any]:
    projects = _state().projects
    project = projects.project(project_number, title=f"Project {project_number}")
    item = projects.add_item(project, issue, actor)
    return projects.set_status(item, status, actor)


@bp.post("/github/state")
def github_state() -> Response:
    body = _body()
    repo, number, state = _required(body, "repo", "number", "state")
    github = _state().github
    issue = github.issue(repo, int(number))
    github.set_state(issue, state, body.get("reason"), body.get("actor", HUMAN_LOGIN))
    return jsonify({"key": f"{repo}#{number}", "state": issue["state"]})


@bp.post("/github/assign")
def github_assign() -> Response:
    body = _body()
    repo, number, assignee = _required(body, "repo", "number", "assignee")
    github = _state().github
    github.assign(github.issue(repo, int(number)), [assignee], body.get("actor", HUMAN_LOGIN))
    return jsonify({"key": f"{repo}#{number}", "assignee": assignee})


@bp.get("/github/issues/<owner>/<name>/<int:number>")
def github_record(owner: str, name: str, number: int) -> Response:
    github = _state().github
    with github.store.lock:
        issue = github.issue(f"{owner}/{name}", number)
        statuses = [s for s in github.data["statuses"] if issue["pull"] and s["sha"] == issue["pull"]["head_sha"]]
        return jsonify({**issue, "comment_bodies": [github.comment(c) for c in issue["comments"]],
                        "statuses": statuses, "project_items": _state().projects.items_of(issue)})


@bp.get("/calls")
def calls() -> Response:
    return jsonify(_state().faults.snapshot())


@bp.delete("/calls")
def reset_calls() -> Response:
    _state().faults.reset_counts()
    return jsonify({"total": 0})


@bp.post("/faults")
def faults() -> Response:
    plan = FaultPlan.from_dict(_body())
    _state().faults.configure(plan)
    return jsonify(plan.__dict__ | {"only": list(plan.only)})


@bp.post("/webhooks")
def webhooks() -> Response:
    body = _body()
    tracker = _required(body, "tracker")[0]
    events = body.get("events")
    if events is not None and not (isinstance(events, list) and all(isinstance(e, str) for e in events)):
        raise ValueError("events must be a list of event names")
    _state().hooks.configure(tracker, body.get("url"), body.get("secret"), events)
    return jsonify({"tracker": tracker, "url": body.get("url"), "events": events})


@bp.get("/deliveries")
def deliveries() -> Response:
    hooks = _state().hooks
    event = request.args.get("event")
    return jsonify([d.summary() for d in list(hooks.deliveries.values()) if not event or d.event == event])


@bp.post("/deliveries/<delivery_id>/redeliver")
def redeliver(delivery_id: str) -> Response:
    return jsonify(_state().hooks.redeliver(delivery_id).summary())


@bp.post("/deliveries/wait")
def wait_deliveries() -> Response:
    idle = _state().hooks.wait_idle(float(request.args.get("timeout", 10)))
    return jsonify({"idle": idle})


@bp.post("/reset")
def reset() -> Response:
    state = _state()
    state.store.reset()
    state.faults.reset_counts()
    state.faults.configure(FaultPlan())
    return jsonify({"reset": True})
