"""GitHub's REST and GraphQL transport: rate limits, spaced writes, bounded retries, errors with GitHub's words."""

from __future__ import annotations

import random
import threading
import time
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Mapping

import requests

from connectors.base import NotFound, PermanentError, TrackerError, TransientError
from connectors.http_session import json_of, send, tracker_session

API_VERSION = "2022-11-28"
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
RATE_LIMIT_TYPES = frozenset({"RATE_LIMITED", "RATE_LIMIT"})  # GitHub has sent both spellings
# GraphQL error types that mean GitHub refused the field: nothing happened and repeating will not help.
REFUSAL_TYPES = frozenset({"NOT_FOUND", "FORBIDDEN", "UNPROCESSABLE", "INSUFFICIENT_SCOPES", "BAD_REQUEST"})


def graphql_url(api_url: str) -> str:
    """github.com serves GraphQL at /graphql beside the REST root; GHES at /api/graphql beside /api/v3."""
    base = api_url.rstrip("/")
    if base.endswith("/api/v3"):
        return base[: -len("/v3")] + "/graphql"
    return base + "/graphql"


class GitHubHttp:
    """Sends one request at a time the way GitHub's rate-limit guide asks.

    - primary limit: when `x-ratelimit-remaining` reaches 0, wait until `x-ratelimit-reset`;
    - secondary limit (403/429): honour `retry-after`, else wait a minute and back off exponentially;
    - writes are serialized with at least `write_spacing` seconds between them;
    - 5xx and timeouts are retried with bounded backoff and jitter, but only when repeating the request
      is harmless (`retry_ambiguous`): a create that timed out may have happened, the caller decides.
    Waits longer than `max_wait` are not slept: they raise TransientError(retry_after) for the queue.
    """

    def __init__(
        self,
        api_url: str,
        authorization: Callable[[], str],
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 10.0,
        max_retries: int = 3,
        max_wait: float = 900.0,
        write_spacing: float = 1.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.graphql_url = graphql_url(api_url)
        self._authorization = authorization
        self._session = session or tracker_session(api_url)
        self._sleep = sleep
        self._clock = clock
        self._timeout = timeout
        self._max_retries = max_retries
        self._max_wait = max_wait
        self._write_spacing = write_spacing
        self._jitter = jitter
        self._write_lock = threading.Lock()
        self._last_write: float | None = None
        self._paused_until: dict[str, float] = {}  # per rate-limit resource: core, search, graphql

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        retry_ambiguous: bool = True,
    ) -> Any:
        """One REST call; `path` is relative to the API root (e.g. `/repos/o/r/issues`)."""
        url = path if path.startswith("http") else self.api_url + path
        label = f"{method} {path}"
        if method in WRITE_METHODS:
            with self._write_lock:
                return self._send(method, url, label, body, params, retry_ambiguous, spaced=True)
        return self._send(method, url, label, body, params, retry_ambiguous, spaced=False)

    def graphql(self, query: str, variables: Mapping[str, Any]) -> dict:
        """A GraphQL query (never a mutation here, so always safe to repeat); returns `data`.

        NOT_FOUND errors beside data leave those fields null for the caller; any other error raises.
        """
        label = f"POST /graphql {_operation_name(query)}"
        for attempt in range(self._max_retries + 1):
            answer = self._send("POST", self.graphql_url, label, {"query": query, "variables": dict(variables)},
                                None, True, spaced=False)
            errors = answer.get("errors") or []
            if any(e.get("type") in RATE_LIMIT_TYPES for e in errors) and attempt < self._max_retries:
                self._sleep(60.0 * 2**attempt)
                continue
            return _graphql_data(answer, errors, label)
        raise TransientError("GitHub GraphQL rate limit did not clear", retry_after=60.0, request=label)

    def mutate(self, query: str, variables: Mapping[str, Any]) -> "Mutated":
        """One request carrying aliased mutations, spaced like every write and never repeated blindly.

        Rate-limited requests (HTTP 403/429, or a RATE_LIMITED answer without data) were not carried out
        and are retried; a timeout or 5xx raises TransientError with `status` (None for a timeout): any
        of the mutations may have happened. Otherwise the answer is returned alias by alias.
        """
        label = f"POST /graphql {_operation_name(query)}"
        for attempt in range(self._max_retries + 1):
            with self._write_lock:
                answer = self._send("POST", self.graphql_url, label, {"query": query, "variables": dict(variables)},
                                    None, False, spaced=True)
            errors = answer.get("errors") or []
            if answer.get("data") is None and any(e.get("type") in RATE_LIMIT_TYPES for e in errors):
                if attempt < self._max_retries:
                    self._sleep(60.0 * 2**attempt)
                    continue
                raise TransientError("GitHub GraphQL rate limit did not clear", retry_after=60.0, request=label)
            return Mutated(answer.get("data") or {}, errors, label)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _send(self, method, url, label, body, params, retry_ambiguous, *, spaced) -> Any:
        for attempt in range(self._max_retries + 1):
            self._wait_for_primary_reset(url, label)
            if spaced:
                self._space_write()
            try:
                response = send(self._session, method, url, body=body, params=params, headers=self._headers(),
                                timeout=self._timeout)
            except (requests.Timeout, requests.ConnectionError) as err:
                failure = TransientError(f"GitHub did not answer ({type(err).__name__})", request=label)
                if not retry_ambiguous or attempt == self._max_retries:
                    raise failure from None
                self._sleep(self._backoff(attempt))
                continue
            finally:
                if spaced:
                    self._last_write = self._clock()
            self._note_primary_limit(response)
            if response.ok:
                return json_of(response)
            wait = self._rate_limit_wait(response, attempt)
            if wait is not None:
                # A rate-limited request was not carried out, so repeating it is safe even for a create.
                if attempt == self._max_retries or wait > self._max_wait:
                    raise _error(response, label, retry_after=wait)
                self._sleep(wait)
                continue
            if response.status_code >= 500 and retry_ambiguous and attempt < self._max_retries:
                self._sleep(self._backoff(attempt))
                continue
            raise _error(response, label)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": self._authorization(),
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "pilotgate",
        }

    def _space_write(self) -> None:
        if self._last_write is not None:
            remaining = self._last_write + self._write_spacing - self._clock()
            if remaining > 0:
                self._sleep(remaining)

    def _wait_for_primary_reset(self, url: str, label: str) -> None:
        remaining = self._paused_until.get(self._resource(url), 0.0) - self._clock()
        if remaining <= 0:
            return
        if remaining > self._max_wait:
            raise TransientError("GitHub primary rate limit exhausted", retry_after=remaining, request=label)
        self._sleep(remaining)

    def _note_primary_limit(self, response: requests.Response) -> None:
        if response.headers.get("x-ratelimit-remaining") == "0":
            self._paused_until[self._resource(response.url)] = self._clock() + _seconds_until_reset(response)

    def _rate_limit_wait(self, response: requests.Response, attempt: int) -> float | None:
        if response.status_code not in (403, 429):
            return None
        retry_after = _seconds(response.headers.get("retry-after"))
        if retry_after is not None:
            return max(retry_after, 0.0)
        if response.headers.get("x-ratelimit-remaining") == "0":
            self._paused_until.pop(self._resource(response.url), None)  # this wait replaces that pause
            return _seconds_until_reset(response)
        if response.status_code == 429 or "secondary rate limit" in _message(response).lower():
            return 60.0 * 2**attempt
        return None

    def _resource(self, url: str | None) -> str:
        """GitHub budgets REST, search and GraphQL separately: one exhausted must not stall the others."""
        path = (url or "").split("?", 1)[0]
        if path == self.graphql_url:
            return "graphql"
        return "search" if path.startswith(self.api_url + "/search/") else "core"

    def _backoff(self, attempt: int) -> float:
        base = float(2**attempt)
        return base + base * self._jitter()


