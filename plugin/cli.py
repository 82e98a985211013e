"""The `pilotgate` command: one place that lists every sub-command (like Prow's plugin-imports)."""

from __future__ import annotations

import click

from plugin import __version__
from plugin.commands import admin, demo, service
from plugin.commands import templates as templates_commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pilotgate")
def main() -> None:
    """Pilot Gate: production-readiness gates for AI pilot epics in Jira and GitHub."""


main.add_command(templates_commands.templates)
main.add_command(admin.sync)
main.add_command(admin.report)
main.add_command(admin.doctor)
main.add_command(admin.jira)
main.add_command(service.serve)
main.add_command(service.worker)
main.add_command(service.events)
main.add_command(demo.demo)
