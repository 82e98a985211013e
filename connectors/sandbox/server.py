"""The sandbox tracker: a Flask app speaking Jira and GitHub, and `Sandbox`, which runs it on loopback."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any, Iterable

import msgspec
from flask import Flask, Response, current_app, jsonify, request
from flask.json.provider import JSONProvider

from connectors.sandbox import admin, github_api, graphql_api, jira_api, jira_issue_api
from connectors.sandbox.faults import Faults, graphql_kind
from connectors.sandbox.github_events import github_payload
from connectors.sandbox.github_shapes import GitHubShapes
from connectors.sandbox.github_store import GitHubStore
from connectors.sandbox.graphql_schema import load_schema
from connectors.sandbox.hooks import Dispatcher
from connectors.sandbox.http_server import KeepAliveServer
from connectors.sandbox.jira_events import jira_payload
from connectors.sandbox.jira_shapes import JiraShapes
from connectors.sandbox.jira_store import JiraStore
from connectors.sandbox.projects_store import ProjectStore
from connectors.sandbox.store import Store

log = logging.getLogger(__name__)


class SandboxState:
    """Everything the routes reach through `current_app.extensions["sandbox"]`."""

    def __init__(self, *, state_file=None, search_lag: float = 0.0, schema: str = "auto", org: str = "example-org",
                 webhook_attempts: int = 4, webhook_retry_delay: float = 0.2) -> None:
        self.store = Store(state_file)
        self.jira = JiraStore(self.store, search_lag=search_lag)
        self.github = GitHubStore(self.store, org=org)
        self.projects = ProjectStore(self.github)
        self.faults = Faults()
        self.hooks = Dispatcher(max_attempts=webhook_attempts, retry_delay=webhook_retry_delay)
        self.base_url = "http://127.0.0.1"
        self.schema_mode = schema
        self._schema: tuple[Any, str] | None = None
        self._schema_lock = threading.Lock()
        self._changelog = itertools.count(10000)
        self.store.listeners.append(self.on_event)

    def graphql_schema(self):
        with self._schema_lock:
            if self._schema is None:
                self._schema = load_schema(self.schema_mode)
            return self._schema[0]

    def schema_source(self) -> str | None:
        return self._schema[1] if self._schema else None

    def on_event(self, tracker: str, name: str, facts: dict[str, Any]) -> None:
        """Turn a store event into a webhook delivery when that tracker has a webhook URL."""
        if not self.hooks.wants(tracker, name):
            return
        with self.store.lock:
            if tracker == "jira":
                payload = jira_payload(JiraShapes(self.jira, self.base_url), name, facts, next(self._changelog))
                headers: dict[str, str] = {}
            else:
                event, payload = github_payload(GitHubShapes(self.github, self.base_url), self.projects, name, facts)
                target = "organization" if event == "projects_v2_item" else "repository"
                headers = {"X-GitHub-Event": event, "X-GitHub-Hook-ID": "424242",
                           "X-GitHub-Hook-Installation-Target-Type": target,
                           "X-GitHub-Hook-Installation-Target-ID": str(payload.get(target, {}).get("id", ""))}
        self.hooks.send(tracker, name, headers, payload)


class _JsonProvider(JSONProvider):
    """msgspec instead of the json module: encoding answers was a tenth of the sandbox's CPU in a chaos run.
    Keys keep their order (Flask's default provider sorts them; neither tracker does)."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return _encode(obj).decode("utf-8")

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return msgspec.json.decode(s)  # its DecodeError is a ValueError, as Flask's get_json expects

    def response(self, *args: Any, **kwargs: Any) -> Response:
        return self._app.response_class(_encode(self._prepare_response_obj(args, kwargs)) + b"\n",
                                        mimetype="application/json")


def _unencodable(value: Any) -> Any:
    raise TypeError(f"the sandbox cannot answer with a {type(value).__name__} in JSON")


_encode = msgspec.json.Encoder(enc_hook=_unencodable).encode


def create_app(state: SandboxState | None = None) -> Flask:
    app = Flask("pilotgate-sandbox")
    app.json = _JsonProvider(app)
    app.extensions["sandbox"] = state or SandboxState()
    for blueprint in (jira_api.bp, jira_issue_api.bp, github_api.bp, graphql_api.bp, admin.bp):
        app.register_blueprint(blueprint)
    app.before_request(_count_and_inject)
    app.after_request(_rate_limit_headers)
    return app


def _is_api(path: str) -> bool:
    return not path.startswith("/_sandbox")


def _count_and_inject() -> tuple[Response, int] | None:
    path = request.path
    if not _is_api(path):
        return None
    state: SandboxState = app_state()
    rule = request.url_rule.rule if request.url_rule else path
    kind = graphql_kind(request.get_json(silent=True)) if rule == "/graphql" and request.method == "POST" else ""
    state.faults.count(request.method, rule, path, kind)
    delay, status = state.faults.decide(path)
    if delay:
        time.sleep(delay)
    if status is None:
        return None
    return _fault_response(path, status, state.faults.plan.retry_after)


def _fault_response(path: str, status: int, retry_after: int) -> tuple[Response, int]:
    jira = path.startswith("/rest/")
    if status == 429:
        body = ({"errorMessages": ["Rate limit exceeded."], "errors": {}} if jira else
                {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
                            "again.", "documentation_url": "https://docs.github.com/rest/overview/rate-limits"})
        response = jsonify(body)
        response.headers["Retry-After"] = str(retry_after)
        if jira:
            response.headers.update({"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "0",
                                     "X-RateLimit-Reset": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(time.time() + retry_after)),
                                     "RateLimit-Reason": "jira-burst-based"})
        return response, 429
    body = {"errorMessages": ["Internal server error"], "errors": {}} if jira else {"message": "Server Error"}
    return jsonify(body), 500


