"""The readiness dashboard: GET / (server-rendered page) and GET /api/pilots (the same data as JSON)."""

from __future__ import annotations

import threading

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template, request

from plugin.readiness import DEFAULT_TTL, Snapshot, SnapshotCache, assess_all, utcnow
from plugin.report import report_document
from plugin.report_html import Filters, page_context
from plugin.wiring import build_connectors, templates_by_tracker

EXTENSION = "pilotgate.readiness"
_SETUP = threading.Lock()  # the first page views race to build the cache: one wins

bp = Blueprint("dashboard", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/dashboard")


def install_readiness(app: Flask, cache: SnapshotCache) -> SnapshotCache:
    """Give the app the snapshot cache the dashboard reads (the sweep may `publish` into it too)."""
    app.extensions[EXTENSION] = cache
    return cache


def readiness_cache() -> SnapshotCache:
    with _SETUP:
        cache = current_app.extensions.get(EXTENSION)
        if cache is None:
            cache = install_readiness(current_app, _cache_from_app(current_app))
    return cache


def _snapshot() -> Snapshot:
    cache = readiness_cache()
    return cache.refresh() if request.args.get("refresh") else cache.get()


@bp.get("/")
def index() -> str:
    snapshot = _snapshot()
    filters = Filters.from_args(request.args)
    context = page_context(snapshot.rows(), utcnow(), filters, taken_at=snapshot.taken_at, errors=snapshot.errors)
    return render_template("dashboard.html", inline_css=None, standalone=False, **context)


@bp.get("/api/pilots")
def api_pilots() -> Response:
    """The report's JSON document (docs/REPORT-JSON.md), narrowed by the page's filters when given."""
    snapshot = _snapshot()
    filters = Filters.from_args(request.args)
    document = report_document(filters.apply(snapshot.rows()), snapshot.taken_at)
    document["snapshot"] = {"taken_at": snapshot.taken_at.isoformat(), "errors": list(snapshot.errors)}
    document["filters"] = filters.as_dict()
    return jsonify(document)


def _cache_from_app(app: Flask) -> SnapshotCache:
    """Connectors of its own (read-only use) over the app's configuration and ledger."""
    from plugin.web import EXTENSION as SERVICE

    state = app.extensions[SERVICE]
    connectors = list(build_connectors(state.config, state.ledger).values())
    templates = templates_by_tracker(state.config)
    return SnapshotCache(lambda now: assess_all(connectors, templates, now),
                         ttl=float(app.config.get("PILOTGATE_READINESS_TTL", DEFAULT_TTL)))
