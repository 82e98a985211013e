"""Run every benchmark and print one table: figure, target, pass/miss, ratio to the same-run baseline.

    python benchmarks/run.py                 # everything, about 7 minutes on 2 cores
    python benchmarks/run.py --only ingest   # one part: ingest, latency, economy, memory
    python benchmarks/run.py --seconds 3 --rounds 1   # shorter load phases for a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import Figure, format_table  # noqa: E402
from benchmarks.ingest import ROUNDS  # noqa: E402

PARTS = ("ingest", "latency", "economy", "memory")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=PARTS, help="run only these parts (repeatable)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each load phase (default 10)")
    parser.add_argument("--servers", default="gunicorn,granian", help="servers to measure the service under")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help=f"interleaved runs of Probot and the relevant ingest scenarios (default {ROUNDS})")
    args = parser.parse_args(argv)
    parts = args.only or list(PARTS)
    figures: list[Figure] = []
    notes: list[str] = []
    rss: dict[str, float] = {}
    started = time.monotonic()
    failures: list[str] = []
    for part in parts:
        if part == "memory":
            continue
        try:
            result = _measure(part, args)
        except Exception as err:  # one broken part must not cost the figures of the others
            failures.append(f"{part} failed: {type(err).__name__}: {err}")
            continue
        figures += result.figures
        notes += result.notes
        for kind, peak in result.peaks.items():
            rss[kind] = max(rss.get(kind, 0.0), peak)
    if "memory" in parts:
        from benchmarks import memory

        figures += memory.figures(rss)
    print(format_table(figures))
    print()
    for note in notes:
        print(f"- {note}")
    for failure in failures:
        print(f"- {failure}")
    print(f"- total time {time.monotonic() - started:.0f} s")
    return 1 if failures or any(f.passed is False for f in figures) else 0


@dataclass
class PartResult:
    figures: list[Figure]
    notes: list[str]
    peaks: dict[str, float]


def _measure(part: str, args: argparse.Namespace) -> PartResult:
    if part == "ingest":
        from benchmarks import ingest

        report = ingest.measure(args.seconds, tuple(args.servers.split(",")), args.rounds)
        return PartResult(report.figures, report.notes + [f"faster server for relevant events: {report.faster_server}"],
                          {"web": report.web_peak_rss_mb})
    if part == "latency":
        from benchmarks import latency

        report = latency.measure()
        return PartResult(report.figures, report.notes,
                          {"web": report.web_peak_rss_mb, "worker": report.worker_peak_rss_mb})
    from benchmarks import economy

    report = economy.measure()
    return PartResult(report.figures, report.notes, {})


if __name__ == "__main__":
    sys.exit(main())
