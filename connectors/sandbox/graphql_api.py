"""POST /graphql: real execution with graphql-core against GitHub's schema, resolvers over the store."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
import functools

from graphql import DocumentNode, ExecutionResult, GraphQLError, execute as run, parse, validate

from connectors.sandbox.github_store import BOT_LOGIN
from connectors.sandbox.graphql_nodes import Context, Node
from connectors.sandbox.graphql_root import Mutation, Query

bp = Blueprint("graphql", __name__)


def resolve_field(source: Any, info, **args: Any) -> Any:
    """Methods are called with the field's arguments; attributes and dict keys are read."""
    name = info.field_name
    if isinstance(source, dict):
        return source.get(name)
    value = getattr(source, name, None)
    return value(info, **args) if callable(value) else value


def resolve_type(value: Any, info, abstract_type) -> str:
    if isinstance(value, Node):
        return value.typename
    raise GraphQLError(f"The sandbox cannot tell the GraphQL type of {type(value).__name__}.")


class Root:
    def __init__(self, ctx: Context) -> None:
        self.query = Query(ctx)
        self.mutation = Mutation(ctx)

    def __getattr__(self, name: str) -> Any:
        target = self.mutation if hasattr(self.mutation, name) and name in Mutation.FIELDS else self.query
        return getattr(target, name)


def _error(err: GraphQLError) -> dict[str, Any]:
    """GitHub's error entry: message, locations, path and a `type` such as NOT_FOUND."""
    shaped = err.formatted
    kind = getattr(err.original_error, "kind", None) or getattr(err, "kind", None)
    if kind:
        shaped["type"] = kind
    return shaped


@functools.lru_cache(maxsize=256)
def _checked(schema, query: str) -> DocumentNode | list[GraphQLError]:
    """Parsed and validated once per schema and query text: connectors send the same few documents."""
    try:
        document = parse(query)
    except GraphQLError as err:
        return [err]
    errors = validate(schema, document)
    return errors or document


@bp.post("/graphql")
def execute() -> tuple[Response, int] | Response:
    if not request.headers.get("Authorization"):
        return jsonify({"message": "This endpoint requires you to be authenticated.",
                        "documentation_url": "https://docs.github.com/graphql/guides/forming-calls-with-graphql"
                                             "#authenticating-with-graphql"}), 401
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return jsonify({"message": "Problems parsing JSON", "documentation_url": "https://docs.github.com/graphql"}), 400
    sandbox = current_app.extensions["sandbox"]
    ctx = Context(sandbox.github, sandbox.projects, request.host_url.rstrip("/"), BOT_LOGIN)
    schema = sandbox.graphql_schema()
    document = _checked(schema, body["query"])
    if isinstance(document, list):
        result = ExecutionResult(data=None, errors=document)
    else:
        with sandbox.store.lock:
            result = run(schema, document, root_value=Root(ctx), variable_values=body.get("variables"),
                         operation_name=body.get("operationName"), field_resolver=resolve_field,
                         type_resolver=resolve_type)
    answer: dict[str, Any] = {}
    if result.data is not None or not result.errors:
        answer["data"] = result.data
    if result.errors:
        answer["errors"] = [_error(e) for e in result.errors]
    return jsonify(answer)
