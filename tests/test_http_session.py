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
