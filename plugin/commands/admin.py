"""Admin commands: `sync`, `report`, `doctor`, and `jira register-webhook`."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import click

from connectors.base import Connector, TrackerError
from plugin.config import Config, ConfigError, load_config
from plugin.doctor import diagnose
from plugin.model import Tracker
from plugin.readiness import assess_all
from plugin.reconcile import reconcile
from plugin.report import pilot_rows, render_json, render_table
from plugin.report_html import render_html
from plugin.sync_text import describe_plan, summary_line
from plugin.templates import Template, TemplateProblem

config_option = click.option("--config", "config_file", type=click.Path(path_type=Path),
                             help="Configuration file (default: $PILOTGATE_CONFIG, else ./pilotgate.yaml).")


@dataclass
class Runtime:
    """What the admin commands work with; tests hand in fakes through click's context object."""

    config: Config
    connectors: Mapping[Tracker, Connector]
    templates: Mapping[Tracker, Template]
    ledger: Any  # plugin.ledger.Ledger, or None where nothing is recorded


def open_runtime(config_file: Path | None) -> Runtime:
    from plugin.ledger import Ledger
    from plugin.wiring import build_connectors, templates_by_tracker

    config = load_settings(config_file)
    ledger = Ledger(config.database, base_dir=config.base_dir)
    ledger.create_schema()
    try:
        return Runtime(config, build_connectors(config, ledger), templates_by_tracker(config), ledger)
    except (ConfigError, TemplateProblem) as err:
        raise click.ClickException(str(err)) from None


def load_settings(config_file: Path | None) -> Config:
    try:
        return load_config(config_file)
    except ConfigError as err:
        raise click.ClickException(str(err)) from None


def runtime(config_file: Path | None) -> Runtime:
    context = click.get_current_context()
    factory: Callable[[Path | None], Runtime] = (context.obj or {}).get("runtime", open_runtime)
    return factory(config_file)


def now() -> datetime:
    context = click.get_current_context()
    clock: Callable[[], datetime] = (context.obj or {}).get("now", lambda: datetime.now(timezone.utc))
    return clock()


@click.command()
@config_option
@click.option("--dry-run", is_flag=True, help="Print what would be done per epic; write nothing to any tracker.")
@click.option("--epic", "epic_key", metavar="KEY", help="Only this epic (PROJ-12 or owner/repo#12).")
def sync(config_file: Path | None, dry_run: bool, epic_key: str | None) -> None:
    """Reconcile every pilot epic of every configured tracker now."""
    state = runtime(config_file)
    only = [epic_key] if epic_key else None
    terminal = sys.stdout.isatty()
    if terminal and not dry_run:
        with click.progressbar(length=0, label="Reconciling pilot epics", show_pos=True) as bar:
            connectors = {t: _Progress(c, bar) for t, c in state.connectors.items()}
            summary = reconcile(connectors, state.templates, state.ledger, only=only, now=now())
    else:
        summary = reconcile(state.connectors, state.templates, None if dry_run else state.ledger,
                            dry_run=dry_run, only=only, now=now())
    if dry_run:
        for line in describe_plan(summary):
            click.echo(line)
    for error in summary.errors:
        click.echo(f"error: {error}", err=True)
    for result in summary.epics:
        if result.error:
            click.echo(f"error: {result.epic_key}: {result.error}", err=True)
    if epic_key and not summary.epics and not summary.errors:
        raise click.ClickException(f"{epic_key} is not a pilot epic of any configured tracker")
    click.echo(summary_line(summary))
    if not summary.ok:
        sys.exit(1)


class _Progress:
    """A connector whose epic listing advances a progress bar as the reconciler finishes each epic."""

    def __init__(self, connector: Connector, bar: Any) -> None:
        self._connector = connector
        self._bar = bar
        self.tracker = connector.tracker

    def pilot_epics(self, only: Sequence[str] | None = None) -> Iterator[Any]:
        epics = list(self._connector.pilot_epics(only))
        self._bar.length += len(epics)
        for epic in epics:
            yield epic
            self._bar.update(1)  # the reconciler asks for the next epic once this one is done

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connector, name)


@click.command()
@config_option
@click.option("--format", "output", type=click.Choice(["table", "json", "html"]), default="table", show_default=True)
def report(config_file: Path | None, output: str) -> None:
    """Readiness of every pilot epic, riskiest first."""
    state = runtime(config_file)
    moment = now()
    snapshot = assess_all(state.connectors.values(), state.templates, moment)
    rows = pilot_rows(snapshot.readiness, moment)
    render = {"table": render_table, "json": render_json, "html": render_html}[output]
    click.echo(render(rows, moment))
    for error in snapshot.errors:
        click.echo(f"error: {error}", err=True)
    if snapshot.errors:
        sys.exit(1)


@click.command()
@config_option
@click.option("--public-url", envvar="PILOTGATE_PUBLIC_URL", metavar="URL",
              help="Where trackers reach Pilot Gate (default: $PILOTGATE_PUBLIC_URL); checks the webhook routes.")
def doctor(config_file: Path | None, public_url: str | None) -> None:
    """Check configuration, templates, credentials, permissions and webhook reachability."""
    checks = diagnose(config_file, public_url)
    width = max(len(c.area) for c in checks)
    for check in checks:
        click.echo(f"{check.word:<4}  {check.area:<{width}}  {one_line(check.detail)}")
        if check.fix and check.ok is not True:
            click.echo(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    failed = sum(c.ok is False for c in checks)
    click.echo(f"{failed} problem{'s' if failed != 1 else ''} found" if failed else "all checks passed")
    if failed:
        sys.exit(1)


def one_line(text: str, limit: int = 300) -> str:
    """A tracker's error page folded into one readable line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


@click.group()
def jira() -> None:
    """Jira setup helpers."""


@jira.command("register-webhook")
@config_option
@click.argument("url")
@click.option("--dry-run", is_flag=True, help="Print the request (secret masked) instead of sending it.")
@click.option("--name", default="Pilot Gate", show_default=True, help="Name the webhook shows in Jira.")
@click.option("--jql", help="Only events of issues this JQL matches, e.g. 'project in (AI, ML)'. Default: all.")
def register_webhook(config_file: Path | None, url: str, dry_run: bool, name: str, jql: str | None) -> None:
    """Register Jira's admin webhook sending issue and link events to URL, signed with jira.webhook_secret.

    URL is Pilot Gate's public address for Jira, ending in /webhooks/jira.
    """
    from plugin.jira_webhook import WebhookRequest, register

    config = load_settings(config_file)
    if config.jira is None:
        raise click.ClickException("no jira section in the configuration")
    request = WebhookRequest.for_config(config.jira, url, name, jql)
    if dry_run:
        click.echo(request.describe())
        return
    try:
        click.echo(register(config.jira, request))
    except TrackerError as err:
        raise click.ClickException(str(err)) from None
