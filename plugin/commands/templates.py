"""`pilotgate templates ...`: check gate templates before the worker ever loads them."""

from __future__ import annotations

from pathlib import Path

import click

from plugin.commands.template_preview import render
from plugin.templates import TemplateProblem, default_templates_dir, load_template_file, template_files


@click.group()
def templates() -> None:
    """Validate and preview gate templates."""


templates.add_command(render)


@templates.command("check")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def check(path: Path | None) -> None:
    """Validate a template file or every template in a folder (default: the bundled ones).

    Exits 1 with one line per problem: file, field path and reason.
    """
    target = path or default_templates_dir()
    if not target.exists():
        raise click.ClickException(f"{target}: no such file or folder")
    files = template_files(target)
    if not files:
        click.echo(f"{target}: no .yaml templates found", err=True)
        raise SystemExit(1)
    problems: list[str] = []
    names: dict[str, Path] = {}
    for file in files:
        try:
            template = load_template_file(file)
        except TemplateProblem as problem:
            problems.extend(problem.lines())
            continue
        if template.name in names:
            problems.append(f"{file}: name: {template.name!r} is already defined in {names[template.name]}")
        names[template.name] = file
    for line in problems:
        click.echo(line, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"{len(files)} template{'s' if len(files) != 1 else ''} OK: {', '.join(sorted(names))}")
