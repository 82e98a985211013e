"""`pilotgate templates render NAME --title "..."`: the gate tickets and comments a template would produce."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from plugin.config import ConfigError, config_path, load_config
from plugin.model import Tracker
from plugin.preview import Preview, preview
from plugin.templates import TemplateProblem, default_templates_dir, load_templates


@click.command("render")
@click.argument("name")
@click.option("--title", required=True, help="Title of the fictitious pilot epic.")
@click.option("--tracker", type=click.Choice([t.value for t in Tracker]), default="jira", show_default=True,
              help="Which tracker's keys and wording to use.")
@click.option("--folder", type=click.Path(path_type=Path, file_okay=False),
              help="Templates folder (default: the configuration's, else the bundled templates).")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="Configuration file.")
def render(name: str, title: str, tracker: str, folder: Path | None, config_file: Path | None) -> None:
    """Preview the gate tickets (title, body, labels, due date) and comments of template NAME."""
    templates = load_templates_or_fail(folder or _configured_folder(config_file))
    if name not in templates:
        raise click.ClickException(f"no template named {name!r} (found: {', '.join(sorted(templates))})")
    now = datetime.now(timezone.utc).replace(hour=9, minute=0, second=0, microsecond=0)
    click.echo(format_preview(preview(templates[name], title, Tracker(tracker), now), name))


def load_templates_or_fail(folder: Path):
    try:
        return load_templates(folder)
    except TemplateProblem as problem:
        raise click.ClickException("\n".join(problem.lines())) from None


def _configured_folder(config_file: Path | None) -> Path:
    """The configuration's templates folder when a configuration exists, else the bundled one."""
    if config_file is None and not config_path().exists():
        return default_templates_dir()
    try:
        return load_config(config_file).templates
    except ConfigError as err:
        raise click.ClickException(str(err)) from None


def format_preview(result: Preview, name: str) -> str:
    epic, work = result.epic, result.work
    lines = [f"Template {name!r} on a new {epic.tracker.value} epic {epic.key} \"{epic.title}\" "
             f"started {epic.created:%Y-%m-%d}, with one work ticket {work.key} \"{work.title}\".", "",
             f"{len(result.gates)} gate tickets, created as children of {epic.key}:"]
    for key, spec in result.gates:
        blocks = ", ".join(spec.blocks) or "nothing yet"
        due = f"{spec.due:%Y-%m-%d}" if spec.due else "none"
        lines += ["", f"{key}  {spec.title}",
                  f"  labels: {', '.join(sorted(spec.labels)) or 'none'}   due: {due}   blocks: {blocks}",
                  _quoted(spec.body)]
    lines += ["", "Comments the bot writes (one per ticket, edited in place when its text changes):"]
    for comment in result.comments:
        lines += ["", f"On {comment.ticket_key} when {comment.situation} ({comment.rule}):",
                  _quoted(comment.body)]
    return "\n".join(lines)


def _quoted(text: str) -> str:
    return "\n".join(f"  | {line}".rstrip() for line in text.splitlines())
