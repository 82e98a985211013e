"""Builds the parts a worker needs from the configuration: connectors, templates per tracker, retry policy."""

from __future__ import annotations

from typing import Mapping

import requests

from connectors.base import Connector, Memory
from plugin import metrics
from plugin.config import Config, ConfigError
from plugin.model import Tracker
from plugin.templates import Template, load_templates


def build_connectors(config: Config, memory: Memory) -> dict[Tracker, Connector]:
    """One connector per configured tracker; their HTTP sessions count API calls for /metrics."""
    found: dict[Tracker, Connector] = {}
    if config.jira is not None:
        from connectors.jira import JiraConnector
        from connectors.jira_http import jira_session

        session = jira_session(config.jira)
        session.hooks["response"].append(metrics.count_tracker_call(Tracker.JIRA))
        found[Tracker.JIRA] = JiraConnector(config.jira, memory, session=session)
    if config.github is not None:
        from connectors.github import GitHubConnector

        session = requests.Session()
        session.hooks["response"].append(metrics.count_tracker_call(Tracker.GITHUB))
        found[Tracker.GITHUB] = GitHubConnector(config.github, memory, session=session)
    return found


def templates_by_tracker(config: Config, templates: Mapping[str, Template] | None = None) -> dict[Tracker, Template]:
    """The template each configured tracker uses; a name with no template file is a ConfigError."""
    if templates is None:
        templates = load_templates(config.templates)
    chosen: dict[Tracker, Template] = {}
    for tracker, section in ((Tracker.JIRA, config.jira), (Tracker.GITHUB, config.github)):
        if section is None:
            continue
        if section.template not in templates:
            known = ", ".join(sorted(templates)) or "none"
            raise ConfigError(f"{tracker.value}.template: no template named {section.template!r} "
                              f"in {config.templates} (found: {known})")
        chosen[tracker] = templates[section.template]
    return chosen
