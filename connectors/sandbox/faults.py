"""Call counting, rate-limit headers, latency and fault injection for every tracker API call."""

from __future__ import annotations

import functools
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, OperationType, parse

GITHUB_LIMITS = {"core": 5000, "search": 30, "graphql": 5000}


@dataclass
class FaultPlan:
    """What to inject: `delay` seconds on every call; the next `burst_429` calls answer 429 with
    `retry_after`; then a `error_rate` share of calls answer 500 (drawn from `seed`).
    `only` limits faults to paths starting with one of its prefixes (empty = every API path)."""

    delay: float = 0.0
    burst_429: int = 0
    retry_after: int = 1
    error_rate: float = 0.0
    seed: int = 0
    only: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FaultPlan":
        unknown = set(data) - {"delay", "burst_429", "retry_after", "error_rate", "seed", "only"}
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}")
        plan = cls(delay=float(data.get("delay", 0)), burst_429=int(data.get("burst_429", 0)),
                   retry_after=int(data.get("retry_after", 1)), error_rate=float(data.get("error_rate", 0)),
                   seed=int(data.get("seed", 0)), only=tuple(data.get("only") or ()))
        if plan.delay < 0 or plan.burst_429 < 0 or plan.retry_after < 0 or not 0 <= plan.error_rate <= 1:
            raise ValueError("delay, burst_429 and retry_after must be >= 0 and error_rate within 0..1")
        return plan


@dataclass
class Faults:
    """Thread-safe state: the current plan, what it already injected, and the call counters."""

    plan: FaultPlan = field(default_factory=FaultPlan)
    # "POST /rest/api/2/issue/<key>/comment" -> n; GraphQL mutations count apart, as "POST /graphql mutation"
    routes: Counter = field(default_factory=Counter)
    paths: Counter = field(default_factory=Counter)  # "POST /rest/api/2/issue/PILOT-1/comment" -> n
    injected: Counter = field(default_factory=Counter)  # "429" / "500" -> n
    lock: threading.Lock = field(default_factory=threading.Lock)
    _random: random.Random = field(default_factory=random.Random)
    _burst_left: int = 0
    _window: dict[str, tuple[float, int]] = field(default_factory=dict)  # resource -> (reset, used)

    def configure(self, plan: FaultPlan) -> None:
        with self.lock:
            self.plan = plan
            self._random = random.Random(plan.seed)
            self._burst_left = plan.burst_429

    def count(self, method: str, route: str, path: str, kind: str = "") -> None:
        """`kind` sets calls of one route apart: "mutation" for a GraphQL request that writes."""
        suffix = f" {kind}" if kind else ""
        with self.lock:
            self.routes[f"{method} {route}{suffix}"] += 1
            self.paths[f"{method} {path}{suffix}"] += 1

    def decide(self, path: str) -> tuple[float, int | None]:
        """(delay, status to answer instead of serving) for one call."""
        with self.lock:
            plan = self.plan
            if plan.only and not path.startswith(plan.only):
                return 0.0, None
            if self._burst_left > 0:
                self._burst_left -= 1
                self.injected["429"] += 1
                return plan.delay, 429
            if plan.error_rate and self._random.random() < plan.error_rate:
                self.injected["500"] += 1
                return plan.delay, 500
            return plan.delay, None

    def github_rate_headers(self, resource: str) -> dict[str, str]:
        """x-ratelimit-* as GitHub sends them: an hourly (search: per-minute) window per resource."""
        span = 60 if resource == "search" else 3600
        with self.lock:
            now = time.time()
            reset, used = self._window.get(resource, (now + span, 0))
            if now >= reset:
                reset, used = now + span, 0
            used += 1
            self._window[resource] = (reset, used)
        limit = GITHUB_LIMITS[resource]
        return {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(max(0, limit - used)),
                "x-ratelimit-used": str(used), "x-ratelimit-reset": str(int(reset)),
                "x-ratelimit-resource": resource}

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"total": sum(self.routes.values()), "routes": dict(self.routes), "paths": dict(self.paths),
                    "injected": dict(self.injected)}

    def reset_counts(self) -> None:
        with self.lock:
            self.routes.clear()
            self.paths.clear()
            self.injected.clear()


def graphql_kind(body: Any) -> str:
    """"mutation" when a POST /graphql body runs a mutation, else "" (queries, and what does not parse)."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return ""
    name = body.get("operationName")
    return _operation_kind(body["query"], name if isinstance(name, str) else None)


@functools.lru_cache(maxsize=256)
def _operation_kind(query: str, operation_name: str | None) -> str:
    """The operation GraphQL would run: the one named, else the document's only one."""
    try:
        document = parse(query)
    except GraphQLError:
        return ""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or (o.name and o.name.value == operation_name)]
    if len(chosen) != 1:
        return ""  # ambiguous or unknown: GraphQL refuses to run it, so nothing is written
    return "mutation" if chosen[0].operation is OperationType.MUTATION else ""
