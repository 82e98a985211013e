"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): loads, shows pilots, filters work."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from plugin.model import Tracker
from plugin.readiness import SnapshotCache, assess_all
from plugin.web.dashboard import bp, install_readiness
from tests.readiness_world import NOW, default_template, github_world, jira_world

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium (.ci/browser.sh)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="needs the playwright package (pip install playwright; no browser download)"),
]


@pytest.fixture(scope="module")
def base_url():
    """The dashboard served by a real WSGI server on loopback, over the fake trackers' pilots."""
    template = default_template()
    connectors = [jira_world(template), github_world(template)]
    templates = {Tracker.JIRA: template, Tracker.GITHUB: template}
    app = Flask("dashboard-browser-test")
    app.register_blueprint(bp)
    install_readiness(app, SnapshotCache(lambda now: assess_all(connectors, templates, NOW)))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def page(base_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            tab = browser.new_page(viewport={"width": 1360, "height": 900})
            tab.goto(base_url + "/")
            yield tab
        finally:
            browser.close()


def visible_epics(page) -> list[str]:
    return page.locator("tr.pilot:visible .epic-title").all_inner_texts()


def test_page_loads_and_shows_every_pilot(page):
    assert page.title() == "Pilot Gate · pilot readiness"
    assert len(visible_epics(page)) == 5
    assert page.locator("svg.chart rect.seg").count() > 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


def test_tracker_filter_narrows_rows_and_the_address(page, base_url):
    page.select_option("select[name=tracker]", "github")
    assert sorted(visible_epics(page)) == ["Code review bot", "Forecasting copilot"]
    assert page.url.endswith("?tracker=github")
    assert page.inner_text("#shown") == "showing 2 of 5"
    page.select_option("select[name=tracker]", "")


def test_verdict_and_gate_state_filters_combine(page):
    page.select_option("select[name=verdict]", "at_risk")
    assert sorted(visible_epics(page)) == ["Code review bot", "Invoice triage assistant"]
    page.select_option("select[name=gate]", "overdue")
    assert visible_epics(page) == ["Invoice triage assistant"]
    page.select_option("select[name=verdict]", "ready")
    assert visible_epics(page) == [] and page.locator("tr.empty").is_visible()
    page.select_option("select[name=verdict]", "")
    page.select_option("select[name=gate]", "")


def test_filtered_address_opens_filtered(page, base_url):
    page.goto(base_url + "/?verdict=ready")
    assert visible_epics(page) == ["Support chat summarizer"]
    assert page.locator("select[name=verdict]").input_value() == "ready"


def test_gate_chips_link_to_their_tickets(page, base_url):
    page.goto(base_url + "/")
    chip = page.locator("tr.pilot", has_text="Invoice triage assistant").locator("a.chip-overdue")
    assert chip.get_attribute("href").startswith("https://tracker.test/PILOT-")
    assert "due 2026-01-12" in chip.get_attribute("title")

