"""Webhook delivery from background threads, signed and retried as the real trackers do; redelivery by id."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import http.client
import itertools
import json
import logging
import select
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import urlsplit

import msgspec

log = logging.getLogger(__name__)
RETRY_STATUSES = {408, 409, 425, 429}  # plus every 5xx (JIRA-FACTS: Jira's retry policy)
HOOKSHOT = "GitHub-Hookshot/7a3b1c2"
JIRA_AGENT = "Atlassian Webhook HTTP Client"


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>` HMAC of the raw body: the format of X-Hub-Signature(-256) on both trackers."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class Target:
    url: str | None = None
    secret: str | None = None
    # The events subscribed to, as a Jira admin webhook lists them ("jira:issue_updated"...); None: all.
    events: frozenset[str] | None = None

    def wants(self, event: str) -> bool:
        return bool(self.url) and (self.events is None or event in self.events)


@dataclass
class Delivery:
    """One webhook: the same id, body and headers on every attempt and on redelivery."""

    id: str
    tracker: str
    event: str  # "jira:issue_updated", "issues.opened"...
    url: str
    headers: dict[str, str]
    body: bytes
    attempts: list[dict[str, Any]] = field(default_factory=list)
    redelivery: bool = False

    def summary(self) -> dict[str, Any]:
        last = self.attempts[-1] if self.attempts else {}
        return {"id": self.id, "tracker": self.tracker, "event": self.event, "url": self.url,
                "attempts": len(self.attempts), "status": last.get("status"), "error": last.get("error"),
                "delivered": bool(last.get("ok")), "redelivery": self.redelivery,
                "payload": json.loads(self.body)}


class Dispatcher:
    """Queues deliveries, sends them from `threads` threads, retries failures with backoff.

    Both trackers retry 5xx, 408/409/425/429 and connection failures; `max_attempts` and
    `retry_delay` (doubling) are small so tests and the demo see the retries within seconds.
    One thread sends in the order the changes happened; several send concurrently and so in
    no promised order, as Jira and GitHub do (neither guarantees the order of deliveries).
    """

    def __init__(self, max_attempts: int = 4, retry_delay: float = 0.2, timeout: float = 10.0,
                 threads: int = 1) -> None:
        self.targets = {"jira": Target(), "github": Target()}
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.timeout = timeout
        self.deliveries: dict[str, Delivery] = {}
        self._queue: list[tuple[float, int, str]] = []  # (due, order, delivery id)
        self._order = itertools.count()
        self._busy = 0
        self._lock = threading.Lock()
        # Senders wait for work, wait_idle for the end of it: one wakeup per queued delivery, not all threads.
        self._work = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._stopped = False
        self._threads: list[threading.Thread] = []
        self.deliver_from(threads)

    def deliver_from(self, threads: int) -> None:
        """Sends from at least `threads` threads from now on, each with its own connection."""
        if threads < 1:
            raise ValueError(f"webhook threads must be at least 1, got {threads}")
        with self._lock:
            while len(self._threads) < threads:
                thread = threading.Thread(target=self._run, name=f"sandbox-webhooks-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()

    def configure(self, tracker: str, url: str | None, secret: str | None,
                  events: Iterable[str] | None = None) -> None:
        if tracker not in self.targets:
            raise ValueError(f"unknown tracker '{tracker}' (jira or github)")
        self.targets[tracker] = Target(url, secret, frozenset(events) if events is not None else None)

    def wants(self, tracker: str, event: str) -> bool:
        return self.targets[tracker].wants(event)

    def send(self, tracker: str, event: str, headers: dict[str, str], payload: dict[str, Any]) -> Delivery:
        """Sign and queue one delivery to the tracker's configured URL."""
        target = self.targets[tracker]
        if not target.url:
            raise ValueError(f"no webhook URL configured for {tracker}")
        body = _encode(payload)
        delivery_id = str(uuid.uuid4())
        headers = {**headers, "Content-Type": "application/json"}
        if tracker == "github":
            headers.update({"X-GitHub-Delivery": delivery_id, "User-Agent": HOOKSHOT})
            if target.secret:
                headers["X-Hub-Signature-256"] = signature(target.secret, body)
                headers["X-Hub-Signature"] = "sha1=" + hmac.new(target.secret.encode(), body, hashlib.sha1).hexdigest()
        else:
            headers.update({"X-Atlassian-Webhook-Identifier": delivery_id, "X-Atlassian-Webhook-Flow": "Primary",
                            "User-Agent": JIRA_AGENT})
            if target.secret:
                headers["X-Hub-Signature"] = signature(target.secret, body)
        delivery = Delivery(delivery_id, tracker, event, target.url, headers, body)
        with self._lock:
            self.deliveries[delivery_id] = delivery
            self._push(delivery_id, 0.0)
        return delivery

    def redeliver(self, delivery_id: str) -> Delivery:
        """Send a past delivery again: same id, same body (GitHub's "Redeliver" button)."""
        with self._lock:
            delivery = self.deliveries.get(delivery_id)
            if delivery is None:
                raise KeyError(f"no delivery with id {delivery_id}")
            delivery.redelivery = True
            self._push(delivery_id, 0.0)
        return delivery

    def _push(self, delivery_id: str, delay: float) -> None:
        heapq.heappush(self._queue, (time.monotonic() + delay, next(self._order), delivery_id))
        self._work.notify()

    def _run(self) -> None:
        connections = _Connections(self.timeout)  # this thread's own, kept open between deliveries
        try:
            while True:
                with self._lock:
                    while not self._stopped and (not self._queue or self._queue[0][0] > time.monotonic()):
                        wait = self._queue[0][0] - time.monotonic() if self._queue else None
                        self._work.wait(wait)
                    if self._stopped:
                        return
                    _, _, delivery_id = heapq.heappop(self._queue)
                    delivery = self.deliveries[delivery_id]
                    self._busy += 1
                    if self._queue:
                        self._work.notify()  # more is due: another sender may take it meanwhile
                try:
                    self._attempt(connections, delivery)
                finally:
                    with self._lock:
                        self._busy -= 1
                        self._idle.notify_all()
        finally:
            connections.close()

    def _attempt(self, connections: "_Connections", delivery: Delivery) -> None:
        headers = dict(delivery.headers)
        retry_number = len(delivery.attempts)
        if delivery.tracker == "jira" and retry_number:
            headers["X-Atlassian-Webhook-Retry"] = str(retry_number)
        attempt: dict[str, Any] = {"at": time.time()}
        try:
            status = connections.post(delivery.url, delivery.body, headers)
            attempt.update(status=status, ok=200 <= status < 300)
            retry = status in RETRY_STATUSES or status >= 500
        except (OSError, http.client.HTTPException) as err:  # refused, reset, timed out, or not HTTP
            attempt.update(status=None, ok=False, error=type(err).__name__)
            retry = True
        delivery.attempts.append(attempt)
        if attempt["ok"]:
            return
        log.info("webhook %s %s to %s failed (%s)", delivery.event, delivery.id, delivery.url,
                 attempt.get("error") or attempt["status"])
        if retry and len(delivery.attempts) < self.max_attempts:
            with self._lock:
                self._push(delivery.id, self.retry_delay * 2 ** (len(delivery.attempts) - 1))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued or in flight (retries included); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(min(left, 0.05))  # a retry becoming due is no wakeup: look again soon
        return True

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._work.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)


