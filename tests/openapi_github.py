"""Checks of what the GitHub connector sends, against GitHub's official OpenAPI description and GraphQL schema."""

from __future__ import annotations

import copy
import functools
import json
import re
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlsplit

import jsonschema
from graphql import GraphQLSchema, build_schema, extend_schema, parse, validate

from tests.openapi_common import Description
from tests.upstream import upstream, upstream_dir

OPENAPI = "github-openapi/api.github.com.json"
_BASE = "urn:github-openapi"


@functools.lru_cache(maxsize=None)
def graphql_schema() -> GraphQLSchema:
    """GitHub's public schema snapshot plus extensions.graphql for fields added since (see its SOURCE.md)."""
    base = build_schema(upstream("github-graphql/schema.docs.graphql").read_text(encoding="utf-8"),
                        assume_valid=True)
    extension = upstream("github-graphql/extensions.graphql").read_text(encoding="utf-8")
    return extend_schema(base, parse(extension), assume_valid=True)


def assert_valid_graphql(document: str) -> None:
    errors = validate(graphql_schema(), parse(document))
    assert not errors, "GraphQL document invalid against GitHub's schema:\n" + "\n".join(map(str, errors))


GITHUB = Description(OPENAPI, _BASE)


def openapi() -> dict:
    return GITHUB.doc


def _schema_validator(pointer: str) -> jsonschema.Validator:
    return GITHUB.validator(f"#{pointer}")


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def operation(method: str, path: str) -> tuple[str, dict]:
    """The path template and OpenAPI operation a REST call matches; fails naming what is unknown."""
    for pattern, template in GITHUB.templates:
        if pattern.match(path):
            item = openapi()["paths"][template]
            assert method.lower() in item, f"{method} {path}: {template} has no {method} in GitHub's OpenAPI"
            return template, item[method.lower()]
    raise AssertionError(f"{method} {path}: no such path in GitHub's OpenAPI description")


def assert_valid_rest(method: str, url: str, body: Any) -> str:
    """Path template, method, query parameter names and request body checked; returns the template."""
    parts = urlsplit(url)
    path = re.sub(r"^/api/v3", "", parts.path)
    template, op = operation(method, path)
    known = {_parameter(p)["name"] for p in op.get("parameters", []) if _parameter(p)["in"] == "query"}
    for name, _ in parse_qsl(parts.query):
        assert name in known, f"{method} {template}: unknown query parameter {name!r}"
    content = op.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        pointer = f"/paths/{_escape(template)}/{method.lower()}/requestBody/content/application~1json/schema"
        errors = [e.message for e in _schema_validator(pointer).iter_errors(body)]
        assert not errors, f"{method} {template}: body {body!r} invalid: {errors}"
    else:
        assert body is None, f"{method} {template} takes no body, got {body!r}"
    return template


def _parameter(param: dict) -> dict:
    if "$ref" in param:
        return openapi()["components"]["parameters"][param["$ref"].rsplit("/", 1)[1]]
    return param


def webhook_errors(name: str, payload: dict) -> list[str]:
    """Where `payload` breaks the official schema of webhook `name` (e.g. "issues-opened") under x-webhooks."""
    assert name in openapi()["x-webhooks"], f"no webhook {name} in GitHub's OpenAPI"
    pointer = f"/x-webhooks/{name}/post/requestBody/content/application~1json/schema"
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in _schema_validator(pointer).iter_errors(payload)]


def example(name: str, **overrides: Any) -> dict:
    """An official response example (components/examples) with some fields replaced."""
    value = copy.deepcopy(openapi()["components"]["examples"][name]["value"])
    value.update(overrides)
    return value


def check_calls(calls: Iterable[Any]) -> list[tuple[str, str, Any]]:
    """Returns (method, path-with-query or operation, body) per request `responses` saw, and validates each
    against GitHub's descriptions where shared/upstream is present (elsewhere the assertions still run)."""
    seen = []
    validating = upstream_dir() is not None
    for call in calls:
        request = call.request
        body = json.loads(request.body) if request.body else None
        parts = urlsplit(request.url)
        if parts.path.endswith("/graphql"):
            if validating:
                assert_valid_graphql(body["query"])
            seen.append(("POST", "/graphql", body["variables"]))
            continue
        if validating:
            assert_valid_rest(request.method, request.url, body)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        seen.append((request.method, target, body))
    return seen


def minimal_webhook(name: str) -> dict:
    """The smallest payload GitHub's schema for webhook `name` accepts: required fields, placeholder values.

    The fixtures in tests/fixtures/github were made with it, then given meaningful values.
    """
    pointer = f"/x-webhooks/{name}/post/requestBody/content/application~1json/schema"
    return _minimal({"$ref": f"#{pointer}"}, depth=0)


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        node: Any = openapi()
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        schema = node
    return schema


def _minimal(schema: dict, depth: int) -> Any:
    schema = _resolve(schema)
    assert depth < 40, "schema nests too deep for a minimal instance"
    if "allOf" in schema:
        merged: dict = {}
        for part in schema["allOf"]:
            value = _minimal(part, depth + 1)
            merged.update(value if isinstance(value, dict) else {})
        return merged
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return _minimal(schema[key][0], depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {name: _minimal(props.get(name, {}), depth + 1) for name in schema.get("required", [])}
    if kind == "array":
        return []
    return _SCALARS[schema.get("format", kind)] if schema.get("format") in _SCALARS else _SCALARS[kind]


_SCALARS = {
    "string": "x", "integer": 1, "number": 1, "boolean": False,
    "date-time": "2026-01-05T09:00:00Z", "uri": "https://api.github.com/x", "uri-template": "https://x{/y}",
    "email": "octocat@example.com",
}
