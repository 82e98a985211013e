"""Helpers for the sandbox tests: sessions that check every answer against the official OpenAPI, a webhook sink."""

from __future__ import annotations

import json
import threading
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests import openapi_github, openapi_jira


def github_response_errors(method: str, url: str, status: int, body: Any) -> list[str]:
    """Where a REST answer breaks the response schema GitHub's OpenAPI gives for that operation and status."""
    template, op = openapi_github.operation(method, urlsplit(url).path)
    answer = (op.get("responses") or {}).get(str(status))
    if answer is None:
        return [f"{method} {template}: status {status} is not documented"]
    if "$ref" in answer:
        answer = openapi_github.openapi()["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    if "application/json" not in (answer.get("content") or {}):
        return []
    pointer = (f"/paths/{openapi_github._escape(template)}/{method.lower()}/responses/{status}"
               "/content/application~1json/schema")
    if "$ref" in (op["responses"][str(status)]):
        ref = op["responses"][str(status)]["$ref"].rsplit("/", 1)[1]
        pointer = f"/components/responses/{ref}/content/application~1json/schema"
    validator = openapi_github._schema_validator(pointer)
    return [f"{method} {template} {status} at {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(body)]


class CheckedSession(requests.Session):
    """A session that validates every answer it receives; `problems` lists what did not match."""

    def __init__(self, check: Callable[[str, str, int, Any], list[str]]) -> None:
        super().__init__()
        self.check = check
        self.problems: list[str] = []
        self.seen: list[tuple[str, str, int]] = []
        self.hooks["response"].append(self._on_response)

    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        method, url = response.request.method, response.request.url
        self.seen.append((method, urlsplit(url).path, response.status_code))
        if response.status_code >= 300 or not response.content or urlsplit(url).path == "/graphql":
            return
        self.problems += self.check(method, url, response.status_code, response.json())


def jira_response_errors(method: str, url: str, status: int, body: Any) -> list[str]:
    try:
        openapi_jira.assert_valid_response(method, url, status, body)
    except AssertionError as err:
        return [str(err)]
    return []


class WebhookSink:
    """A loopback HTTP server recording every delivery; `answers` scripts status codes for the next ones."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.lock = threading.Lock()
        self.server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @Request.application
    def _app(self, request: Request) -> Response:
        with self.lock:
            status = self.answers.pop(0) if self.answers else 202
            self.received.append({"headers": dict(request.headers), "raw": request.get_data(),
                                  "json": json.loads(request.get_data() or b"null"), "status": status})
        return Response("{}", status=status, content_type="application/json")

    def events(self, header: str) -> list[str]:
        return [r["headers"].get(header, "") for r in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