_encode = msgspec.json.Encoder().encode  # compact, like json.dumps with (",", ":") separators, a few times faster


class _Connections:
    """One sender thread's HTTP/1.1 connections by host, kept open between deliveries as the trackers do.

    http.client rather than a requests session: a delivery is one POST of ready bytes, and requests'
    per-call machinery was most of the sandbox's cost of sending one.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._open: dict[tuple[str, str], http.client.HTTPConnection] = {}

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        parts = urlsplit(url)
        connection = self._connection(parts.scheme, parts.netloc)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
        except BaseException:
            self._drop(parts.scheme, parts.netloc)
            raise
        if response.will_close:
            self._drop(parts.scheme, parts.netloc)
        return response.status

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        key = (scheme, netloc)
        connection = self._open.get(key)
        if connection is not None and _dropped(connection):
            self._drop(scheme, netloc)  # the server closed it while idle: a new one, as urllib3 does
            connection = None
        if connection is None:
            kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            connection = self._open[key] = kind(netloc, timeout=self.timeout)
        return connection

    def _drop(self, scheme: str, netloc: str) -> None:
        connection = self._open.pop((scheme, netloc), None)
        if connection is not None:
            connection.close()

    def close(self) -> None:
        for connection in self._open.values():
            connection.close()
        self._open.clear()


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """An idle kept connection that is readable has been closed by the server (or sent garbage)."""
    sock = connection.sock
    if sock is None:
        return False  # not connected yet: request() connects
    poller = select.poll()  # not select.select: it fails on descriptors above 1023
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
