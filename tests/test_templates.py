"""Gate template validation: every mistake an admin can make is named by file, field and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from plugin.cli import main
from plugin.templates import TemplateProblem, default_templates_dir, load_templates, parse_template

DEFAULT = (default_templates_dir() / "ai-pilot.yaml").read_text()


def problems(text: str) -> list[str]:
    with pytest.raises(TemplateProblem) as caught:
        parse_template(text, "t.yaml")
    return caught.value.lines()


def test_bundled_templates_are_valid():
    templates = load_templates(default_templates_dir())
    assert "ai-pilot" in templates
    assert [g.key for g in templates["ai-pilot"].gates] == [
        "success-metric", "integration-architecture", "security-briefing", "operations-owner"]


def test_security_briefing_is_due_in_week_one():
    template = load_templates(default_templates_dir())["ai-pilot"]
    assert template.gate("security-briefing").due_days == 7


@pytest.mark.parametrize("text, fragment", [
    ("name: t\ngates: [{key: a, body: b}]", "t.yaml: gates[0].title: Missing data for required field."),
    ("name: t\ngates: [{key: a, title: A, body: b, due_days: -3}]", "t.yaml: gates[0].due_days: must be 0 or more"),
    ("name: t\ncolour: red\ngates: [{key: a, title: A, body: b}]", "t.yaml: colour: Unknown field."),
    ("name: t\ngates: [{key: a, title: A, body: b, blocks: some}]", "t.yaml: gates[0].blocks: must be \"all\""),
    ("name: t\ngates: [{key: a, title: A, body: b, blocks: {title_pattern: '('}}]",
     "t.yaml: gates[0].blocks.title_pattern: not a valid regular expression"),
    ("name: t\ngates: [{key: a, title: A, body: b}, {key: a, title: B, body: c}]", "t.yaml: gates: gate keys must be unique"),
    ("name: t\ngates: []", "t.yaml: gates: a template needs at least one gate"),
    ("name: t\ngates: [{key: A B, title: A, body: b}]", "t.yaml: gates[0].key: must be lower-case"),
    ("name: t\ngates: [{key: a, title: A, body: '{{ epic.nme }}'}]", "t.yaml: gates[0].body: template error"),
    ("name: t\ngates: [{key: a, title: '{% if %}', body: b}]", "t.yaml: gates[0].title: template error (line 1)"),
    ("name: t\ngates: [{key: a, title: A, body: b}]\ncomments: {gates_clear: '{{ nope }}'}",
     "t.yaml: comments.gates_clear: template error"),
    ("name: t\ngates: [\n", "t.yaml: line 3: not valid YAML"),
    ("- just a list", "t.yaml: (top level): must be a mapping"),
])
def test_template_mistakes_are_named(text, fragment):
    assert any(line.startswith(fragment) for line in problems(text)), problems(text)


def test_check_command_accepts_the_bundled_folder():
    result = CliRunner().invoke(main, ["templates", "check", str(default_templates_dir())])
    assert result.exit_code == 0, result.output
    assert "OK: ai-pilot" in result.output


def test_check_command_names_file_and_field_of_each_problem(tmp_path: Path):
    broken = DEFAULT.replace("due_days: 14", "due_days: -3").replace("  - key: operations-owner\n    title:",
                                                                       "  - key: operations-owner\n    headline:")
    (tmp_path / "team.yaml").write_text(broken.replace("name: ai-pilot", "name: team"))
    (tmp_path / "bad.yaml").write_text("name: x\ngates: [\n")
    result = CliRunner().invoke(main, ["templates", "check", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert f"{tmp_path / 'team.yaml'}: gates[1].due_days: must be 0 or more" in lines
    assert f"{tmp_path / 'team.yaml'}: gates[3].title: Missing data for required field." in lines
    assert f"{tmp_path / 'team.yaml'}: gates[3].headline: Unknown field." in lines
    assert any(line.startswith(f"{tmp_path / 'bad.yaml'}: line 3: not valid YAML") for line in lines)


def test_check_command_rejects_two_templates_with_one_name(tmp_path: Path):
    (tmp_path / "a.yaml").write_text(DEFAULT)
    (tmp_path / "b.yaml").write_text(DEFAULT)
    result = CliRunner().invoke(main, ["templates", "check", str(tmp_path)])
    assert result.exit_code == 1 and "name: 'ai-pilot' is already defined" in result.output


def test_check_command_on_a_missing_path_says_so(tmp_path: Path):
    result = CliRunner().invoke(main, ["templates", "check", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "no such file or folder" in result.output
