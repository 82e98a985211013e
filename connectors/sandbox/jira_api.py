"""The Jira Cloud REST v2 routes the Jira connector (and the `jira` library it builds on) calls."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from connectors.sandbox.jira_shapes import SEARCH_COMMENT_LIMIT, JiraShapes, jira_time
from connectors.sandbox.jira_store import BOT, LINK_TYPES, JiraError, JiraStore
from connectors.sandbox.jql import JqlError, compile_jql
from connectors.sandbox.store import now_iso

bp = Blueprint("jira", __name__, url_prefix="/rest/api/2")
BULK_LIMIT = 50
RECONCILE_LIMIT = 50
PROPERTIES_LIMIT = 5
ACTOR = BOT["accountId"]  # every REST call is made by the bot's API token


def register_errors(blueprint: Blueprint) -> None:
    """Jira's ErrorCollection body for every refusal, and 401 without credentials, on `blueprint`."""
    blueprint.register_error_handler(JiraError, lambda err: (jsonify(error_body(err)), err.status))
    blueprint.register_error_handler(JqlError, lambda err: (jsonify(error_body(err)), 400))
    blueprint.before_request(_authenticated)


def current_jira() -> JiraStore:
    return current_app.extensions["sandbox"].jira


def current_shapes() -> JiraShapes:
    return JiraShapes(current_jira(), request.host_url)


def json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise JiraError(400, "The request body must be a JSON object.")
    return body


def error_body(err: JiraError | JqlError) -> dict[str, Any]:
    if isinstance(err, JiraError) and err.field:
        return {"errorMessages": [], "errors": {err.field: str(err)}}
    return {"errorMessages": [str(err)], "errors": {}}


def _authenticated() -> tuple[Response, int] | None:
    if not request.headers.get("Authorization"):
        return jsonify({"errorMessages": ["You are not authenticated. Authentication required to perform "
                                          "this operation."], "errors": {}}), 401
    return None


register_errors(bp)


@bp.get("/serverInfo")
def server_info() -> Response:
    return jsonify({"baseUrl": request.host_url.rstrip("/"), "displayUrl": request.host_url.rstrip("/"),
                    "version": "1001.0.0-SNAPSHOT", "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud",
                    "buildNumber": 100283, "buildDate": "2025-12-01T00:00:00.000+0000",
                    "serverTime": jira_time(now_iso()), "scmInfo": "sandbox", "serverTitle": "Pilot Gate sandbox",
                    "serverTimeZone": "UTC"})


@bp.get("/myself")
def myself() -> Response:
    return jsonify(current_shapes().user(ACTOR))


@bp.get("/field")
def fields() -> Response:
    system = [("summary", "Summary", "string"), ("description", "Description", "string"),
              ("issuetype", "Issue Type", "issuetype"), ("status", "Status", "status"),
              ("labels", "Labels", "array"), ("parent", "Parent", "issuelink"), ("assignee", "Assignee", "user"),
              ("duedate", "Due date", "date"), ("issuelinks", "Linked Issues", "array"),
              ("comment", "Comment", "comments-page"), ("project", "Project", "project"),
              ("created", "Created", "datetime"), ("updated", "Updated", "datetime")]
    return jsonify([{"id": fid, "key": fid, "name": name, "custom": False, "orderable": True, "navigable": True,
                     "searchable": True, "clauseNames": [fid], "schema": {"type": kind, "system": fid}}
                    for fid, name, kind in system])


@bp.get("/issueLinkType")
def link_types() -> Response:
    shapes = current_shapes()
    return jsonify({"issueLinkTypes": [shapes.link_type(t) for t in LINK_TYPES]})


@bp.route("/search/jql", methods=["GET", "POST"])
def search() -> Response:
    params = _search_params()
    page, start, total = _run_search(params, _page_start(params["nextPageToken"]))
    result: dict[str, Any] = {"issues": page, "isLast": start + len(page) >= total}
    if not result["isLast"]:
        result["nextPageToken"] = base64.urlsafe_b64encode(f"offset:{start + len(page)}".encode()).decode()
    return jsonify(result)


@bp.post("/search")
def search_classic() -> Response:
    """The startAt-paged search Data Center still serves (deprecated on Cloud, kept for DC connectors)."""
    params = _search_params()
    start = int(json_body().get("startAt") or 0)
    page, start, total = _run_search(params, start)
    return jsonify({"expand": "schema,names", "startAt": start, "maxResults": params["maxResults"],
                    "total": total, "issues": page})


def _run_search(params: dict[str, Any], start: int) -> tuple[list[dict[str, Any]], int, int]:
    jira = current_jira()
    node = compile_jql(params["jql"], jira)
    reconcile = {jira.by_id[str(i)] for i in params["reconcileIssues"] if str(i) in jira.by_id}
    with jira.store.lock:
        candidates = node.candidates()
        keys = jira.data["issues"].keys() if candidates is None else candidates
        found = [jira.data["issues"][k] for k in keys if k in jira.data["issues"]]
        matched = [i for i in found if (jira.visible_to_search(i["key"]) or i["key"] in reconcile) and node.match(i)]
        matched.sort(key=lambda issue: int(issue["id"]))
        page = matched[start:start + params["maxResults"]]
        shapes = current_shapes()
        issues = [shapes.issue(i, params["fields"], params["properties"], SEARCH_COMMENT_LIMIT) for i in page]
    return issues, start, len(matched)


