"""`pilotgate demo`: the whole loop against the bundled sandbox tracker, narrated, in well under a minute."""

from __future__ import annotations

import signal
import sys
import threading
import time

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from plugin.demo_stack import Stack

LOG_TAIL = 20  # lines of the service log shown when a step fails


@click.command()
@click.option("--keep", is_flag=True, help="Leave the sandbox and the service running, print their URLs, "
                                           "and stop on Ctrl-C.")
@click.option("--timeout", "step_timeout", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="Seconds each step may take before the demo stops with an error.")
def demo(keep: bool, step_timeout: float) -> None:
    """The whole loop against a local sandbox tracker: no Jira or GitHub account needed."""
    # Imported here: the sandbox is loaded by this command only, never by `serve` or `sync`.
    from plugin.demo_scenes import Story
    from plugin.demo_stack import DemoFailure, Stack

    began = time.monotonic()
    # Stopped by a signal, the demo still takes its servers down and deletes its scratch folder.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    click.echo("Pilot Gate demo: AI pilots in a local sandbox that speaks the Jira and GitHub APIs.")
    click.echo("Pilot Gate puts four gate tickets into every AI-pilot epic (success metric, integration "
               "architecture,\nsecurity briefing, operations owner), makes them block the work, and says so "
               "when work starts early.")
    # The trimmed GraphQL schema is what a fresh install has; it also builds in a blink.
    with Stack(sandbox_options={"schema": "trimmed"}) as stack:
        stack.start_service()
        click.echo(f"   sandbox tracker   {stack.sandbox.url}  (sends signed webhooks, as Jira and GitHub do)")
        click.echo(f"   Pilot Gate        {stack.url}  (web service and worker; storage in {stack.folder})")
        try:
            Story(stack, click.echo, step_timeout).run()
        except DemoFailure as failure:
            raise click.ClickException(f"{failure}\n{_log_tail(stack)}\nOn a slow machine, "
                                       "`pilotgate demo --timeout 90` gives each step longer.") from None
        click.echo(f"\nDemo finished in {time.monotonic() - began:.1f} s.")
        if keep:
            _keep_running(stack)
        else:
            click.echo("Run `pilotgate demo --keep` to look around the dashboard and the sandbox afterwards.")


def _log_tail(stack: Stack) -> str:
    lines = stack.log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL:]
    if not lines:
        return "The service log is empty."
    return "Last lines of the service log:\n" + "\n".join(f"  {line}" for line in lines)


def _keep_running(stack: Stack) -> None:
    sandbox = stack.sandbox.url
    click.echo("\nEverything keeps running until Ctrl-C. Look at:")
    for what, url in (
        ("dashboard", f"{stack.url}/"),
        ("readiness as JSON", f"{stack.url}/api/pilots"),
        ("health and metrics", f"{stack.url}/healthz  {stack.url}/metrics"),
        ("a Jira ticket as the sandbox keeps it", f"{sandbox}/_sandbox/jira/issues/PILOT-2"),
        ("a GitHub issue as the sandbox keeps it", f"{sandbox}/_sandbox/github/issues/example-org/ml-pilots/2"),
        ("webhooks the sandbox sent", f"{sandbox}/_sandbox/deliveries"),
    ):
        click.echo(f"   {what:<40} {url}")
    click.echo(f"   commands against it: pilotgate report --config {stack.config_file}")
    click.echo(f"                        pilotgate sync --config {stack.config_file}")
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    stop.wait()
    click.echo("Stopping.")
