"""Webhook delivery from background threads, signed and retried as the real trackers do; redelivery by id."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import requests

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
        self._cond = threading.Condition()
        self._stopped = False
        self._threads: list[threading.Thread] = []
        self.deliver_from(threads)

    def deliver_from(self, threads: int) -> None:
        """Sends from at least `threads` threads from now on, each with its own connection."""
        if threads < 1:
            raise ValueError(f"webhook threads must be at least 1, got {threads}")
        with self._cond:
            while len(self._threads) < threads:
                thread = threading.Thread(target=self._run, name=f"sandbox-webhooks-{len(self._threads)}",
                                          daemon=True)
                self._threads.append(thread)
                thread.start()

    def configure(self, tracker: str, url: str | None, secret: str | None) -> None:
        if tracker not in self.targets:
            raise ValueError(f"unknown tracker '{tracker}' (jira or github)")
        self.targets[tracker] = Target(url, secret)

    def wants(self, tracker: str) -> bool:
        return bool(self.targets[tracker].url)

    def send(self, tracker: str, event: str, headers: dict[str, str], payload: dict[str, Any]) -> Delivery:
        """Sign and queue one delivery to the tracker's configured URL."""
        target = self.targets[tracker]
        if not target.url:
            raise ValueError(f"no webhook URL configured for {tracker}")
        body = json.dumps(payload, separators=(",", ":")).encode()
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
        with self._cond:
            self.deliveries[delivery_id] = delivery
            self._push(delivery_id, 0.0)
        return delivery

    def redeliver(self, delivery_id: str) -> Delivery:
        """Send a past delivery again: same id, same body (GitHub's "Redeliver" button)."""
        with self._cond:
            delivery = self.deliveries.get(delivery_id)
            if delivery is None:
                raise KeyError(f"no delivery with id {delivery_id}")
            delivery.redelivery = True
            self._push(delivery_id, 0.0)
        return delivery

    def _push(self, delivery_id: str, delay: float) -> None:
        heapq.heappush(self._queue, (time.monotonic() + delay, next(self._order), delivery_id))
        self._cond.notify_all()

    def _run(self) -> None:
        with requests.Session() as session:  # requests' sessions are not safe to share between threads
            session.trust_env = False  # a tracker reads no proxy variables or ~/.netrc (a file read per post)
            while True:
                with self._cond:
                    while not self._stopped and (not self._queue or self._queue[0][0] > time.monotonic()):
                        wait = self._queue[0][0] - time.monotonic() if self._queue else None
                        self._cond.wait(wait)
                    if self._stopped:
                        return
                    _, _, delivery_id = heapq.heappop(self._queue)
                    delivery = self.deliveries[delivery_id]
                    self._busy += 1
                try:
                    self._attempt(session, delivery)
                finally:
                    with self._cond:
                        self._busy -= 1
                        self._cond.notify_all()

    def _attempt(self, session: requests.Session, delivery: Delivery) -> None:
        headers = dict(delivery.headers)
        retry_number = len(delivery.attempts)
        if delivery.tracker == "jira" and retry_number:
            headers["X-Atlassian-Webhook-Retry"] = str(retry_number)
        attempt: dict[str, Any] = {"at": time.time()}
        try:
            response = session.post(delivery.url, data=delivery.body, headers=headers, timeout=self.timeout)
            attempt.update(status=response.status_code, ok=200 <= response.status_code < 300)
            retry = response.status_code in RETRY_STATUSES or response.status_code >= 500
        except requests.RequestException as err:
            attempt.update(status=None, ok=False, error=type(err).__name__)
            retry = True
        delivery.attempts.append(attempt)
        if attempt["ok"]:
            return
        log.info("webhook %s %s to %s failed (%s)", delivery.event, delivery.id, delivery.url,
                 attempt.get("error") or attempt["status"])
        if retry and len(delivery.attempts) < self.max_attempts:
            with self._cond:
                self._push(delivery.id, self.retry_delay * 2 ** (len(delivery.attempts) - 1))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued or in flight (retries included); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)
