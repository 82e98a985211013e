"""Run wrk with the webhook-replaying Lua script and read back its one-line JSON result."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import BENCH

SCRIPT = BENCH / "wrk_webhooks.lua"
THREADS = 2
CONNECTIONS = 16


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    socket_errors: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def share(self, status: str) -> float:
        return self.statuses.get(status, 0) / self.requests if self.requests else 0.0


def require_wrk() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    return found


def load(url: str, pool: Path, delivery_header: str, seconds: float = 10.0,
         connections: int = CONNECTIONS) -> LoadResult:
    """`seconds` of keep-alive load; every request carries a delivery id never used before."""
    tag = uuid.uuid4().hex[:8]
    command = [require_wrk(), f"-t{THREADS}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s",
               "-s", str(SCRIPT), url, "--", str(pool), delivery_header, tag, str(THREADS)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    data = json.loads(line.removeprefix("WRK_RESULT "))
    return LoadResult(
        requests=data["requests"], seconds=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000, max_ms=data["max_us"] / 1000,
        statuses={str(k): int(v) for k, v in data["statuses"].items()},
        socket_errors=sum(data["errors"].values()),
    )