def _rate_limit_headers(response: Response) -> Response:
    path = request.path
    if _is_api(path) and not path.startswith("/rest/"):
        resource = "search" if path.startswith("/search/") else "graphql" if path == "/graphql" else "core"
        response.headers.update(app_state().faults.github_rate_headers(resource))
        response.headers.setdefault("X-GitHub-Media-Type", "github.v3; format=json")
    return response


def app_state() -> SandboxState:
    return current_app.extensions["sandbox"]


class Sandbox:
    """The sandbox served from a background thread on a loopback port.

    >>> with Sandbox.start() as sandbox:
    ...     sandbox.client.jira_epic("Churn model pilot")
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self.state = SandboxState(**options)
        self.app = create_app(self.state)
        self.host = host
        self._server = KeepAliveServer(host, port, self.app)
        self.port = self._server.port
        self.url = f"http://{host}:{self.port}"
        self.state.base_url = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="sandbox-http",
                                        daemon=True)
        self._warm = threading.Thread(target=self.state.graphql_schema, name="sandbox-schema", daemon=True)

    @classmethod
    def start(cls, port: int = 0, host: str = "127.0.0.1", **options: Any) -> "Sandbox":
        sandbox = cls(host=host, port=port, **options)
        sandbox._thread.start()
        sandbox._warm.start()  # building GitHub's schema takes seconds: do it before the first query needs it
        return sandbox

    @property
    def client(self):
        from connectors.sandbox.client import SandboxClient

        return SandboxClient(self.url)

    def configure_webhooks(self, tracker: str, url: str | None, secret: str | None = None,
                           events: Iterable[str] | None = None) -> None:
        """Where the tracker's webhooks go; `events` limits them to those names, like a Jira admin webhook."""
        self.state.hooks.configure(tracker, url, secret, events)

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        return self.state.hooks.wait_idle(timeout)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self.state.hooks.stop()

    def __enter__(self) -> "Sandbox":
        if not self._thread.is_alive():
            self._thread.start()
            self._warm.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
