"""Gate templates: admin-editable YAML, validated by marshmallow into frozen dataclasses, Jinja2 bodies."""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml
from jinja2 import StrictUndefined, TemplateError as JinjaError
from jinja2.sandbox import SandboxedEnvironment
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema, RAISE

from plugin.model import Ticket

DEFAULT_TEMPLATE = "ai-pilot"
PLACEHOLDER = "(fill in)"
# Sandboxed: templates are edited by admins, rendered inside the worker.
_JINJA = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
)


class TemplateProblem(Exception):
    """Everything wrong with one template file: a list of (field path, reason)."""

    def __init__(self, file: str, problems: list[tuple[str, str]]) -> None:
        self.file = file
        self.problems = problems
        super().__init__("; ".join(f"{file}: {path}: {reason}" for path, reason in problems))

    def lines(self) -> list[str]:
        return [f"{self.file}: {path}: {reason}" for path, reason in self.problems]


@dataclass(frozen=True)
class Selector:
    """Which tickets a gate blocks; every given criterion must match, any value within one does."""

    labels: frozenset[str] = frozenset()
    issue_types: frozenset[str] = frozenset()
    title_pattern: str | None = None

    def matches(self, ticket: Ticket) -> bool:
        if self.labels and not self.labels & ticket.labels:
            return False
        if self.issue_types and (ticket.issue_type or "").lower() not in {t.lower() for t in self.issue_types}:
            return False
        if self.title_pattern and not re.search(self.title_pattern, ticket.title, re.IGNORECASE):
            return False
        return True


@dataclass(frozen=True)
class DoneWhen:
    """A gate is done when its ticket is in a done status and every enabled content check passes."""

    assignee: bool = False
    filled: bool = False  # no placeholder left in the body
    checklist: bool = False  # every `- [ ]` item ticked


@dataclass(frozen=True)
class GateDef:
    key: str
    title: str  # Jinja2 source
    body: str  # Jinja2 source
    labels: frozenset[str] = frozenset()
    due_days: int | None = None
    blocks: Selector | None = None  # None: every other child of the epic
    done_when: DoneWhen = DoneWhen()


@dataclass(frozen=True)
class Comments:
    work_started_early: str
    gates_clear: str
    gate_overdue: str


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    gates: tuple[GateDef, ...]
    comments: Comments
    applies_to: Selector = Selector()
    placeholder: str = PLACEHOLDER
    epic_label: str | None = None

    def gate(self, key: str) -> GateDef:
        return next(g for g in self.gates if g.key == key)

    def applies(self, epic: Ticket) -> bool:
        """Whether this template gates an epic: criteria left out match anything, and an issue type
        the tracker does not report (GitHub without issue types) excludes nothing."""
        rule = self.applies_to
        if rule.labels and not rule.labels & epic.labels:
            return False
        if rule.issue_types and epic.issue_type and \
                epic.issue_type.lower() not in {t.lower() for t in rule.issue_types}:
            return False
        return not rule.title_pattern or re.search(rule.title_pattern, epic.title, re.IGNORECASE) is not None


DEFAULT_COMMENTS = {
    "work_started_early": (
        "Work on {{ ticket.key }} has started while {{ open_gates | length }} of its gates "
        "{{ 'is' if open_gates | length == 1 else 'are' }} still open:\n"
        "{% for g in open_gates %}- {{ g.title }} ({{ g.url }}): {{ g.status }}"
        "{{ '; ' ~ (g.missing | join('; ')) if g.missing else '' }}\n{% endfor %}"
        "Pilots that skip these steps rarely reach production. Finish the gates, or tell the epic's owner why not."
    ),
    "gates_clear": "All gates that block {{ ticket.key }} are done. Thank you: this pilot is on the road to production.",
    "gate_overdue": (
        "This gate was due on {{ gate.due }} and is still open{% if gate.missing %} "
        "({{ gate.missing | join('; ') }}){% endif %}. It blocks the rest of {{ epic.key }}."
    ),
}


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class SelectorSchema(_Strict):
    labels = fields.List(fields.String(validate=validate.Length(min=1)), load_default=list)
    issue_types = fields.List(fields.String(validate=validate.Length(min=1)), load_default=list)
    title_pattern = fields.String(load_default=None)

    @validates_schema
    def pattern_compiles(self, data: dict, **_: Any) -> None:
        if data.get("title_pattern") is not None:
            try:
                re.compile(data["title_pattern"])
            except re.error as err:
                raise ValidationError(f"not a valid regular expression: {err}", "title_pattern") from None

    @post_load
    def build(self, data: dict, **_: Any) -> Selector:
        return Selector(frozenset(data["labels"]), frozenset(data["issue_types"]), data["title_pattern"])


