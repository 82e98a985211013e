"""The fast path: POST /webhooks/<tracker> -> size, signature, decode, dedupe + enqueue in one INSERT.

A plain WSGI layer in front of Flask (`WebhookGateway`), because this is the one route trackers call
thousands of times a minute and Flask's request and response objects cost more than everything else a
delivery needs (measured in docs/PERFORMANCE.md, "Ingest"). Every other path goes on to Flask.

No tracker is called here. Answers: 202 queued, 200 ignored or duplicate, 400 unreadable or invalid,
401 bad or missing signature, 404 tracker not configured, 405 not a POST, 413 too large, 503 when the
ledger is unreachable (send it again).
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import replace
from typing import Callable, Iterable

import msgspec
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import EnvironHeaders

from connectors.webhooks import Ignored, PayloadError, Unreadable, verify_hmac_sha256
from plugin import logs
from plugin.model import Event

LOG = logging.getLogger("pilotgate.web")
PREFIX = "/webhooks/"
MAX_KEY = 200  # the ledger's column width for delivery ids and ticket keys
SIGNATURE_METHOD = "sha256"  # the only algorithm either tracker signs with today
DELIVERY_HEADERS = ("X-GitHub-Delivery", "X-Atlassian-Webhook-Identifier")
_STATUS = {200: "200 OK", 202: "202 Accepted", 400: "400 Bad Request", 401: "401 Unauthorized",
           404: "404 Not Found", 405: "405 Method Not Allowed", 413: "413 Content Too Large",
           500: "500 Internal Server Error", 503: "503 Service Unavailable"}

_ENCODE = msgspec.json.Encoder().encode
WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class Answer(Exception):
    """A finished answer: raised by any step that decides the delivery's fate early."""

    def __init__(self, code: int, extra_headers: tuple[tuple[str, str], ...] = (), **body: str) -> None:
        super().__init__(code)
        self.code, self.body, self.extra_headers = code, body, extra_headers


class WebhookGateway:
    """WSGI middleware: answers /webhooks/<tracker> itself and hands every other request to `app`."""

    def __init__(self, app: WSGIApp, state) -> None:
        self.app = app
        self.state = state  # plugin.web.Service

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if not path.startswith(PREFIX) or "/" in path[len(PREFIX):]:
            return self.app(environ, start_response)
        try:
            answer = self.receive(path[len(PREFIX):], environ)
        except Answer as done:
            answer = done
        except Exception as err:  # a bug, never the client's doing: logged with its traceback, answered 500
            LOG.error("webhook failed on an unexpected error: %s", type(err).__name__, exc_info=err)
            answer = Answer(500, error="internal error")
        body = _ENCODE(answer.body)
        start_response(_STATUS[answer.code], [("Content-Type", "application/json"),
                                              ("Content-Length", str(len(body))), *answer.extra_headers])
        return [body]

    def receive(self, tracker: str, environ: dict) -> Answer:
        if environ.get("REQUEST_METHOD") != "POST":
            raise Answer(405, (("Allow", "POST"),), error="webhooks are delivered with POST")
        state = self.state
        source = state.sources.get(tracker)
        if source is None:
            raise Answer(404, error=f"no {tracker[:64]} webhooks are configured here")
        headers = _Headers(environ)
        refuse = _Refusal(state, source, headers)
        body = _read_body(environ, state.config.max_body_bytes)
        if body is None:
            raise refuse(413, "too_large", f"body larger than {state.config.max_body_bytes} bytes")
        problem = _signature_problem(source, headers, body)
        if problem:
            raise refuse(401, "bad_signature", problem)
        result = source.unused(headers)
        if result is None:
            try:
                result = source.parse(headers, body)
            except Unreadable as err:
                raise refuse(400, "unreadable", str(err), err.event) from None
            except PayloadError as err:
                raise refuse(400, "invalid", str(err), err.event) from None
        if isinstance(result, Ignored):
            state.metrics.webhook(source.tracker.value, result.event[:64], "ignored")
            return Answer(200, status="ignored", reason=result.reason)
        return _enqueue(state, source, result, body, refuse)


