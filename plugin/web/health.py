"""GET /healthz (database and queue reachable, queue depth and age) and GET /metrics (Prometheus)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST

from plugin import logs
from plugin.metrics import LedgerCollector
from plugin.web import service

LOG = logging.getLogger("pilotgate.web")
STALLED_AFTER = 15 * 60.0  # a waiting event this old means no worker is consuming
bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    state = service()
    checks: dict[str, str] = {}
    queue: dict[str, float] = {}
    try:
        stats = state.outbox.stats()
        checks["database"] = "ok"
        queue = {"depth": stats.depth, "oldest_waiting_seconds": round(stats.oldest_age, 3),
                 "processing": stats.processing, "failed": stats.failed}
    except Exception as err:  # any failure to reach it is the answer; the detail goes to the log only
        checks["database"] = f"unreachable ({type(err).__name__})"
        logs.error(LOG, "health check: database unreachable", error=type(err).__name__)
    try:
        state.queue_ping()
        checks["queue"] = "ok"
    except Exception as err:  # as above
        checks["queue"] = f"unreachable ({type(err).__name__})"
        logs.error(LOG, "health check: queue unreachable", error=type(err).__name__)
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unhealthy", "checks": checks, "queue": queue}
    if queue and queue["oldest_waiting_seconds"] > STALLED_AFTER:
        body["warning"] = "events have waited over 15 minutes: is a worker running?"
    return body, 200 if healthy else 503


@bp.get("/metrics")
def metrics() -> Response:
    state = service()
    collector = LedgerCollector(state.ledger.counts, state.outbox.stats)
    return Response(state.metrics.render(collector), mimetype=CONTENT_TYPE_LATEST)
