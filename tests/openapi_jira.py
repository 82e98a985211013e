"""Checks of what the Jira connector sends (and what its fakes answer) against Atlassian's OpenAPI description.

The description covers REST v3; the connector speaks v2. The shapes are the same except rich text:
v3 wants Atlassian Document Format objects for `description` and comment `body`, v2 wants wiki
strings. The v3 schemas leave those two untyped, so they are checked here explicitly as strings.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.openapi_common import Description

OPENAPI = "jira/swagger-v3.v3.json"
_BASE = "urn:jira-openapi"
V2 = "/rest/api/2/"
V3 = "/rest/api/3/"


JIRA = Description(OPENAPI, _BASE)


def openapi() -> dict:
    return JIRA.doc


def operation(method: str, url: str) -> tuple[str, dict]:
    """The documented v3 operation for a v2 request URL: (template, operation object)."""
    path = urlsplit(url).path
    assert V2 in path, f"{url} is not a REST v2 call"
    v3 = V3 + path.split(V2, 1)[1]
    for pattern, template in JIRA.templates:
        if pattern.match(v3) and method.lower() in openapi()["paths"][template]:
            return template, openapi()["paths"][template][method.lower()]
    raise AssertionError(f"{method} {path}: no such operation in Jira's OpenAPI description")


def _validate(ref: str, instance: Any, what: str) -> None:
    errors = JIRA.errors(ref, instance)
    assert not errors, f"{what} does not match Jira's OpenAPI:\n" + "\n".join(
        f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:5]
    )


def assert_valid_request(method: str, url: str, body: Any) -> str:
    """Validate a request body; returns the schema name it was checked against ("" when untyped)."""
    template, op = operation(method, url)
    schema = ((op.get("requestBody") or {}).get("content") or {}).get("application/json", {}).get("schema")
    if not schema or "$ref" not in schema:
        return ""  # e.g. property values: any JSON
    name = schema["$ref"].rsplit("/", 1)[1]
    _validate(schema["$ref"], body, f"{method} {template} body")
    _assert_wiki_text(name, body)
    return name


def assert_valid_response(method: str, url: str, status: int, body: Any) -> None:
    """A fake's answer has the documented shape (where the description gives one)."""
    template, op = operation(method, url)
    answer = (op.get("responses") or {}).get(str(status)) or {}
    schema = ((answer.get("content") or {}).get("application/json") or {}).get("schema")
    if schema and "$ref" in schema:
        _validate(schema["$ref"], body, f"{status} answer of {method} {template}")


def _assert_wiki_text(name: str, body: Any) -> None:
    """v2 differs from v3 only in rich text: wiki strings where v3 has ADF documents."""
    if name == "IssuesUpdateBean":
        for index, update in enumerate(body.get("issueUpdates") or []):
            _assert_wiki_text("IssueUpdateDetails", update)
    elif name == "IssueUpdateDetails":
        description = (body.get("fields") or {}).get("description")
        assert description is None or isinstance(description, str), (
            f"description must be a v2 wiki string, got {type(description).__name__}"
        )
    elif name == "Comment":
        assert isinstance(body.get("body"), str), "a v2 comment body must be a wiki string"
