"""HTTP sessions for one tracker's API: the proxy and CA-bundle environment read once, and requests sent
without requests' per-call merging of session settings."""

from __future__ import annotations

import os
from typing import Any, Mapping

import msgspec
import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import get_environ_proxies

_DECODE = msgspec.json.Decoder().decode  # its DecodeError is a ValueError, like requests' own
_ENCODE = msgspec.json.Encoder().encode


def tracker_session(base_url: str) -> requests.Session:
    """A session for calls to `base_url`'s host that honours HTTP(S)_PROXY, NO_PROXY and
    REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE as they are when it is made.

    requests re-reads all of them on every call while `trust_env` is on (about 6% of a busy
    worker's CPU, measured in docs/PERFORMANCE.md "Chaos"); a worker's environment does not
    change while it runs, so they are resolved here once and `trust_env` is turned off. That also
    stops requests from reading ~/.netrc on each call and letting an entry there replace the
    Authorization header a connector sets itself: tracker credentials come from the configuration.
    """
    session = requests.Session()
    session.proxies.update(get_environ_proxies(base_url))  # {} when NO_PROXY covers the host
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False
    return session


def send(session: requests.Session, method: str, url: str, *, body: Any = None,
         params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
         timeout: float | None = None) -> requests.Response:
    """What `session.request(method, url, json=body, params=params, headers=headers, timeout=timeout)`
    sends, for a session from `tracker_session` (it has no session-level params).

    `Session.request` merges the session's settings into each call's (headers, params, cookies,
    hooks, auth, environment) through generic code that cost a third of a worker's time per tracker
    call, 0.9 ms of 2.5 (docs/PERFORMANCE.md, "Chaos"). Here the session's headers, cookies, auth and
    response hooks (the API-call counters of plugin.wiring) are applied directly and the body is
    encoded by msgspec; `Session.send` still picks the proxy, the TLS settings and the adapter, so
    proxies and `responses` work as before.
    """
    prepared = requests.PreparedRequest()
    prepared.prepare_method(method)
    prepared.prepare_url(url, params)
    merged = CaseInsensitiveDict(session.headers)
    merged.update(headers or {})
    prepared.prepare_headers({name: value for name, value in merged.items() if value is not None})
    prepared.prepare_cookies(session.cookies)  # a tracker's sticky-session cookies go back, as before
    prepared.prepare_body(None if body is None else _ENCODE(body), None)
    if body is not None and "Content-Type" not in prepared.headers:
        prepared.headers["Content-Type"] = "application/json"
    if session.auth is not None:
        prepared.prepare_auth(session.auth, url)
    prepared.prepare_hooks(session.hooks)
    return session.send(prepared, timeout=timeout)


def json_of(response: requests.Response) -> Any:
    """The response body as JSON, None when empty; ValueError when it is not JSON.

    msgspec rather than `response.json()`: a search page of 50 issues decodes several times faster,
    and decoding answers was a tenth of the worker's Python time in a chaos run (docs/PERFORMANCE.md).
    """
    content = response.content
    return _DECODE(content) if content else None
