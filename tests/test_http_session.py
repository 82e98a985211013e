"""Tracker sessions read the proxy and CA-bundle environment once, when made, and keep honouring it."""

from __future__ import annotations

from connectors.http_session import tracker_session


def test_proxy_variables_apply_to_the_tracker_host(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    session = tracker_session("https://example.atlassian.net")
    assert session.proxies.get("https") == "http://proxy.corp.example:3128"
    assert session.trust_env is False


def test_no_proxy_covering_the_tracker_host_leaves_it_direct(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("NO_PROXY", ".atlassian.net")
    assert tracker_session("https://example.atlassian.net").proxies == {}


def test_ca_bundle_variable_becomes_the_sessions_verify(monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp/ca.pem")
    assert tracker_session("https://api.github.com").verify == "/etc/corp/ca.pem"


def test_without_a_ca_bundle_variable_certificates_are_verified_by_default(monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert tracker_session("https://api.github.com").verify is True


def _sent_both_ways(session, **call):
    """The request `send` makes next to the one `session.request` makes for the same call."""
    import json

    import responses

    from connectors.http_session import send

    with responses.RequestsMock() as mocked:
        mocked.add(responses.POST, "https://example.atlassian.net/rest/api/2/search/jql", json={})
        session.request("POST", "https://example.atlassian.net/rest/api/2/search/jql", json=call.get("body"),
                        params=call.get("params"), headers=call.get("headers"), timeout=5)
        send(session, "POST", "https://example.atlassian.net/rest/api/2/search/jql", timeout=5, **call)
        first, second = (c.request for c in mocked.calls)
    body = (json.loads(first.body), json.loads(second.body)) if first.body else (None, second.body)
    return first, second, body


def test_send_makes_the_request_session_request_makes():
    from requests.auth import HTTPBasicAuth

    session = tracker_session("https://example.atlassian.net")
    session.auth = HTTPBasicAuth("ana@example.com", "token")
    session.headers.update({"Accept": "application/json"})
    session.cookies.set("AWSALB", "node-2", domain="example.atlassian.net")  # a load balancer's sticky session
    call = {"body": {"jql": "key = PILOT-1", "fields": ["summary"]}, "params": {"expand": ["names", "schema"]},
            "headers": {"X-Extra": "1", "accept": "application/json; charset=utf-8"}}
    first, second, (body, sent_body) = _sent_both_ways(session, **call)
    assert (second.method, second.url) == (first.method, first.url)
    assert body == sent_body == call["body"]
    for name in ("Authorization", "Accept", "Content-Type", "Cookie", "X-Extra"):
        assert second.headers.get(name) == first.headers.get(name), name
    assert second.headers["Content-Length"] == str(len(second.body))  # compact JSON: shorter than requests'
    assert second.headers["Cookie"] == "AWSALB=node-2"


def test_send_without_a_body_sends_none():
    first, second, _ = _sent_both_ways(tracker_session("https://example.atlassian.net"))
    assert first.body is None and second.body is None
    assert second.headers.get("Content-Length") == first.headers.get("Content-Length") == "0"


def test_send_runs_the_sessions_response_hooks():
    session = tracker_session("https://example.atlassian.net")
    seen = []
    session.hooks["response"].append(lambda response, **_: seen.append(response.status_code))
    _sent_both_ways(session)
    assert seen == [200, 200]  # session.request's call, then send's


def test_tracker_calls_of_a_wired_connector_are_counted_for_metrics(tmp_path):
    """plugin.wiring hangs the /metrics call counter on each connector's session."""
    import responses

    from plugin.config import config_from_mapping
    from plugin.ledger import Ledger
    from plugin.metrics import TRACKER_CALLS
    from plugin.model import Tracker
    from plugin.wiring import build_connectors
    from tests.conftest import config_mapping

    config = config_from_mapping(config_mapping(tmp_path, github=None), base_dir=tmp_path)
    connector = build_connectors(config, Ledger(config.database, base_dir=tmp_path))[Tracker.JIRA]
    TRACKER_CALLS.drain()
    with responses.RequestsMock() as mocked:
        mocked.add(responses.GET, f"{config.jira.url.rstrip('/')}/rest/api/2/issue/PILOT-1", status=404,
                   json={"errorMessages": ["Issue does not exist"]})
        assert connector.epic_of("PILOT-1") is None
    counted = TRACKER_CALLS.drain()
    assert sum(counted.values()) == 1, counted