class Mutated:
    """What one multi-mutation request did, alias by alias: a payload, or why there is none."""

    def __init__(self, data: Mapping[str, Any], errors: list[dict], request: str) -> None:
        self.data = data
        self.errors = errors
        self.request = request

    def payload(self, alias: str) -> dict | None:
        return self.data.get(alias)

    def failure(self, alias: str) -> TrackerError | None:
        """None when the alias succeeded. Else PermanentError when GitHub refused it, TransientError with
        retry_after when it was rate limited, and TransientError without a status when its fate is unknown
        (an error GitHub does not type, such as a timeout inside GraphQL): it may have happened."""
        if self.data.get(alias) is not None:
            return None
        mine = [e for e in self.errors if (e.get("path") or [None])[0] == alias]
        mine = mine or [e for e in self.errors if not e.get("path")]
        text = "; ".join(str(e.get("message")) for e in mine) or "no answer for this mutation"
        message = f"GitHub GraphQL {alias}: {text}"
        if any(e.get("type") in RATE_LIMIT_TYPES or _is_content_limit(e) for e in mine):
            return TransientError(message, retry_after=60.0, status=429, request=self.request)
        if mine and all(e.get("type") in REFUSAL_TYPES or _is_invalid_document(e) for e in mine):
            return (NotFound if all(e.get("type") == "NOT_FOUND" for e in mine) else PermanentError)(
                message, request=self.request)
        return TransientError(message, request=self.request)