def _search_params() -> dict[str, Any]:
    if request.method == "POST":
        body = json_body()
        get = body.get
        as_list = lambda name: _listify(body.get(name))  # noqa: E731
    else:
        get = request.args.get
        as_list = lambda name: _listify(request.args.getlist(name) or None)  # noqa: E731
    jql = get("jql")
    if not jql:
        raise JqlError("The JQL query is required.")
    try:
        max_results = int(get("maxResults") or 50)
    except ValueError:
        raise JiraError(400, "maxResults must be a number.", "maxResults") from None
    fields = as_list("fields")
    properties = as_list("properties") or []
    if len(properties) > PROPERTIES_LIMIT:
        raise JiraError(400, f"At most {PROPERTIES_LIMIT} properties can be requested.", "properties")
    reconcile = as_list("reconcileIssues") or []
    if len(reconcile) > RECONCILE_LIMIT:
        raise JiraError(400, f"reconcileIssues accepts at most {RECONCILE_LIMIT} ids.", "reconcileIssues")
    only_ids = fields is not None and set(fields) <= {"id", "key"}
    limit = max(1, min(max_results, 5000 if only_ids else 100))
    return {"jql": jql, "maxResults": limit, "fields": fields if fields is not None else ["id"],
            "properties": properties, "reconcileIssues": reconcile, "nextPageToken": get("nextPageToken")}


def _listify(value: Any) -> list[str] | None:
    """Accept a JSON list or comma-separated strings, as Jira does for fields and properties."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return [str(part).strip() for item in items for part in str(item).split(",") if str(part).strip()]


def _page_start(token: str | None) -> int:
    if not token:
        return 0
    refused = JiraError(400, "The provided next page token is invalid or expired.", "nextPageToken")
    try:
        kind, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        start = int(offset)
    except (ValueError, UnicodeDecodeError):
        raise refused from None
    if kind != "offset" or start < 0:
        raise refused
    return start


@bp.post("/issue")
def create_issue() -> tuple[Response, int]:
    issue = _create_one(json_body())
    return jsonify({"id": issue["id"], "key": issue["key"], "self": f"{current_shapes().api}/issue/{issue['id']}"}), 201


@bp.post("/issue/bulk")
def create_bulk() -> tuple[Response, int]:
    updates = json_body().get("issueUpdates")
    if not isinstance(updates, list) or not updates:
        raise JiraError(400, "issueUpdates must be a non-empty list.", "issueUpdates")
    if len(updates) > BULK_LIMIT:
        raise JiraError(400, f"The number of issues to create in one request cannot exceed {BULK_LIMIT}.")
    created, errors = [], []
    for number, update in enumerate(updates):
        try:
            issue = _create_one(update if isinstance(update, dict) else {})
        except JiraError as err:
            errors.append({"status": err.status, "elementErrors": error_body(err), "failedElementNumber": number})
            continue
        created.append({"id": issue["id"], "key": issue["key"], "self": f"{current_shapes().api}/issue/{issue['id']}"})
    return jsonify({"issues": created, "errors": errors}), 201 if created else 400


def _create_one(body: dict[str, Any]) -> dict[str, Any]:
    """Check everything first, so a refused request leaves nothing half-created."""
    jira = current_jira()
    fields = body.get("fields")
    if not isinstance(fields, dict):
        raise JiraError(400, "The request must have a 'fields' object.")
    links = link_ops((body.get("update") or {}).get("issuelinks") or [])
    properties = body.get("properties") or []
    if not isinstance(properties, list) or not all(isinstance(p, dict) and p.get("key") for p in properties):
        raise JiraError(400, "properties must be a list of {key, value}.", "properties")
    with jira.store.write():
        issue = jira.create(fields, ACTOR, properties)
        apply_links(issue["key"], links)
    return issue


def link_ops(ops: Any) -> list[tuple[str, str, str]]:
    """`update.issuelinks` add operations as (type name, direction, other key), validated."""
    if not isinstance(ops, list):
        raise JiraError(400, "update.issuelinks must be a list of operations.", "issuelinks")
    parsed = []
    for op in ops:
        add = op.get("add") if isinstance(op, dict) else None
        if not isinstance(add, dict) or not isinstance(add.get("type"), dict):
            raise JiraError(400, "Only {\"add\": {\"type\": ..., \"outwardIssue\"|\"inwardIssue\": ...}} is "
                                 "supported in update.issuelinks.", "issuelinks")
        link_type = add["type"].get("name") or add["type"].get("id")
        direction = "outwardIssue" if "outwardIssue" in add else "inwardIssue"
        other = (add.get(direction) or {}).get("key") or (add.get(direction) or {}).get("id")
        if not other or link_type not in {v for t in LINK_TYPES for v in (t["name"], t["id"])}:
            raise JiraError(400, "Issue link type or linked issue is invalid.", "issuelinks")
        parsed.append((link_type, direction, current_jira().issue(other)["key"]))
    return parsed


def apply_links(key: str, links: list[tuple[str, str, str]]) -> None:
    for link_type, direction, other in links:
        # Seen from `key`: an outwardIssue is one `key` blocks; an inwardIssue is one that blocks `key`.
        blocker, blocked = (key, other) if direction == "outwardIssue" else (other, key)
        current_jira().link(link_type, blocker, blocked, ACTOR)
