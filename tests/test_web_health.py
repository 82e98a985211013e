"""GET /healthz and GET /metrics, and what the service's log lines carry (and never carry)."""

from __future__ import annotations

import io
import logging

import pytest

from plugin.config import ConfigError
from plugin.logs import configure_logging, level_from_env
from tests.conftest import GITHUB_SECRET, GITHUB_TOKEN, JIRA_SECRET, JIRA_TOKEN
from tests.fakes import FakeConnector
from tests.worker_world import make_worker, new_pilot, work_off, work_started


def test_healthz_reports_queue_depth_and_age_of_the_oldest_waiting_event(client, deliveries):
    deliveries.jira(work_started(), delivery="h-1")
    answer = client.get("/healthz")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "queue": "ok"}
    assert body["queue"]["depth"] == 1
    assert body["queue"]["oldest_waiting_seconds"] >= 0


def test_healthz_is_503_when_the_database_is_unreachable(app, client):
    state = app.extensions["pilotgate"]

    def unreachable():
        raise ConnectionRefusedError("database is down")

    state.outbox.stats = unreachable
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.get_json()["checks"]["database"].startswith("unreachable")


def test_healthz_is_503_when_the_queue_is_unreachable(app, client):
    def unreachable():
        raise ConnectionRefusedError("redis is down")

    app.extensions["pilotgate"].queue_ping = unreachable
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.get_json()["checks"]["queue"] == "unreachable (ConnectionRefusedError)"


def test_metrics_count_webhooks_by_tracker_event_and_outcome(client, deliveries):
    deliveries.jira(work_started(), delivery="m-1")
    deliveries.jira(work_started(), delivery="m-1")
    deliveries.jira(work_started(), secret="wrong")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'pilotgate_webhooks_total{event="work_started",outcome="queued",tracker="jira"} 1.0' in text
    assert 'pilotgate_webhooks_total{event="work_started",outcome="duplicate",tracker="jira"} 1.0' in text
    assert 'pilotgate_webhooks_total{event="-",outcome="bad_signature",tracker="jira"} 1.0' in text
    assert "pilotgate_queue_depth 1.0" in text


def test_metrics_show_the_workers_actions_latency_and_failures(config, client, deliveries):
    fake = new_pilot(FakeConnector())
    setup = make_worker(config, fake)
    deliveries.jira(work_started(), delivery="m-2")
    work_off(setup)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'pilotgate_actions_total{kind="create_gates",outcome="done",tracker="jira"} 1.0' in text
    assert 'pilotgate_event_latency_seconds_count{tracker="jira"} 1.0' in text
    assert 'pilotgate_events_processed_total{result="done",tracker="jira"} 1.0' in text
    assert "pilotgate_events_failed 0.0" in text


def test_metrics_count_events_handled_inside_another_events_pass(config, client, deliveries):
    setup = make_worker(config, new_pilot(FakeConnector()))
    for number in range(3):  # a burst for one epic: the first pass takes all three
        deliveries.jira(work_started(), delivery=f"burst-{number}")
    first = setup.outbox.dispatch_due()[0]
    setup.worker.process(first)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'pilotgate_events_coalesced_total{tracker="jira"} 2.0' in text
    assert "# TYPE pilotgate_events_redispatched_total counter" in text


def test_log_lines_carry_delivery_tracker_and_ticket_but_never_a_secret(config, client, deliveries, caplog):
    stream = io.StringIO()
    handler = configure_logging(config, stream=stream)
    try:
        with caplog.at_level(logging.DEBUG, logger="pilotgate"):
            deliveries.jira(work_started(), delivery="log-1")
            deliveries.jira(work_started(), secret=JIRA_SECRET + "x")
            deliveries.github("issues", {"action": "opened"}, secret="wrong")
            fake = new_pilot(FakeConnector())
            fake.fail_next = [RuntimeError(f"token {JIRA_TOKEN} rejected")]  # a careless error message
            work_off(make_worker(config, fake))
    finally:
        for name in ("pilotgate", "huey"):
            logging.getLogger(name).removeHandler(handler)
    written = stream.getvalue() + caplog.text
    assert "queued delivery=log-1 tracker=jira ticket=AI-2" in written
    for secret in (JIRA_SECRET, GITHUB_SECRET, JIRA_TOKEN, GITHUB_TOKEN):
        assert secret not in written


def test_log_level_comes_from_the_environment_and_a_wrong_one_is_named():
    assert level_from_env({}) == logging.INFO
    assert level_from_env({"PILOTGATE_LOG_LEVEL": " debug "}) == logging.DEBUG
    with pytest.raises(ConfigError, match="PILOTGATE_LOG_LEVEL='LOUD'"):
        level_from_env({"PILOTGATE_LOG_LEVEL": "loud"})