class BlocksField(fields.Field):
    """`blocks: all` (the default) or a selector mapping."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Selector | None:
        if value == "all":
            return None
        if isinstance(value, Mapping):
            return SelectorSchema().load(value)
        raise ValidationError('must be "all" or a mapping with labels, issue_types or title_pattern')


class DoneWhenSchema(_Strict):
    status = fields.String(load_default="done", validate=validate.Equal("done", error='only "done" is supported'))
    assignee = fields.Boolean(load_default=False)
    filled = fields.Boolean(load_default=False)
    checklist = fields.Boolean(load_default=False)

    @post_load
    def build(self, data: dict, **_: Any) -> DoneWhen:
        return DoneWhen(data["assignee"], data["filled"], data["checklist"])


class GateSchema(_Strict):
    key = fields.String(
        required=True,
        validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,39}$", error="must be lower-case letters, digits and dashes"),
    )
    title = fields.String(required=True, validate=validate.Length(min=1, max=240, error="must be 1 to 240 characters"))
    body = fields.String(required=True, validate=validate.Length(min=1, error="must not be empty"))
    labels = fields.List(fields.String(validate=validate.Regexp(r"^\S+$", error="labels have no spaces")),
                         load_default=list)
    due_days = fields.Integer(load_default=None, validate=validate.Range(min=0, max=3650, error="must be 0 or more"))
    blocks = BlocksField(load_default="all")
    done_when = fields.Nested(DoneWhenSchema, load_default=lambda: {})

    @post_load
    def build(self, data: dict, **_: Any) -> GateDef:
        blocks = data["blocks"]
        return GateDef(
            key=data["key"], title=data["title"], body=data["body"], labels=frozenset(data["labels"]),
            due_days=data["due_days"], blocks=None if blocks == "all" else blocks,
            done_when=data["done_when"] if isinstance(data["done_when"], DoneWhen) else DoneWhen(),
        )


class CommentsSchema(_Strict):
    work_started_early = fields.String(load_default=DEFAULT_COMMENTS["work_started_early"])
    gates_clear = fields.String(load_default=DEFAULT_COMMENTS["gates_clear"])
    gate_overdue = fields.String(load_default=DEFAULT_COMMENTS["gate_overdue"])

    @post_load
    def build(self, data: dict, **_: Any) -> Comments:
        return Comments(**data)


class TemplateSchema(_Strict):
    name = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]*$",
                                                                 error="must be lower-case letters, digits and dashes"))
    description = fields.String(load_default="")
    applies_to = fields.Nested(SelectorSchema, load_default=lambda: {})
    placeholder = fields.String(load_default=PLACEHOLDER, validate=validate.Length(min=1))
    epic_label = fields.String(load_default=None)
    gates = fields.List(fields.Nested(GateSchema), required=True,
                        validate=validate.Length(min=1, error="a template needs at least one gate"))
    comments = fields.Nested(CommentsSchema, load_default=lambda: {})

    @validates_schema
    def unique_gate_keys(self, data: dict, **_: Any) -> None:
        keys = [g.key for g in data.get("gates", []) if isinstance(g, GateDef)]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValidationError(f"gate keys must be unique; repeated: {', '.join(duplicates)}", "gates")

    @post_load
    def build(self, data: dict, **_: Any) -> Template:
        empty = Selector()
        return Template(
            name=data["name"], description=data["description"], gates=tuple(data["gates"]),
            comments=data["comments"] if isinstance(data["comments"], Comments) else Comments(**DEFAULT_COMMENTS),
            applies_to=data["applies_to"] if isinstance(data["applies_to"], Selector) else empty,
            placeholder=data["placeholder"], epic_label=data["epic_label"],
        )


@functools.lru_cache(maxsize=256)
def _compiled(source: str):
    return _JINJA.from_string(source)


def render(source: str, **context: Any) -> str:
    return _compiled(source).render(**context).strip()


def parse_template(text: str, file: str = "<template>") -> Template:
    """Validate one template's YAML text; raise TemplateProblem naming every field that is wrong."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise TemplateProblem(file, [(where, f"not valid YAML: {getattr(err, 'problem', None) or err}")]) from None
    if not isinstance(raw, Mapping):
        raise TemplateProblem(file, [("(top level)", "must be a mapping with name, gates and comments")])
    try:
        template = TemplateSchema().load(raw)
    except ValidationError as err:
        raise TemplateProblem(file, list(_flatten(err.messages))) from None
    problems = list(_render_problems(template, raw))
    if problems:
        raise TemplateProblem(file, problems)
    return template


