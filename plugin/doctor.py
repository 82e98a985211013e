"""`pilotgate doctor`: checks configuration, templates, credentials, permissions and webhook reachability."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import requests

from connectors.base import TrackerError
from plugin.config import Config, ConfigError, GitHubConfig, JiraConfig, load_config
from plugin.templates import TemplateProblem, load_templates
from plugin.wiring import templates_by_tracker

JIRA_PERMISSIONS = ("CREATE_ISSUES", "LINK_ISSUES", "ADD_COMMENTS", "EDIT_ISSUES")
PROBE_TIMEOUT = 5.0
_ISSUE_KEY = re.compile(r"^([A-Z][A-Z0-9_]*)-\d+$")


@dataclass(frozen=True)
class Check:
    """One line of the doctor's answer. `ok` None means skipped: nothing failed, nothing proven."""

    area: str
    ok: bool | None
    detail: str
    fix: str = ""

    @property
    def word(self) -> str:
        return {True: "OK", False: "FAIL", None: "SKIP"}[self.ok]


def diagnose(config_file: str | Path | None, public_url: str | None = None) -> list[Check]:
    """Every check in order; later checks that depend on a failed one are not run."""
    checks: list[Check] = []
    try:
        config = load_config(config_file)
    except ConfigError as err:
        return [Check("config", False, str(err), "fix the file and key named above, then run doctor again")]
    checks.append(Check("config", True, f"trackers configured: {', '.join(config.trackers()) or 'none'}"))
    if not config.trackers():
        checks.append(Check("config", False, "neither jira nor github is configured",
                            "add a jira: or github: section (see docs/ADMIN.md)"))
    checks.append(_templates(config))
    if config.jira is not None:
        checks.extend(jira_checks(config.jira))
    if config.github is not None:
        checks.extend(github_checks(config.github))
    checks.extend(webhook_checks(config, public_url))
    return checks


def _templates(config: Config) -> Check:
    try:
        chosen = templates_by_tracker(config, load_templates(config.templates))
    except TemplateProblem as problem:
        return Check("templates", False, "; ".join(problem.lines()),
                     f"run `pilotgate templates check {config.templates}` and fix what it names")
    except ConfigError as err:
        return Check("templates", False, str(err), "name an existing template, or add the file to the templates folder")
    used = ", ".join(f"{tracker.value}: {template.name}" for tracker, template in chosen.items())
    return Check("templates", True, f"{config.templates} ({used})")


def _guarded(area: str, fix: str, probe: Callable[[], Iterator[Check]]) -> Iterator[Check]:
    """Run a probe; a tracker error ends it with one FAIL line naming the request and the answer."""
    try:
        yield from probe()
    except TrackerError as err:
        yield Check(area, False, str(err), fix)


def jira_checks(config: JiraConfig, http: Any = None) -> list[Check]:
    from connectors.jira_http import JiraHttp

    client = http or JiraHttp(config)
    auth_fix = ("check jira.email and jira.token (an API token from id.atlassian.com)" if config.is_cloud
                else "check jira.token (a personal access token of the bot user)")
    checks = list(_guarded("jira credentials", auth_fix, lambda: _jira_identity(client)))
    if not all(c.ok for c in checks):
        return checks
    projects: list[str] = []
    checks += _guarded("jira pilots", "fix the JQL in jira.pilots (try it in Jira's issue search first)",
                       lambda: _jira_pilots(client, config, projects))
    for project in projects:
        checks += _guarded("jira permissions", f"let the bot user browse project {project}",
                           lambda project=project: _jira_permissions(client, project))
    return checks


def _jira_identity(client: Any) -> Iterator[Check]:
    me = client.get("myself")
    who = me.get("displayName") or me.get("name") or "?"
    ident = me.get("accountId") or me.get("name") or me.get("key") or "?"
    yield Check("jira credentials", True, f"authenticated as {who} ({ident})")


def _jira_pilots(client: Any, config: JiraConfig, projects: list[str]) -> Iterator[Check]:
    """Runs the pilots JQL once; the projects of the epics it finds are the ones to check permissions in."""
    path = "search/jql" if config.is_cloud else "search"
    answer = client.get(path, {"jql": config.pilots, "fields": "key", "maxResults": 50})
    keys = [issue["key"] for issue in answer.get("issues", [])]
    found = sorted({m.group(1) for m in map(_ISSUE_KEY.match, keys) if m} | ({config.project} if config.project else set()))
    projects.extend(found)
    if not keys:
        yield Check("jira pilots", None, f"the pilots JQL matches no epic yet: {config.pilots}",
                    "label an epic as a pilot, or set jira.project so its permissions can be checked")
        return
    more = "+" if not answer.get("isLast", True) or answer.get("total", len(keys)) > len(keys) else ""
    yield Check("jira pilots", True, f"{len(keys)}{more} pilot epics in {', '.join(found)}")


