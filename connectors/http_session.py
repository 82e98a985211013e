"""HTTP sessions for one tracker's API: the proxy and CA-bundle environment read once, not on every call."""

from __future__ import annotations

import os
from typing import Any

import msgspec
import requests
from requests.utils import get_environ_proxies

_DECODE = msgspec.json.Decoder().decode  # its DecodeError is a ValueError, like requests' own


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


def json_of(response: requests.Response) -> Any:
    """The response body as JSON, None when empty; ValueError when it is not JSON.

    msgspec rather than `response.json()`: a search page of 50 issues decodes several times faster,
    and decoding answers was a tenth of the worker's Python time in a chaos run (docs/PERFORMANCE.md).
    """
    content = response.content
    return _DECODE(content) if content else None
