"""Prometheus metrics: webhook counts from the web processes, everything else computed from the ledger.

Web processes count webhooks in prometheus_client (multiprocess mode when PROMETHEUS_MULTIPROC_DIR
is set, as `pilotgate serve` does for its server workers). Workers may run on other machines, so
their figures (actions, latency, tracker calls, queue) are kept in the ledger and read at scrape time:
any web instance reports the whole installation.
"""

from __future__ import annotations

import os
import threading
from collections import Counter as Tally
from typing import Any, Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from plugin.model import Tracker

LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


class WebMetrics:
    """The web process's own counters, in a registry per application."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.webhooks = Counter("pilotgate_webhooks", "Webhook deliveries answered, by tracker, event and outcome",
                                ["tracker", "event", "outcome"], registry=self.registry)

        self._children: dict[tuple[str, str, str], Any] = {}

    def webhook(self, tracker: str, event: str, outcome: str) -> None:
        # The labelled child looked up once per label set: labels() validates and locks on every call.
        key = (tracker, event, outcome)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.webhooks.labels(tracker, event, outcome)
        child.inc()

    def render(self, ledger_collector) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        folder = os.environ.get(MULTIPROCESS_ENV)
        if folder:
            MultiProcessCollector(registry, path=folder)
        else:
            registry.register(_Forward(self.registry))
        registry.register(ledger_collector)
        return generate_latest(registry)


class _Forward:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self):
        return self.registry.collect()


class CallCounter:
    """Tracker API responses by status, counted by a requests hook and flushed into the ledger."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: Tally = Tally()

    def hook(self, tracker: Tracker) -> Callable:
        def count(response, *args, **kwargs):
            with self._lock:
                self._pending[(tracker.value, str(response.status_code))] += 1
            return response

        return count

    def drain(self) -> dict[tuple[str, str], float]:
        """Counter rows for the ledger: `("tracker_calls", "tracker=jira,status=200") -> n`."""
        with self._lock:
            pending, self._pending = self._pending, Tally()
        return {("tracker_calls", labels(tracker=t, status=s)): n for (t, s), n in pending.items()}


TRACKER_CALLS = CallCounter()


def count_tracker_call(tracker: Tracker) -> Callable:
    return TRACKER_CALLS.hook(tracker)


def labels(**values: str) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(values.items()))


def _parse_labels(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(",") if part)


def latency_counts(tracker: Tracker, seconds: float) -> dict[tuple[str, str], float]:
    """Counter rows for one processed event's latency histogram (cumulative buckets)."""
    rows = {("latency_bucket", labels(tracker=tracker.value, le=str(b))): 1.0
            for b in LATENCY_BUCKETS if seconds <= b}
    rows[("latency_bucket", labels(tracker=tracker.value, le="+Inf"))] = 1.0
    rows[("latency_sum", labels(tracker=tracker.value))] = seconds
    return rows


class LedgerCollector:
    """Reads counters and queue state from the ledger at scrape time."""

    def __init__(self, counts: Callable[[], Mapping[tuple[str, str], float]], stats: Callable) -> None:
        self.counts = counts
        self.stats = stats

    def collect(self) -> Iterator:
        counts = self.counts()
        yield from _counter(counts, "actions", "pilotgate_actions", "Actions applied (done) or skipped, by kind",
                            ["tracker", "kind", "outcome"])
        yield from _counter(counts, "tracker_calls", "pilotgate_tracker_calls",
                            "Tracker API responses by HTTP status", ["tracker", "status"])
        yield from _counter(counts, "processed", "pilotgate_events_processed",
                            "Event processing attempts by result (done, retry, failed)", ["tracker", "result"])
        yield from _counter(counts, "coalesced", "pilotgate_events_coalesced",
                            "Events handled inside another event's pass over the same epic", ["tracker"])
        yield from _counter(counts, "redispatched", "pilotgate_events_redispatched",
                            "Events handed out again after the worker holding them died", [])
        yield _latency(counts)
        stats = self.stats()
        for name, doc, value in (
            ("pilotgate_queue_depth", "Events waiting to be processed", stats.depth),
            ("pilotgate_queue_oldest_seconds", "Age of the oldest waiting event", stats.oldest_age),
            ("pilotgate_events_processing", "Events being processed now", stats.processing),
            ("pilotgate_events_failed", "Events past their retry budget (pilotgate events --failed)", stats.failed),
        ):
            yield GaugeMetricFamily(name, doc, value=value)


def _counter(counts: Mapping, key: str, name: str, doc: str, label_names: list[str]):
    family = CounterMetricFamily(name, doc, labels=label_names)
    for (counter, text), value in sorted(counts.items()):
        if counter == key:
            found = _parse_labels(text)
            family.add_metric([found.get(n, "") for n in label_names], value)
    yield family


def _latency(counts: Mapping) -> HistogramMetricFamily:
    family = HistogramMetricFamily("pilotgate_event_latency_seconds",
                                   "From webhook received to event processed", labels=["tracker"])
    for tracker in sorted({_parse_labels(t).get("tracker", "") for (c, t) in counts if c == "latency_bucket"}):
        def bucket(le: str) -> float:
            return counts.get(("latency_bucket", labels(tracker=tracker, le=le)), 0.0)

        buckets = [(str(b), bucket(str(b))) for b in LATENCY_BUCKETS] + [("+Inf", bucket("+Inf"))]
        family.add_metric([tracker], buckets, counts.get(("latency_sum", labels(tracker=tracker)), 0.0))
    return family
