"""Memory: the peak resident set of a web server worker and of a queue worker, read after the benchmarks ran."""

from __future__ import annotations

from benchmarks.common import Figure

LIMIT_MB = 150.0


def figures(peaks: dict[str, float]) -> list[Figure]:
    """`peaks`: process kind ("web", "worker") -> its highest VmHWM seen in MiB (0 when not measured)."""
    found = []
    for kind, note in (("web", "busiest server worker, after the ingest load"),
                       ("worker", "`pilotgate serve` worker process, after the latency run")):
        if peaks.get(kind):
            found.append(Figure(f"peak RSS: {kind} process", peaks[kind], "MB", target=LIMIT_MB,
                                higher_is_better=False, note=note))
    return found
