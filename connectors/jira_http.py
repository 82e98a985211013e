"""HTTP to Jira's REST API v2: authentication, timeouts, and a retry policy that never duplicates a create."""

from __future__ import annotations

import contextlib
import random
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping

import requests
from jira.client import TokenAuth
from requests.auth import HTTPBasicAuth

from connectors.base import NotFound, PermanentError, TransientError
from connectors.http_session import json_of, send, tracker_session
from plugin.config import JiraConfig

API = "/rest/api/2/"
MAX_ATTEMPTS = 4  # the first try and three retries
BACKOFF_BASE = 0.5  # seconds before the first retry of a 5xx or a dropped connection
BACKOFF_CAP = 8.0  # no single backoff sleeps longer than this
LONGEST_WAIT = 60.0  # a Retry-After beyond this is handed back to the queue instead of slept in a worker
RETRYABLE_4XX = {408, 409, 425}  # Jira's own webhook policy treats these as "send again"


class UncertainWrite(TransientError):
    """A write that is not safe to repeat failed in a way that may have applied it (timeout, 5xx)."""


def jira_session(config: JiraConfig) -> requests.Session:
    """A plain session (not the library's ResilientSession, whose retries re-send POSTs).

    Cloud authenticates with email + API token (basic), Data Center with a personal access token
    (bearer, the `jira` library's TokenAuth). Proxy settings come from the environment (tracker_session).
    """
    session = tracker_session(config.url)
    session.auth = HTTPBasicAuth(config.email, config.token) if config.is_cloud else TokenAuth(config.token)
    session.headers.update({"Accept": "application/json", "Content-Type": "application/json"})
    return session


class JiraHttp:
    """One request at a time against config.url + /rest/api/2/, with Pilot Gate's retry policy.

    Reads and writes that are safe to repeat are retried on 429 (after Retry-After), 5xx and
    connection errors, with bounded exponential backoff and jitter. Writes that are not safe to
    repeat (creating issues or comments) are retried only on 429, which Jira sends before doing
    anything; any other failure raises UncertainWrite so the caller re-reads before trying again.
    """

    def __init__(
        self,
        config: JiraConfig,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base = config.url.rstrip("/") + API
        self.timeout = config.timeout
        self.session = session if session is not None else jira_session(config)
        self.sleep = sleep
        self.jitter = jitter
        self.clock = clock

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, body=body)

    def post(
        self,
        path: str,
        body: Any,
        *,
        params: Mapping[str, Any] | None = None,
        repeatable: bool = True,
        accept: tuple[int, ...] = (),
    ) -> Any:
        """`repeatable=False` for creates: only a 429 (refused before any work) is retried."""
        return self.request("POST", path, body=body, params=params, repeatable=repeatable, accept=accept)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        repeatable: bool = True,
        accept: tuple[int, ...] = (),
    ) -> Any:
        """The parsed JSON answer (None when empty). `accept` lists error statuses whose body the caller reads."""
        where = f"{method} {API}{path}"
        last: TransientError | None = None
        for attempt in range(MAX_ATTEMPTS):
            if last is not None:
                self._wait(last, attempt, where)
            try:
                response = send(self.session, method, self.base + path, body=body, params=params,
                                timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as err:
                failure = f"{type(err).__name__} talking to Jira"
                if not repeatable:
                    raise UncertainWrite(failure, request=where) from None
                last = TransientError(failure, request=where)
                continue
            if response.ok or response.status_code in accept:
                return _json(response)
            last = self._failure(response, where, repeatable)
        raise TransientError(
            f"gave up after {MAX_ATTEMPTS} attempts: {last}", retry_after=last.retry_after,
            status=last.status, request=where,
        )

    def _failure(self, response: requests.Response, where: str, repeatable: bool) -> TransientError:
        """The error to retry after, or raise at once when retrying cannot help or is not safe."""
        status = response.status_code
        message = f"Jira answered {status}: {jira_error_text(response)}"
        if status == 429:
            return TransientError(message, retry_after=self.retry_after(response.headers), status=status)
        if status >= 500 or status in RETRYABLE_4XX:
            if not repeatable:
                raise UncertainWrite(message, status=status, request=where)
            return TransientError(message, retry_after=self.retry_after(response.headers), status=status)
        if status == 404:
            raise NotFound(message, status=status, request=where)
        raise PermanentError(message, status=status, request=where)

    def _wait(self, failure: TransientError, attempt: int, where: str) -> None:
        if failure.retry_after is not None:
            delay = failure.retry_after
        else:
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1)) * (0.5 + self.jitter() / 2)
        if delay > LONGEST_WAIT:
            raise TransientError(
                f"{failure}; Jira asks to wait {delay:.0f}s", retry_after=delay,
                status=failure.status, request=where,
            )
        self.sleep(delay)

    def retry_after(self, headers: Mapping[str, str]) -> float | None:
        """Seconds to wait from Retry-After (seconds or an HTTP date), else X-RateLimit-Reset (ISO 8601)."""
        value = headers.get("Retry-After")
        if value:
            seconds = _seconds_or_date(value.strip(), parsedate_to_datetime, self.clock())
            if seconds is not None:
                return seconds
        reset = headers.get("X-RateLimit-Reset")
        if reset:
            return _seconds_or_date(reset.strip(), _iso_datetime, self.clock())
        return None


def _seconds_or_date(value: str, parse_date: Callable[[str], datetime], now: float) -> float | None:
    with contextlib.suppress(ValueError):  # not seconds: an HTTP date, below
        return max(0.0, float(value))
    try:
        moment = parse_date(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return max(0.0, moment.timestamp() - now)


def _iso_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _json(response: requests.Response) -> Any:
    try:
        return json_of(response)
    except ValueError:
        raise PermanentError(
            f"Jira answered {response.status_code} with a body that is not JSON",
            status=response.status_code, request=f"{response.request.method} {response.request.path_url}",
        ) from None


def jira_error_text(response: requests.Response) -> str:
    """Jira's own words from an ErrorCollection (errorMessages and per-field errors), else the raw text."""
    try:
        data = json_of(response)
    except ValueError:
        data = None
    if data is None:
        return (response.text or response.reason or "no details").strip()[:500]
    return error_collection_text(data) if isinstance(data, Mapping) else str(data)[:500]


def error_collection_text(data: Mapping[str, Any]) -> str:
    parts = [str(m) for m in data.get("errorMessages") or []]
    parts += [f"{field}: {text}" for field, text in (data.get("errors") or {}).items()]
    return "; ".join(parts) or "no details"
