"""CPU per queued delivery on the webhook path: this checkout against another revision, paired.

    python benchmarks/webhook_cpu.py --base 5d353e5                 # both relevant scenarios
    python benchmarks/webhook_cpu.py --base HEAD~1 --scenario jira-relevant --chunks 40

Each revision's application runs in a process of its own (the base from a git worktree in
benchmarks/.work), with a fresh SQLite deployment, and calls its WSGI callable directly: no server,
no load generator, so only the path's own work is timed. The two processes are fed chunks of
deliveries in turn (base, this, this, base, ...) and each reports the CPU time the chunk took. On a
noisy VM one process alone varies by a third from one chunk to the next; the paired ratio of two
chunks measured side by side does not, and its median is the figure.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

# No import from this checkout at the top: the child process must load the revision it measures.
ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("github-relevant", "jira-relevant")
WARM_UP = 200  # deliveries before the first chunk: imports, caches, the first connection


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="git revision to compare this checkout against")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="default: both")
    parser.add_argument("--chunks", type=int, default=30, help="chunks per revision (default 30)")
    parser.add_argument("--chunk-size", type=int, default=400, help="deliveries per chunk (default 400)")
    args = parser.parse_args(argv)
    from benchmarks.ingest import build_pools, delivery_header

    pools = build_pools()
    base_root = _worktree(args.base)
    try:
        for scenario in args.scenario or SCENARIOS:
            count = WARM_UP + args.chunks * args.chunk_size
            roots = {"base": base_root, "this": ROOT}
            children = {name: _child(name, root, scenario, pools[scenario], delivery_header(scenario), count)
                        for name, root in roots.items()}
            try:
                times = _paired(children, args.chunks, args.chunk_size)
            finally:
                for child in children.values():
                    child.stdin.close()
                    child.wait(timeout=30)
            ratios = [this / base for this, base in zip(times["this"], times["base"])]
            low, _, high = statistics.quantiles(ratios, n=4)
            print(f"{scenario}: {args.base} {statistics.median(times['base']):.0f} us, this checkout "
                  f"{statistics.median(times['this']):.0f} us of CPU per delivery (medians of {args.chunks} "
                  f"chunks); paired ratio {statistics.median(ratios):.3f} (quartiles {low:.3f}-{high:.3f})")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base_root)], cwd=ROOT, check=False)
    return 0


def _worktree(revision: str) -> Path:
    folder = ROOT / "benchmarks" / ".work" / f"webhook-cpu-{uuid.uuid4().hex[:8]}"
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(folder), revision], cwd=ROOT, check=True)
    return folder


def _child(name: str, root: Path, scenario: str, pool: Path, header: str, count: int) -> subprocess.Popen:
    from benchmarks.service import deployment

    deployed = deployment(f"webhook-cpu-{name}-{scenario}")
    env = {**os.environ, **deployed.env, "PYTHONPATH": str(root)}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(pool), header, str(count)]
    return subprocess.Popen(command, cwd=root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _paired(children: dict[str, subprocess.Popen], chunks: int, size: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in children}
    for number in range(chunks):
        order = list(children) if number % 2 else list(reversed(children))  # neither always goes first
        for name in order:
            child = children[name]
            child.stdin.write(f"{size}\n")
            child.stdin.flush()
            answer = child.stdout.readline().split()
            if len(answer) != 2 or answer[1] != "202":
                raise SystemExit(f"{name} revision: a delivery was not queued ({' '.join(answer) or 'no answer'})")
            times[name].append(float(answer[0]))
    return times


def child(pool: Path, header: str, count: int) -> None:
    """In the revision's process: replays `count` pooled deliveries, each with a new delivery id, through
    the application's WSGI callable; for each chunk size read from stdin prints the CPU µs per delivery
    and the last status code."""
    from plugin.web import served_app

    wsgi = served_app().wsgi_app
    requests = _requests(pool, header, count)
    status = []

    def start_response(line, headers, exc_info=None):
        status[:] = [line.split()[0]]

    for environ in requests[:WARM_UP]:
        wsgi(environ, start_response)
    position = WARM_UP
    for line in sys.stdin:
        chunk = requests[position:position + int(line)]
        position += len(chunk)
        started = time.process_time()
        for environ in chunk:
            wsgi(environ, start_response)
        elapsed = time.process_time() - started
        print(f"{elapsed / max(len(chunk), 1) * 1e6:.1f} {status[0] if status else '-'}", flush=True)


def _requests(pool: Path, header: str, count: int) -> list[dict]:
    """WSGI environs built up front (not timed), from the pool's three-line records."""
    lines = pool.read_bytes().split(b"\n")
    records = [(lines[n].decode(), lines[n + 1].decode(), lines[n + 2]) for n in range(0, len(lines) - 2, 3)]
    delivery_key = "HTTP_" + header.upper().replace("-", "_")
    environs = []
    for number in range(count):
        path, head, body = records[number % len(records)]
        environ = {"REQUEST_METHOD": "POST", "PATH_INFO": path, "CONTENT_LENGTH": str(len(body)),
                   "SERVER_NAME": "bench", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
                   "wsgi.input": io.BytesIO(body), delivery_key: f"cpu-{uuid.uuid4()}"}
        for field in head.split("\t"):
            name, _, value = field.partition(": ")
            key = name.upper().replace("-", "_")
            environ[key if key == "CONTENT_TYPE" else f"HTTP_{key}"] = value
        environs.append(environ)
    return environs


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        sys.path.remove(str(Path(__file__).resolve().parent))  # the revision's code comes from PYTHONPATH
        child(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    else:
        sys.path.insert(0, str(ROOT))
        sys.exit(main())
