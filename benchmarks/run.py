"""Run every benchmark and print one table: figure, target, pass/miss, ratio to the same-run baseline.

    python benchmarks/run.py                 # everything, about 5 minutes on 2 cores
    python benchmarks/run.py --only ingest   # one part: ingest, latency, economy, memory
    python benchmarks/run.py --seconds 3     # shorter load phases for a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Figure, format_table  # noqa: E402

PARTS = ("ingest", "latency", "economy", "memory")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=PARTS, help="run only these parts (repeatable)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load phase (default 10)")
    parser.add_argument("--servers", default="gunicorn,granian", help="servers to measure the service under")
    args = parser.parse_args(argv)
    parts = args.only or list(PARTS)
    figures: list[Figure] = []
    notes: list[str] = []
    rss: dict[str, float] = {}
    started = time.monotonic()
    if "ingest" in parts:
        from benchmarks import ingest

        report = ingest.measure(args.seconds, tuple(args.servers.split(",")))
        figures += report.figures
        notes += report.notes + [f"faster server for relevant events: {report.faster_server}"]
        rss["web"] = report.web_peak_rss_mb
    if "latency" in parts:
        from benchmarks import latency

        result = latency.measure()
        figures += result.figures
        notes += result.notes
        rss["worker"] = max(rss.get("worker", 0.0), result.worker_peak_rss_mb)
        rss["web"] = max(rss.get("web", 0.0), result.web_peak_rss_mb)
    if "economy" in parts:
        from benchmarks import economy

        result = economy.measure()
        figures += result.figures
        notes += result.notes
    if "memory" in parts:
        from benchmarks import memory

        figures += memory.figures(rss)
    print(format_table(figures))
    print()
    for note in notes:
        print(f"- {note}")
    print(f"- total time {time.monotonic() - started:.0f} s")
    return 1 if any(f.passed is False for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