def _flatten(messages: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """marshmallow's nested messages as (field path, reason) pairs: `gates[2].title`."""
    if isinstance(messages, Mapping):
        for name, inner in messages.items():
            if name == "_schema":
                path = prefix
            elif isinstance(name, int):
                path = f"{prefix}[{name}]"
            else:
                path = f"{prefix}.{name}" if prefix else str(name)
            yield from _flatten(inner, path)
    elif isinstance(messages, list):
        for message in messages:
            if isinstance(message, str):
                yield (prefix or "(top level)", message)
            else:
                yield from _flatten(message, prefix)


SAMPLE_EPIC = {"key": "PILOT-1", "title": "Invoice triage assistant", "url": "https://tracker.example/PILOT-1"}


def _render_problems(template: Template, raw: Mapping) -> Iterator[tuple[str, str]]:
    """Render every Jinja2 text once with sample data, so a typo fails `templates check`, not the worker."""
    sample_gate = {"key": "g", "title": "Gate", "url": "https://tracker.example/PILOT-2", "status": "To Do",
                   "missing": ["target missing"], "due": date(2026, 1, 8)}
    for index, gate in enumerate(template.gates):
        context = gate_context(SAMPLE_EPIC, gate, date(2026, 1, 8), "jira", template.placeholder)
        for field_name in ("title", "body"):
            yield from _try_render(f"gates[{index}].{field_name}", getattr(gate, field_name), context)
    comment_context = {"ticket": {"key": "PILOT-3", "title": "Build", "url": ""}, "epic": SAMPLE_EPIC,
                       "open_gates": [sample_gate], "gate": sample_gate, "tracker": "jira"}
    for field_name in ("work_started_early", "gates_clear", "gate_overdue"):
        yield from _try_render(f"comments.{field_name}", getattr(template.comments, field_name), comment_context)


def _try_render(path: str, source: str, context: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    try:
        render(source, **context)
    except JinjaError as err:
        line = f" (line {err.lineno})" if getattr(err, "lineno", None) else ""
        yield (path, f"template error{line}: {err.message or err}")


def gate_context(epic: Mapping[str, Any], gate: GateDef, due: date | None, tracker: str, placeholder: str) -> dict:
    return {"epic": epic, "gate": {"key": gate.key}, "due": due, "tracker": tracker, "placeholder": placeholder}


def template_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    return [path]


def load_template_file(path: Path) -> Template:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise TemplateProblem(str(path), [("(file)", f"cannot read: {err.strerror}")]) from None
    return parse_template(text, str(path))


def load_templates(folder: Path) -> dict[str, Template]:
    """Every template in a folder by name; raises the first file's TemplateProblem or a clash of names."""
    templates: dict[str, Template] = {}
    for path in template_files(Path(folder)):
        template = load_template_file(path)
        if template.name in templates:
            raise TemplateProblem(str(path), [("name", f"{template.name!r} is already defined in this folder")])
        templates[template.name] = template
    if not templates:
        raise TemplateProblem(str(folder), [("(folder)", "no .yaml templates found")])
    return templates


def default_templates_dir() -> Path:
    """The bundled templates: next to the source in a checkout, under share/ when installed."""
    for candidate in (Path(__file__).resolve().parents[1] / "templates",
                      Path(sys.prefix) / "share" / "pilotgate" / "templates"):
        if (candidate / f"{DEFAULT_TEMPLATE}.yaml").exists():
            return candidate
    raise FileNotFoundError("the bundled templates folder is missing; reinstall pilotgate")
