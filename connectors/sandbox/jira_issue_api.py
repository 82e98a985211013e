"""Jira REST v2 routes on one issue: read/edit, properties, comments (and their properties), transitions, links."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from connectors.sandbox.jira_api import (
    ACTOR, apply_links, current_jira, current_shapes, json_body, link_ops, register_errors,
)
from connectors.sandbox.jira_store import TRANSITIONS, JiraError

bp = Blueprint("jira_issue", __name__, url_prefix="/rest/api/2")
register_errors(bp)
NO_CONTENT = Response(status=204)


def _fields_param() -> list[str] | None:
    values = request.args.getlist("fields")
    return values or None


def _properties_param() -> list[str]:
    return [p for value in request.args.getlist("properties") for p in value.split(",") if p]


@bp.get("/issue/<key>")
def get_issue(key: str) -> Response:
    jira = current_jira()
    with jira.store.lock:
        return jsonify(current_shapes().issue(jira.issue(key), _fields_param(), _properties_param()))


@bp.put("/issue/<key>")
def edit_issue(key: str) -> Response:
    body = json_body()
    fields = dict(body.get("fields") or {})
    update = body.get("update") or {}
    jira = current_jira()
    with jira.store.write():
        issue = jira.issue(key)
        for op in update.get("labels") or []:
            fields["labels"] = _label_op(fields.get("labels", issue["labels"]), op)
        links = link_ops(update.get("issuelinks") or [])
        unknown = set(update) - {"labels", "issuelinks"}
        if unknown:
            raise JiraError(400, "This sandbox supports update operations on labels and issuelinks only.",
                            sorted(unknown)[0])
        if "parent" in fields:
            raise JiraError(400, "Changing the parent is not supported by this sandbox.", "parent")
        jira.edit(issue["key"], fields, ACTOR)
        apply_links(issue["key"], links)
        for prop in body.get("properties") or []:
            jira.set_property(issue["key"], prop["key"], prop.get("value"))
        if isinstance(body.get("transition"), dict):
            jira.transition(issue["key"], str(body["transition"].get("id")), ACTOR)
    return NO_CONTENT


def _label_op(labels: list[str], op: Any) -> list[str]:
    if not isinstance(op, dict) or len(op) != 1:
        raise JiraError(400, "A labels operation is one of {add}, {remove} or {set}.", "labels")
    verb, value = next(iter(op.items()))
    if verb == "add":
        return labels if value in labels else [*labels, value]
    if verb == "remove":
        return [label for label in labels if label != value]
    if verb == "set":
        return list(value or [])
    raise JiraError(400, f"Unknown labels operation '{verb}'.", "labels")


@bp.get("/issue/<key>/properties")
def property_keys(key: str) -> Response:
    shapes, issue = current_shapes(), current_jira().issue(key)
    return jsonify({"keys": [{"key": k, "self": f"{shapes.api}/issue/{issue['id']}/properties/{k}"}
                             for k in issue["properties"]]})


@bp.get("/issue/<key>/properties/<prop>")
def get_property(key: str, prop: str) -> Response:
    properties = current_jira().issue(key)["properties"]
    if prop not in properties:
        raise JiraError(404, f"The property with key '{prop}' does not exist.")
    return jsonify({"key": prop, "value": properties[prop]})


@bp.put("/issue/<key>/properties/<prop>")
def put_property(key: str, prop: str) -> Response:
    value = request.get_json(silent=True)
    if value is None:
        raise JiraError(400, "The property value must be valid JSON.", "value")
    created = current_jira().set_property(key, prop, value)
    return Response(status=201 if created else 200)


@bp.get("/issue/<key>/comment")
def list_comments(key: str) -> Response:
    start = int(request.args.get("startAt", 0))
    limit = int(request.args.get("maxResults", 100))
    jira = current_jira()
    with jira.store.lock:
        page = current_shapes().comment_page(key, start, limit)
        if "properties" in request.args.get("expand", ""):
            comments = jira.comments_of(key)[start:start + limit]
            page["comments"] = [current_shapes().comment(c, with_properties=True) for c in comments]
    return jsonify(page)


@bp.post("/issue/<key>/comment")
def add_comment(key: str) -> tuple[Response, int]:
    body = json_body()
    comment = current_jira().add_comment(key, body.get("body"), ACTOR, body.get("properties") or [])
    return jsonify(current_shapes().comment(comment, with_properties=True)), 201


@bp.get("/issue/<key>/comment/<comment_id>")
def get_comment(key: str, comment_id: str) -> Response:
    comment = current_jira().comment(key, comment_id)
    return jsonify(current_shapes().comment(comment, "properties" in request.args.get("expand", "")))


@bp.put("/issue/<key>/comment/<comment_id>")
def edit_comment(key: str, comment_id: str) -> Response:
    comment = current_jira().edit_comment(key, comment_id, json_body().get("body"), ACTOR)
    return jsonify(current_shapes().comment(comment))


def _comment_by_id(comment_id: str) -> dict[str, Any]:
    found = current_jira().data["comments"].get(comment_id)
    if found is None:
        raise JiraError(404, f"Can not find a comment for the id: {comment_id}.")
    return found


@bp.get("/comment/<comment_id>/properties")
def comment_property_keys(comment_id: str) -> Response:
    comment = _comment_by_id(comment_id)
    api = current_shapes().api
    return jsonify({"keys": [{"key": k, "self": f"{api}/comment/{comment_id}/properties/{k}"}
                             for k in comment["properties"]]})


@bp.get("/comment/<comment_id>/properties/<prop>")
def get_comment_property(comment_id: str, prop: str) -> Response:
    properties = _comment_by_id(comment_id)["properties"]
    if prop not in properties:
        raise JiraError(404, f"The property with key '{prop}' does not exist.")
    return jsonify({"key": prop, "value": properties[prop]})


@bp.put("/comment/<comment_id>/properties/<prop>")
def put_comment_property(comment_id: str, prop: str) -> Response:
    value = request.get_json(silent=True)
    if value is None:
        raise JiraError(400, "The property value must be valid JSON.", "value")
    comment = _comment_by_id(comment_id)
    created = current_jira().set_comment_property(comment["issue"], comment_id, prop, value)
    return Response(status=201 if created else 200)


@bp.get("/issue/<key>/transitions")
def list_transitions(key: str) -> Response:
    current_jira().issue(key)
    shapes = current_shapes()
    return jsonify({"expand": "transitions", "transitions": [
        {"id": tid, "name": target, "to": shapes.status(target), "hasScreen": False, "isGlobal": True,
         "isInitial": False, "isAvailable": True, "isConditional": False, "isLooped": False}
        for tid, target in TRANSITIONS.items()]})


@bp.post("/issue/<key>/transitions")
def do_transition(key: str) -> Response:
    body = json_body()
    transition = body.get("transition")
    if not isinstance(transition, dict) or "id" not in transition:
        raise JiraError(400, "Missing 'transition' identifier.", "transition")
    jira = current_jira()
    with jira.store.write():
        jira.transition(key, str(transition["id"]), ACTOR)
        if body.get("fields"):
            jira.edit(key, body["fields"], ACTOR)
    return NO_CONTENT


@bp.post("/issueLink")
def create_link() -> tuple[Response, int]:
    body = json_body()
    names = [((body.get(side) or {}).get("key") or (body.get(side) or {}).get("id")) for side in
             ("inwardIssue", "outwardIssue")]
    link_type = body.get("type") if isinstance(body.get("type"), dict) else {}
    if not all(names) or not (link_type.get("name") or link_type.get("id")):
        raise JiraError(400, "type, inwardIssue and outwardIssue are all required.")
    # Jira's create-link request names the blocker `inwardIssue` ("inward blocks outward"), the
    # reverse of how GET issue shows the same link (JIRA-FACTS: ScriptRunner example, jira library).
    current_jira().link(link_type.get("name") or link_type["id"], names[0], names[1], ACTOR)
    return Response(status=201), 201


@bp.get("/issueLink/<link_id>")
def get_link(link_id: str) -> Response:
    jira = current_jira()
    link = jira.data["links"].get(link_id)
    if link is None:
        raise JiraError(404, f"No issue link with id '{link_id}' exists.")
    shapes = current_shapes()
    shaped = shapes.link(link, link["outward"])
    shaped["inwardIssue"] = shapes.issue_ref(link["outward"])
    return jsonify(shaped)


@bp.delete("/issueLink/<link_id>")
def delete_link(link_id: str) -> Response:
    current_jira().unlink(link_id, ACTOR)
    return NO_CONTENT


@bp.post("/comment/list")
def comments_by_id() -> Response:
    """PageBeanComment of the comments with these ids (max 1000), properties expanded on request."""
    ids = json_body().get("ids")
    if not isinstance(ids, list) or len(ids) > 1000:
        raise JiraError(400, "ids must be a list of at most 1000 comment ids.", "ids")
    jira, shapes = current_jira(), current_shapes()
    expand = "properties" in request.args.get("expand", "")
    with jira.store.lock:
        found = [jira.data["comments"][str(i)] for i in ids if str(i) in jira.data["comments"]]
        values = [shapes.comment(c, with_properties=expand) for c in found]
    return jsonify({"self": f"{shapes.api}/comment/list", "maxResults": 1000, "startAt": 0, "total": len(values),
                    "isLast": True, "values": values})
