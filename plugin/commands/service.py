"""`pilotgate serve`, `pilotgate worker` and `pilotgate events`: running the service and minding its queue."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import click

from plugin.config import Config, ConfigError, config_path, load_config
from plugin.logs import configure_logging

SERVERS = ("granian", "gunicorn")
DEFAULT_SERVER = "granian"  # it served the webhook path fastest (docs/PERFORMANCE.md, "Ingest")
GRANIAN_THREADS = 1
config_option = click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
                              help="Configuration file (default: $PILOTGATE_CONFIG, else ./pilotgate.yaml).")


def _load(config_file: str | None) -> Config:
    try:
        return load_config(config_file)
    except ConfigError as err:
        raise click.ClickException(str(err)) from None


def _start_worker(config_file: str | None):
    """Configuration, logging and the worker runtime, as `serve` and `worker` both start them."""
    from plugin.wiring import build_worker

    config = _load(config_file)
    try:
        configure_logging(config)
        return config, build_worker(config)
    except ConfigError as err:
        raise click.ClickException(str(err)) from None


def web_processes(config: Config, server: str = DEFAULT_SERVER) -> int:
    """How many web server processes `serve` starts: `workers`, but one under granian on a SQLite ledger.

    SQLite takes one writer at a time, and every queued delivery is a write: a second granian process
    only waits for the first one's lock and re-reads the pages it changed. Measured with the ingest
    benchmark (docs/PERFORMANCE.md): one process answered more deliveries per second than two, with a
    p99 of 11-22 ms instead of 45-120 ms. gunicorn's sync workers serve one connection each, so there
    the processes are the concurrency and stay at `workers`.
    """
    return 1 if server == "granian" and config.database.startswith("sqlite") else config.workers


def server_command(server: str, host: str, port: int, workers: int) -> list[str]:
    """The web server's command line. granian is the default: it served the webhook path fastest."""
    bin_dir = Path(sys.executable).parent
    if server == "granian":
        # One Python thread per process: the request path is short and all CPU under the GIL, so more
        # threads only contend (with 4 the p99 of queued deliveries was 500-700 ms, with 1 about 50 ms).
        return [str(bin_dir / "granian"), "--interface", "wsgi", "--factory", "--workers", str(workers),
                "--blocking-threads", str(GRANIAN_THREADS), "--host", host, "--port", str(port),
                "--log-level", "warning", "plugin.web:served_app"]
    return [str(bin_dir / "gunicorn"), "--workers", str(workers), "--bind", f"{host}:{port}",
            "--keep-alive", "5", "--log-level", "warning", "plugin.web:served_app()"]


@click.command()
@config_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the web server listens on.")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--server", type=click.Choice(SERVERS), default=DEFAULT_SERVER, show_default=True)
def serve(config_file: str | None, host: str, port: int, server: str) -> None:
    """Web server and worker together: the one command a single-machine install needs."""
    config, runtime = _start_worker(config_file)
    metrics_dir = tempfile.mkdtemp(prefix="pilotgate-metrics-")
    env = {**os.environ, "PILOTGATE_CONFIG": str(config_path(config_file).resolve()),
           "PROMETHEUS_MULTIPROC_DIR": metrics_dir}  # server workers share their counters through it
    # Its own process group, so stopping it also stops its worker processes, even if its master hangs.
    processes = web_processes(config, server)
    web = subprocess.Popen(server_command(server, host, port, processes), env=env, start_new_session=True)
    stopping = threading.Event()
    threading.Thread(target=_stop_when_gone, args=(web, stopping), daemon=True).start()
    click.echo(f"pilotgate: {server} on http://{host}:{port} ({processes} web process"
               f"{'es' if processes > 1 else ''}), worker with {config.workers * 2} threads", err=True)
    try:
        runtime.runner().run()
    finally:
        stopping.set()
        _stop_group(web)
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _stop_group(web: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM to the server's whole process group, then SIGKILL to whatever is left after `grace` seconds."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(web.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        web.wait(timeout=grace)
    # Workers that outlived their master (or a master that hung) would keep serving the port.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(web.pid, signal.SIGKILL)
    web.wait()


def _stop_when_gone(web: subprocess.Popen, stopping: threading.Event) -> None:
    """The web server exiting (a taken port, a crash) stops the worker too, so the command ends."""
    web.wait()
    if not stopping.is_set():
        os.kill(os.getpid(), signal.SIGTERM)


@click.command()
@config_option
def worker(config_file: str | None) -> None:
    """Queue consumer only: run several, on several machines, with Redis and PostgreSQL."""
    config, runtime = _start_worker(config_file)
    runtime.runner().run()


@click.command()
@config_option
@click.option("--failed", is_flag=True, help="List events past their retry budget.")
@click.option("--retry", "retry_id", type=int, default=None, metavar="ID", help="Queue a failed event again.")
def events(config_file: str | None, failed: bool, retry_id: int | None) -> None:
    """Failed events: list them, or replay one by its id."""
    from plugin.ledger import Ledger
    from plugin.outbox import Outbox

    if failed == (retry_id is not None):
        raise click.UsageError("give either --failed or --retry ID")
    config = _load(config_file)
    ledger = Ledger(config.database, base_dir=config.base_dir)
    ledger.create_schema()
    outbox = Outbox(ledger)
    if retry_id is not None:
        if not outbox.retry(retry_id):
            raise click.ClickException(f"no failed event with id {retry_id} (see pilotgate events --failed)")
        click.echo(f"event {retry_id} queued again")
        return
    records = outbox.failed()
    if not records:
        click.echo("no failed events")
        return
    click.echo(f"{'ID':>6}  {'TRACKER':7}  {'TICKET':24}  {'ATTEMPTS':>8}  {'DELIVERY':36}  ERROR")
    for r in records:
        error = (r.error or "").replace("\n", " ")[:120]
        click.echo(f"{r.id:>6}  {r.tracker.value:7}  {r.event.ticket_key[:24]:24}  {r.attempts:>8}  "
                   f"{r.delivery[:36]:36}  {error}")
