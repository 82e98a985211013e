"""Pilot Gate's configuration: one YAML file, `${VAR}` expanded from the environment, validated once."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

DEFAULT_FILE = "pilotgate.yaml"
ENV_FILE = "PILOTGATE_CONFIG"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(Exception):
    """One line naming the file and the key that is wrong, and why."""


@dataclass(frozen=True)
class JiraConfig:
    url: str
    token: str
    webhook_secret: str
    pilots: str
    template: str
    email: str | None = None  # Cloud: email + API token; Data Center: personal access token alone
    bot_account: str | None = None  # accountId (Cloud) or name (DC) whose events are our own
    project: str | None = None  # project key for gates when it differs from the epic's
    gate_issue_type: str = "Task"
    link_type: str = "Blocks"
    timeout: float = 10.0

    @property
    def is_cloud(self) -> bool:
        return self.email is not None


@dataclass(frozen=True)
class GitHubConfig:
    repositories: tuple[str, ...]
    webhook_secret: str
    template: str
    api_url: str = "https://api.github.com"
    token: str | None = None
    app_id: str | None = None
    private_key: str | None = None
    installation_id: int | None = None
    pilot_label: str = "ai-pilot"
    epic_type: str | None = None  # e.g. "Epic" where the organization uses issue types
    in_progress: tuple[str, ...] = ("In Progress",)
    bot_login: str | None = None
    timeout: float = 10.0


@dataclass(frozen=True)
class Config:
    templates: Path
    database: str
    queue: str
    jira: JiraConfig | None = None
    github: GitHubConfig | None = None
    max_body_bytes: int = 1024 * 1024
    sweep_minutes: int = 15
    workers: int = 2
    base_dir: Path = Path(".")

    def trackers(self) -> list[str]:
        return [name for name in ("jira", "github") if getattr(self, name) is not None]


_required_text = dict(required=True, validate=validate.Length(min=1, error="must not be empty"))


class JiraSchema(Schema):
    url = fields.Url(require_tld=False, **_required_text)
    email = fields.String(load_default=None)
    token = fields.String(**_required_text)
    webhook_secret = fields.String(**_required_text)
    pilots = fields.String(**_required_text)
    template = fields.String(load_default="ai-pilot")
    bot_account = fields.String(load_default=None)
    project = fields.String(load_default=None)
    gate_issue_type = fields.String(load_default="Task")
    link_type = fields.String(load_default="Blocks")
    timeout = fields.Float(load_default=10.0, validate=validate.Range(min=0.1, max=300))

    @post_load
    def build(self, data: dict, **_: Any) -> JiraConfig:
        data["url"] = data["url"].rstrip("/")
        return JiraConfig(**data)


class GitHubSchema(Schema):
    api_url = fields.Url(require_tld=False, load_default="https://api.github.com")
    token = fields.String(load_default=None)
    app_id = fields.String(load_default=None)
    private_key = fields.String(load_default=None)
    installation_id = fields.Integer(load_default=None)
    webhook_secret = fields.String(**_required_text)
    repositories = fields.List(
        fields.String(validate=validate.Regexp(r"^[\w.-]+/[\w.-]+$", error="must be owner/name")),
        required=True,
        validate=validate.Length(min=1, error="name at least one repository"),
    )
    pilot_label = fields.String(load_default="ai-pilot")
    epic_type = fields.String(load_default=None)
    in_progress = fields.List(fields.String(), load_default=["In Progress"])
    template = fields.String(load_default="ai-pilot")
    bot_login = fields.String(load_default=None)
    timeout = fields.Float(load_default=10.0, validate=validate.Range(min=0.1, max=300))

    @validates_schema
    def one_way_to_authenticate(self, data: dict, **_: Any) -> None:
        app = [data.get(k) for k in ("app_id", "private_key", "installation_id")]
        if data.get("token") is None and not all(app):
            raise ValidationError("set token, or app_id + private_key + installation_id", "token")

    @post_load
    def build(self, data: dict, **_: Any) -> GitHubConfig:
        data["api_url"] = data["api_url"].rstrip("/")
        data["repositories"] = tuple(data["repositories"])
        data["in_progress"] = tuple(data["in_progress"])
        return GitHubConfig(**data)


class ConfigSchema(Schema):
    templates = fields.String(load_default="templates")
    database = fields.String(load_default="sqlite:///pilotgate.db")
    queue = fields.String(load_default="sqlite:///pilotgate-queue.db")
    jira = fields.Nested(JiraSchema, load_default=None)
    github = fields.Nested(GitHubSchema, load_default=None)
    max_body_bytes = fields.Integer(load_default=1024 * 1024, validate=validate.Range(min=1024))
    sweep_minutes = fields.Integer(load_default=15, validate=validate.Range(min=1))
    workers = fields.Integer(load_default=2, validate=validate.Range(min=1, max=64))

    @validates_schema
    def known_backends(self, data: dict, **_: Any) -> None:
        for key, schemes in (("database", ("sqlite", "postgresql")), ("queue", ("sqlite", "redis"))):
            if data.get(key) and data[key].split(":", 1)[0].split("+", 1)[0] not in schemes:
                raise ValidationError(f"must start with {' or '.join(s + '://' for s in schemes)}", key)


def config_path(explicit: str | os.PathLike | None = None) -> Path:
    return Path(explicit or os.environ.get(ENV_FILE) or DEFAULT_FILE)


def load_config(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read, expand and validate the configuration file; raise ConfigError naming file and key."""
    file = config_path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such configuration file (set --config or {ENV_FILE})") from None
    except yaml.YAMLError as err:
        line = getattr(getattr(err, "problem_mark", None), "line", None)
        where = f" line {line + 1}" if line is not None else ""
        raise ConfigError(f"{file}:{where} not valid YAML: {getattr(err, 'problem', err)}") from None
    return config_from_mapping(raw or {}, source=str(file), base_dir=file.parent, env=env)


def config_from_mapping(
    raw: Mapping[str, Any],
    source: str = "<config>",
    base_dir: Path = Path("."),
    env: Mapping[str, str] | None = None,
) -> Config:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: the top level must be a mapping of keys")
    expanded = _expand(raw, os.environ if env is None else env, source, "")
    try:
        data = ConfigSchema().load(expanded)
    except ValidationError as err:
        key, reason = _first_error(err.messages)
        raise ConfigError(f"{source}: {key}: {reason}") from None
    templates = Path(data.pop("templates"))
    if not templates.is_absolute():
        templates = (base_dir / templates).resolve()
    return Config(templates=templates, base_dir=base_dir, **data)


def _expand(value: Any, env: Mapping[str, str], source: str, key: str) -> Any:
    if isinstance(value, str):
        def substitute(match: re.Match) -> str:
            name = match.group(1)
            if name not in env:
                raise ConfigError(f"{source}: {key}: environment variable {name} is not set")
            return env[name]

        return _VAR.sub(substitute, value)
    if isinstance(value, Mapping):
        return {k: _expand(v, env, source, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, source, f"{key}[{i}]") for i, v in enumerate(value)]
    return value


def _first_error(messages: Any, prefix: str = "") -> tuple[str, str]:
    """marshmallow's nested messages flattened to the first `a.b.c` path and its reason."""
    if isinstance(messages, Mapping):
        for name, inner in messages.items():
            path = prefix if name == "_schema" else (f"{prefix}.{name}" if prefix else str(name))
            return _first_error(inner, path)
    if isinstance(messages, list) and messages:
        return _first_error(messages[0], prefix) if not isinstance(messages[0], str) else (prefix, messages[0])
    return prefix or "(top level)", str(messages)