def _is_content_limit(error: dict) -> bool:
    """GitHub's content-creation limit on a mutation, e.g. createIssue "was submitted too quickly"."""
    message = str(error.get("message", "")).lower()
    return "submitted too quickly" in message or "secondary rate limit" in message


def _is_invalid_document(error: dict) -> bool:
    """Validation errors (GitHub adds `extensions.code`): the document ran not at all."""
    return bool((error.get("extensions") or {}).get("code"))


def _seconds(value: str | None) -> float | None:
    """A delay-seconds header value; None when absent or an HTTP-date (then the one-minute rule applies)."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _seconds_until_reset(response: requests.Response) -> float:
    """`x-ratelimit-reset` is epoch seconds; measured against the server's Date to ignore our clock skew."""
    try:
        reset = float(response.headers["x-ratelimit-reset"])
    except (KeyError, ValueError):
        return 60.0
    try:
        now = parsedate_to_datetime(response.headers["Date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        now = time.time()
    return max(reset - now, 1.0)


def _message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300] or response.reason or ""
    if not isinstance(data, dict):
        return str(data)[:300]
    details = [
        e.get("message") or " ".join(str(e.get(k)) for k in ("resource", "field", "code") if e.get(k))
        if isinstance(e, dict) else str(e)
        for e in data.get("errors") or []
    ]
    return "; ".join([str(data.get("message") or response.reason or "")] + [d for d in details if d])


def _error(response: requests.Response, label: str, retry_after: float | None = None) -> TrackerError:
    status = response.status_code
    text = f"GitHub answered {status}: {_message(response)}"
    if status in (404, 410):
        return NotFound(text, status=status, request=label)
    if status >= 500 or status in _TRANSIENT_STATUSES or retry_after is not None:
        return TransientError(text, retry_after=retry_after, status=status, request=label)
    return PermanentError(text, status=status, request=label)


def _graphql_data(answer: dict, errors: list, label: str) -> dict:
    data = answer.get("data")
    blocking = [e for e in errors if e.get("type") != "NOT_FOUND"]
    if blocking or data is None:
        text = "; ".join(str(e.get("message")) for e in (blocking or errors)) or "no data"
        if not blocking and errors:
            raise NotFound(f"GitHub GraphQL: {text}", request=label)
        raise PermanentError(f"GitHub GraphQL: {text}", request=label)
    return data


def _operation_name(query: str) -> str:
    for word in ("query ", "mutation "):
        start = query.find(word)
        if start >= 0:
            return query[start + len(word):].split("(", 1)[0].split("{", 1)[0].strip()
    return ""
