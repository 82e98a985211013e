"""What every benchmark shares: a result row, the table printer, and servers started and stopped cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
PYTHON = sys.executable


@dataclass(frozen=True)
class Figure:
    """One measured figure next to its target and the baseline measured in the same run.

    `higher_is_better` says which way the target points; `target` None means informational.
    """

    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True
    baseline: float | None = None
    baseline_name: str = ""
    note: str = ""

    @property
    def passed(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    @property
    def ratio(self) -> float | None:
        if not self.baseline:
            return None
        return self.value / self.baseline


def _number(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:,.2f}"
    return f"{text} {unit}".strip()


def format_table(figures: Sequence[Figure]) -> str:
    """A Markdown table: readable in a terminal and pasted as is into docs/PERFORMANCE.md."""
    header = ("figure", "measured", "target", "result", "baseline (same run)", "ratio")
    rows = [header, tuple("---" for _ in header)]
    for fig in figures:
        sign = ">=" if fig.higher_is_better else "<="
        target = f"{sign} {_number(fig.target, fig.unit)}" if fig.target is not None else "-"
        result = {True: "pass", False: "MISS", None: "info"}[fig.passed]
        base = f"{fig.baseline_name}: {_number(fig.baseline, fig.unit)}" if fig.baseline is not None else "-"
        ratio = f"{fig.ratio:.2f}x" if fig.ratio is not None else "-"
        name = f"{fig.name} ({fig.note})" if fig.note else fig.name
        rows.append((name, _number(fig.value, fig.unit), target, result, base, ratio))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |" for row in rows]
    return "\n".join(lines)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    """Block until something accepts connections on the port; fail fast when the server died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server {process.args!r} exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server {process.args!r} did not listen on port {port} within {timeout} s")


@contextlib.contextmanager
def running(command: Sequence[str], port: int | None = None, env: dict | None = None,
            cwd: Path | None = None, log: Path | None = None) -> Iterator[subprocess.Popen]:
    """Start a process in its own process group; stop the whole group (server and its workers) after."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    process = subprocess.Popen(list(command), env={**os.environ, **(env or {})}, cwd=cwd or ROOT,
                               stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if port is not None:
            wait_for_port(port, process)
        yield process
    finally:
        stop_group(process)
        if log:
            out.close()


def stop_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(grace)


def group_pids(leader: int) -> list[int]:
    """The leader and every process in its session (a server's forked workers)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            stat = (entry / "stat").read_text()
            session = int(stat.rsplit(")", 1)[1].split()[3])  # after the name: state ppid pgrp session
            if session == leader:
                pids.append(int(entry.name))
    return pids


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process ever held, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")
BIN_DIR = Path(PYTHON).parent
