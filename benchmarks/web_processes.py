"""How many granian processes on a SQLite ledger: 1 against 2, interleaved, same pool, same run.

`python benchmarks/web_processes.py [--rounds 3] [--seconds 5] [--scenario github-relevant]` prints,
for each round and process count, the queued deliveries per second, their p99 and the server's CPU
per delivery (read from /proc), then the ratio of the medians. It is the measurement behind
`plugin.commands.service.web_processes`; interleaving the two settings keeps a busy moment of the VM
from landing on one of them only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import free_port, group_pids, running  # noqa: E402
from benchmarks.ingest import build_pools, delivery_header, warm_up  # noqa: E402
from benchmarks.service import SERVICE_TARGET, deployment, server_command  # noqa: E402
from benchmarks.wrk import LoadResult, load  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (fields 14 and 15 of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a process that ended meanwhile
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def one_run(processes: int, scenario: str, pool: Path, seconds: float) -> tuple[LoadResult, float]:
    deployed = deployment(f"processes-{processes}-{scenario}")
    port = free_port()
    command = server_command("granian", SERVICE_TARGET, port, factory=True, workers=processes)
    with running(command, port, env=deployed.env, log=deployed.folder / "server.log") as server:
        header = delivery_header(scenario)
        warm_up(port, pool, header)
        pids = group_pids(server.pid)
        before = cpu_seconds(pids)
        result = load(f"http://127.0.0.1:{port}", pool, header, seconds)
        used = cpu_seconds(pids) - before
    return result, 1e6 * used / max(result.requests, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--scenario", default="github-relevant", choices=("github-relevant", "jira-relevant"))
    args = parser.parse_args(argv)
    pool = build_pools()[args.scenario]
    rates: dict[int, list[float]] = {1: [], 2: []}
    for round_number in range(1, args.rounds + 1):
        for processes in rates:
            result, cpu_us = one_run(processes, args.scenario, pool, args.seconds)
            rates[processes].append(result.rps)
            print(f"round {round_number}, {processes} process(es): {result.rps:,.0f} req/s, p99 "
                  f"{result.p99_ms:.1f} ms, server CPU {cpu_us:.0f} µs per delivery, statuses {result.statuses}",
                  flush=True)
    one, two = (statistics.median(rates[n]) for n in (1, 2))
    print(f"median: 1 process {one:,.0f} req/s, 2 processes {two:,.0f} req/s, ratio 2/1 = {two / one:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
