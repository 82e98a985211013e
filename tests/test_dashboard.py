"""The dashboard reads a cached readiness snapshot: GET / and GET /api/pilots, filters, and the cache's rules."""

from __future__ import annotations

import re
import threading

import pytest
from flask import Flask

from connectors.base import TransientError
from plugin.readiness import SnapshotCache, assess_all
from plugin.web.dashboard import bp, install_readiness
from plugin.model import Tracker
from tests.readiness_world import NOW, default_template, github_world, jira_world


class CountingReads:
    """A connector wrapper that counts how often the tracker was listed."""

    def __init__(self, connector) -> None:
        self.connector = connector
        self.tracker = connector.tracker
        self.reads = 0

    def pilot_epics(self, only=None):
        self.reads += 1
        return self.connector.pilot_epics(only)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def world():
    template = default_template()
    connectors = [CountingReads(jira_world(template)), CountingReads(github_world(template))]
    templates = {Tracker.JIRA: template, Tracker.GITHUB: template}
    return connectors, templates


def make_cache(world, clock=None, **options):
    connectors, templates = world
    return SnapshotCache(lambda now: assess_all(connectors, templates, NOW), clock=clock or Clock(),
                         background=False, **options)


@pytest.fixture
def client(world):
    app = Flask("dashboard-test")
    app.register_blueprint(bp)
    install_readiness(app, make_cache(world))
    return app.test_client()


def reads(world) -> int:
    return sum(c.reads for c in world[0])


def test_page_shows_every_pilot_with_gate_chips(client):
    page = client.get("/").get_data(as_text=True)
    assert page.count('<tr class="pilot"') == 5
    assert "Invoice triage assistant" in page and "Forecasting copilot" in page
    assert "chip chip-overdue" in page and "chip chip-done" in page
    assert '<svg class="chart"' in page and '<svg class="ring"' in page
    assert "/static/dashboard/dashboard.css" in page


def test_stylesheet_is_served(client):
    answer = client.get("/static/dashboard/dashboard.css")
    assert answer.status_code == 200 and b".chip-overdue" in answer.data


def test_page_views_do_not_read_the_trackers_again(client, world):
    for _ in range(5):
        client.get("/")
        client.get("/api/pilots")
    assert reads(world) == 2  # one listing per tracker, for the first view only


def test_query_filters_hide_the_other_pilots(client):
    page = client.get("/?tracker=github").get_data(as_text=True)
    rows = re.findall(r'<tr class="pilot"[^>]*>', page)
    hidden = {row for row in rows if re.search(r"\shidden\s*>$", row)}
    assert len(rows) == 5
    assert all('data-tracker="jira"' in row for row in hidden) and len(hidden) == 3
    assert "showing 2 of 5" in page and '<option value="github" selected>' in page


def test_api_returns_the_report_json_narrowed_by_filters(client):
    document = client.get("/api/pilots?verdict=at_risk").get_json()
    assert document["schema"] == "pilotgate.report/1"
    assert [p["verdict"] for p in document["pilots"]] == ["at_risk", "at_risk"]
    assert document["summary"]["pilots"] == 2
    assert document["filters"] == {"tracker": "", "verdict": "at_risk", "gate": ""}
    assert document["snapshot"]["errors"] == []


def test_stale_snapshot_is_served_while_one_fresh_read_happens(world):
    clock = Clock()
    cache = make_cache(world, clock, ttl=60)
    first = cache.get()
    clock.now += 61
    assert cache.get() is first  # served at once; the refresh ran behind it (inline in this test)
    assert reads(world) == 4
    assert cache.get() is not first


def test_refresh_is_rate_limited(world):
    clock = Clock()
    cache = make_cache(world, clock, min_refresh=30)
    cache.get()
    cache.refresh()
    assert reads(world) == 2
    clock.now += 31
    cache.refresh()
    assert reads(world) == 4


def test_concurrent_first_views_read_the_trackers_once(world):
    cache = make_cache(world)
    threads = [threading.Thread(target=cache.get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert reads(world) == 2


def test_published_snapshot_replaces_the_cached_one_without_a_read(world):
    cache = make_cache(world)
    connectors, templates = world
    snapshot = assess_all(connectors[:1], templates, NOW)
    cache.publish(snapshot)
    assert cache.get() is snapshot and reads(world) == 1


def test_a_tracker_that_fails_is_named_and_the_other_still_shows(world):
    connectors, templates = world
    connectors[1].connector.fail_next.append(TransientError("GitHub answered 502", status=502))
    snapshot = assess_all(connectors, templates, NOW)
    assert {r.epic.tracker for r in snapshot.readiness} == {Tracker.JIRA}
    assert snapshot.errors == ("github: GitHub answered 502",)


def test_page_shows_the_tracker_error(world):
    connectors, templates = world
    connectors[0].connector.fail_next.append(TransientError("Jira answered 503", status=503))
    app = Flask("dashboard-test")
    app.register_blueprint(bp)
    install_readiness(app, make_cache(world))
    page = app.test_client().get("/").get_data(as_text=True)
    assert 'role="alert">jira: Jira answered 503' in page
