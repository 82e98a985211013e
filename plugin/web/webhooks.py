"""The fast path: POST /webhooks/<tracker> -> size, signature, JSON, parse, dedupe + enqueue in one INSERT.

No tracker is called here. Answers: 202 queued, 200 ignored or duplicate, 400 unreadable or invalid,
401 bad or missing signature, 413 too large, 503 when the ledger is unreachable (send it again).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import replace

from flask import Blueprint, Response, request
from sqlalchemy.exc import SQLAlchemyError

from connectors.webhooks import Ignored, PayloadError, verify_hmac_sha256
from plugin import logs
from plugin.web import Service, WebhookSource, service

LOG = logging.getLogger("pilotgate.web")
MAX_KEY = 200  # the ledger's column width for delivery ids and ticket keys
SIGNATURE_METHOD = "sha256"  # the only algorithm either tracker signs with today
bp = Blueprint("webhooks", __name__)


def _answer(code: int, **body: str) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), code, mimetype="application/json")


@bp.post("/webhooks/<tracker>")
def receive(tracker: str) -> Response:
    state = service()
    source = state.sources.get(tracker)
    if source is None:
        return _answer(404, error=f"no {tracker} webhooks are configured here")
    body = _read_body(state.config.max_body_bytes)
    if body is None:
        return _refuse(state, source, 413, "too_large", f"body larger than {state.config.max_body_bytes} bytes")
    refusal = _check_signature(source, body)
    if refusal:
        return _refuse(state, source, 401, "bad_signature", refusal)
    unused = source.unused(request.headers)
    if unused is not None:
        return _ignored(state, tracker, request.headers.get("X-GitHub-Event", "-")[:64], unused)
    try:
        payload = json.loads(body)
    except ValueError:  # includes bytes that are not UTF-8
        return _refuse(state, source, 400, "unreadable", "body is not JSON")
    event_name = source.event_name(request.headers, payload)[:64]
    try:
        result = source.parse(request.headers, payload)
    except PayloadError as err:
        return _refuse(state, source, 400, "invalid", str(err), event_name)
    if isinstance(result, Ignored):
        return _ignored(state, tracker, event_name, result)
    return _enqueue(state, source, result, body)


def _ignored(state: Service, tracker: str, event_name: str, result: Ignored) -> Response:
    state.metrics.webhook(tracker, event_name, "ignored")
    return _answer(200, status="ignored", reason=result.reason)


def _read_body(limit: int) -> bytes | None:
    """The raw body, or None past `limit`: refused on Content-Length before reading, and the read of
    a body sent without one (chunked) stops one byte past the limit."""
    length = request.content_length
    if length is not None:
        return request.stream.read() if length <= limit else None
    parts, total = [], 0
    while total <= limit:
        part = request.stream.read(limit + 1 - total)
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts) if total <= limit else None


def _check_signature(source: WebhookSource, body: bytes) -> str | None:
    """Why the signature is refused, or None when it is good. Checked on the raw bytes, before parsing."""
    header = request.headers.get(source.signature_header)
    if not header:
        return f"missing {source.signature_header} header"
    if header.partition("=")[0].strip().lower() != SIGNATURE_METHOD:
        return f"{source.signature_header} must be {SIGNATURE_METHOD}=<hex digest>"
    if not verify_hmac_sha256(source.secret, body, header):
        return f"{source.signature_header} does not match the body"
    return None


def _enqueue(state: Service, source: WebhookSource, event, body: bytes) -> Response:
    if not event.delivery_id:
        # No delivery header: identical bodies are the same delivery.
        event = replace(event, delivery_id="sha256:" + hashlib.sha256(body).hexdigest())
    if len(event.delivery_id) > MAX_KEY or len(event.ticket_key) > MAX_KEY:
        return _refuse(state, source, 400, "invalid", f"delivery id and ticket key are at most {MAX_KEY} characters",
                       event.kind.value)
    try:
        row = state.outbox.accept(event)
    except SQLAlchemyError as err:
        return _unavailable(source, event, err)
    except state.ledger.engine.dialect.loaded_dbapi.Error as err:
        return _unavailable(source, event, err)
    kind = event.kind.value
    if row is None:
        state.metrics.webhook(source.tracker.value, kind, "duplicate")
        logs.info(LOG, "duplicate delivery", delivery=event.delivery_id, tracker=source.tracker,
                  ticket=event.ticket_key)
        return _answer(200, status="duplicate", delivery=event.delivery_id)
    state.metrics.webhook(source.tracker.value, kind, "queued")
    logs.info(LOG, "queued", delivery=event.delivery_id, tracker=source.tracker, ticket=event.ticket_key,
              kind=kind, event_id=row)
    return _answer(202, status="queued", delivery=event.delivery_id)


def _unavailable(source: WebhookSource, event, err: Exception) -> Response:
    # Not the client's fault: 503 makes Jira send it again; nothing was committed.
    logs.error(LOG, "ledger unavailable", delivery=event.delivery_id, tracker=source.tracker,
               error=type(err).__name__)
    response = _answer(503, error="the ledger is unavailable; send the delivery again")
    response.headers["Retry-After"] = "30"
    return response


def _refuse(state: Service, source: WebhookSource, status: int, outcome: str, reason: str,
            event_name: str = "-") -> Response:
    state.metrics.webhook(source.tracker.value, event_name, outcome)
    logs.warning(LOG, "delivery refused", tracker=source.tracker, status=status, reason=reason,
                 delivery=(request.headers.get("X-GitHub-Delivery")
                           or request.headers.get("X-Atlassian-Webhook-Identifier") or "")[:100] or None)
    return _answer(status, error=reason)
