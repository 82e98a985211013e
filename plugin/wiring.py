"""Builds the parts a worker needs from the configuration: connectors, templates per tracker, retry policy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from connectors.base import Connector, Memory
from plugin import metrics
from plugin.config import Config, ConfigError
from plugin.logs import Redactor, secrets_of
from plugin.ledger import Ledger
from plugin.model import Tracker
from plugin.queue import Queue, Runner
from plugin.reconcile import reconcile
from plugin.templates import Template, TemplateProblem, load_templates
from plugin.worker import RetryPolicy, Worker


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
        from connectors.http_session import tracker_session

        session = tracker_session(config.github.api_url)
        session.hooks["response"].append(metrics.count_tracker_call(Tracker.GITHUB))
        found[Tracker.GITHUB] = GitHubConnector(config.github, memory, session=session)
    return found


def templates_by_tracker(config: Config, templates: Mapping[str, Template] | None = None) -> dict[Tracker, Template]:
    """The template each configured tracker uses; a name with no template file is a ConfigError."""
    if templates is None:
        try:
            templates = load_templates(config.templates)
        except TemplateProblem as problem:
            raise ConfigError(f"templates: {problem}") from None
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


@dataclass
class WorkerRuntime:
    """What a queue-consuming process runs: the ledger, the worker, and the queue bound to both."""

    config: Config
    ledger: Ledger
    worker: Worker
    queue: Queue

    def runner(self, threads: int | None = None, *, periodic: bool = True) -> Runner:
        """The consumer; `periodic=False` leaves out the scheduled maintenance and sweep."""
        return Runner(self.queue, threads or self.config.workers * 2, periodic=periodic)


def build_worker(config: Config, *, connectors: Mapping[Tracker, Connector] | None = None,
                 policy: RetryPolicy = RetryPolicy()) -> WorkerRuntime:
    """The worker side of Pilot Gate from its configuration; `connectors` lets tests bring fakes."""
    templates = templates_by_tracker(config)
    ledger = Ledger(config.database, base_dir=config.base_dir, pool_size=config.workers * 2 + 5)
    ledger.create_schema()
    if connectors is None:
        connectors = build_connectors(config, ledger)
    in_progress = config.github.in_progress if config.github is not None else ("In Progress",)
    worker = Worker(ledger, connectors, templates, policy=policy, in_progress=in_progress,
                    redact=Redactor(secrets_of(config)).mask)
    queue = Queue(config, ledger).bind(worker.process, lambda: reconcile(connectors, templates, ledger))
    return WorkerRuntime(config, ledger, worker, queue)