def _jira_permissions(client: Any, project: str) -> Iterator[Check]:
    answer = client.get("mypermissions", {"projectKey": project, "permissions": ",".join(JIRA_PERMISSIONS)})
    granted = answer.get("permissions", {})
    missing = [p for p in JIRA_PERMISSIONS if not granted.get(p, {}).get("havePermission")]
    if missing:
        yield Check("jira permissions", False, f"project {project}: missing {', '.join(missing)}",
                    f"grant the bot user {', '.join(missing)} in {project}'s permission scheme")
    else:
        yield Check("jira permissions", True, f"project {project}: can create, link, comment on and edit issues")


def github_checks(config: GitHubConfig, http: Any = None) -> list[Check]:
    from connectors.github import authorization
    from connectors.github_http import GitHubHttp

    auth_fix = ("check github.token (a fine-grained token with Issues: write on the repositories)"
                if config.token else "check github.app_id, private_key and installation_id")
    try:
        client = http or GitHubHttp(config.api_url, authorization(config), timeout=config.timeout, max_retries=0)
    except (TrackerError, ValueError) as err:
        return [Check("github credentials", False, str(err), auth_fix)]
    checks = list(_guarded("github credentials", auth_fix, lambda: _github_identity(client, config)))
    if not all(c.ok for c in checks):
        return checks
    for repo in config.repositories:
        checks += _guarded("github permissions", f"give the bot access to {repo}", lambda repo=repo: _github_repo(client, repo))
    return checks


def _github_identity(client: Any, config: GitHubConfig) -> Iterator[Check]:
    if config.token:
        user = client.get("/user")
        yield Check("github credentials", True, f"authenticated as {user.get('login')}")
        return
    answer = client.get("/installation/repositories", {"per_page": 100})
    names = {r.get("full_name") for r in answer.get("repositories", [])}
    absent = [r for r in config.repositories if r not in names]
    if absent:
        yield Check("github credentials", False, f"the App installation cannot see {', '.join(absent)}",
                    "add those repositories to the App's installation (organization settings > GitHub Apps)")
    else:
        yield Check("github credentials", True, f"App installation sees {answer.get('total_count', len(names))} repositories")


def _github_repo(client: Any, repo: str) -> Iterator[Check]:
    data = client.get(f"/repos/{repo}")
    rights = data.get("permissions")
    if rights is None:  # installation tokens: the App's own permissions apply (github-app-manifest.json)
        yield Check("github permissions", True, f"{repo}: visible to the App installation")
    elif rights.get("triage") or rights.get("push"):
        yield Check("github permissions", True, f"{repo}: can create issues, sub-issues, dependencies and comments")
    else:
        yield Check("github permissions", False, f"{repo}: read-only access (needs triage or write)",
                    f"give the bot's account the triage role (or write) on {repo}")


def webhook_checks(config: Config, public_url: str | None, session: requests.Session | None = None) -> list[Check]:
    """Pilot Gate's public address must answer, and refuse an unsigned delivery with 401."""
    if not public_url:
        return [Check("webhooks", None, "no public URL given, so reachability was not checked",
                      "run `pilotgate doctor --public-url https://pilotgate.example.com`, or open the webhook's "
                      "recent deliveries (Jira: System > WebHooks; GitHub: Settings > Webhooks)")]
    http = session or requests.Session()
    base = public_url.rstrip("/")
    try:
        health = http.get(f"{base}/healthz", timeout=PROBE_TIMEOUT)
    except requests.RequestException as err:
        return [Check("webhooks", False, f"{base}/healthz: {type(err).__name__}",
                      "start `pilotgate serve` and make the address reachable from the internet")]
    if health.status_code != 200:
        return [Check("webhooks", False, f"{base}/healthz answered {health.status_code}",
                      "point the public URL at pilotgate serve (or its load balancer)")]
    return [_unsigned_refused(http, base, tracker) for tracker in config.trackers()]


def _unsigned_refused(http: requests.Session, base: str, tracker: str) -> Check:
    url = f"{base}/webhooks/{tracker}"
    headers = {"Content-Type": "application/json"}
    if tracker == "github":
        headers.update({"X-GitHub-Event": "ping", "X-GitHub-Delivery": "pilotgate-doctor"})
    try:
        answer = http.post(url, data=b"{}", headers=headers, timeout=PROBE_TIMEOUT)
    except requests.RequestException as err:
        return Check("webhooks", False, f"{url}: {type(err).__name__}", "make the webhook path reachable")
    if answer.status_code == 401:
        return Check("webhooks", True, f"{url} is reachable and refuses unsigned deliveries")
    return Check("webhooks", False, f"{url} answered {answer.status_code} to an unsigned delivery (expected 401)",
                 f"route {url} to pilotgate serve and set {tracker}.webhook_secret")