class _Headers(EnvironHeaders):
    """werkzeug's headers over the WSGI environ, with a `get` that finds the environ's key in a cache:
    the parsers ask for the same few names on every delivery, and werkzeug re-spells each one."""

    def get(self, key, default=None, type=None):  # noqa: A002 (werkzeug's signature)
        if type is not None or not isinstance(key, str):
            return super().get(key, default, type)
        return self.environ.get(_environ_key(key), default)


@functools.lru_cache(maxsize=64)  # names the code asks for, never the client's
def _environ_key(name: str) -> str:
    key = name.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"


def _read_body(environ: dict, limit: int) -> bytes | None:
    """The raw body, or None past `limit`: refused on Content-Length before reading; a body sent without
    one (chunked) is read only where the server ends the stream, and stops one byte past the limit."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        if not length.isdigit():
            raise Answer(400, error="Content-Length header is not a number")
        return stream.read(int(length)) if int(length) <= limit else None
    if not environ.get("wsgi.input_terminated"):
        return b""  # no length and a stream the server does not end: reading could block for ever
    parts, total = [], 0
    while total <= limit:
        part = stream.read(limit + 1 - total)
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts) if total <= limit else None


def _signature_problem(source, headers: EnvironHeaders, body: bytes) -> str | None:
    """Why the signature is refused, or None when it is good. Checked on the raw bytes, before decoding."""
    header = headers.get(source.signature_header)
    if not header:
        return f"missing {source.signature_header} header"
    if header.partition("=")[0].strip().lower() != SIGNATURE_METHOD:
        return f"{source.signature_header} must be {SIGNATURE_METHOD}=<hex digest>"
    if not verify_hmac_sha256(source.secret, body, header):
        return f"{source.signature_header} does not match the body"
    return None


def _enqueue(state, source, event: Event, body: bytes, refuse: "_Refusal") -> Answer:
    if not event.delivery_id:
        # No delivery header: identical bodies are the same delivery.
        event = replace(event, delivery_id="sha256:" + hashlib.sha256(body).hexdigest())
    if len(event.delivery_id) > MAX_KEY or len(event.ticket_key) > MAX_KEY:
        raise refuse(400, "invalid", f"delivery id and ticket key are at most {MAX_KEY} characters", event.kind.value)
    if state.checkpointer is not None:
        state.checkpointer.ensure_running()
    try:
        queued = state.outbox.accept(event)
    except (SQLAlchemyError, state.ledger.engine.dialect.loaded_dbapi.Error) as err:
        # Not the client's fault: 503 makes the tracker send it again; nothing was committed.
        logs.error(LOG, "ledger unavailable", delivery=event.delivery_id, tracker=source.tracker,
                   error=type(err).__name__)
        raise Answer(503, (("Retry-After", "30"),), error="the ledger is unavailable; send the delivery again")
    kind = event.kind.value
    if not queued:
        state.metrics.webhook(source.tracker.value, kind, "duplicate")
        logs.debug(LOG, "duplicate delivery", delivery=event.delivery_id, tracker=source.tracker,
                   ticket=event.ticket_key)
        return Answer(200, status="duplicate", delivery=event.delivery_id)
    # DEBUG: a line per accepted delivery would cost this path a tenth of its time; the metrics count
    # them, and the worker logs and audits each one it handles.
    state.metrics.webhook(source.tracker.value, kind, "queued")
    logs.debug(LOG, "queued", delivery=event.delivery_id, tracker=source.tracker, ticket=event.ticket_key,
               kind=kind)
    return Answer(202, status="queued", delivery=event.delivery_id)


class _Refusal:
    """Builds a refusal: counted in the metrics and logged with the delivery id, never with the body."""

    def __init__(self, state, source, headers: EnvironHeaders) -> None:
        self.state, self.source, self.headers = state, source, headers

    def __call__(self, code: int, outcome: str, reason: str, event_name: str = "-") -> Answer:
        self.state.metrics.webhook(self.source.tracker.value, event_name[:64], outcome)
        delivery = next((self.headers.get(name) for name in DELIVERY_HEADERS if self.headers.get(name)), "")
        logs.warning(LOG, "delivery refused", tracker=self.source.tracker, status=code, reason=reason,
                     delivery=delivery[:100] or None)
        return Answer(code, error=reason)
