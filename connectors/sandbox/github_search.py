"""GitHub issue search (`q=` qualifiers) over the sandbox store: the qualifiers a connector needs, no more."""

from __future__ import annotations

import re
import shlex
from typing import Any, Callable

from connectors.sandbox.github_store import GitHubError, GitHubStore

Check = Callable[[dict[str, Any]], bool]
_QUALIFIER = re.compile(r"^(-?)([a-z-]+):(.+)$")


def search_issues(github: GitHubStore, query: str) -> list[dict[str, Any]]:
    """Issues and pull requests matching every term of `query`, newest first, as GitHub's default sort."""
    checks = [_term(github, term) for term in _terms(query)]
    if not checks:
        raise GitHubError(422, "Validation Failed: the search query (q) must not be empty")
    found = [i for i in github.data["issues"].values() if all(check(i) for check in checks)]
    return sorted(found, key=lambda issue: issue["id"], reverse=True)


def _terms(query: str) -> list[str]:
    try:
        return shlex.split(query)
    except ValueError as err:
        raise GitHubError(422, f"Validation Failed: the search query has an unbalanced quote ({err})") from None


def _term(github: GitHubStore, term: str) -> Check:
    found = _QUALIFIER.match(term)
    if not found:
        word = term.lower()
        return lambda i: word in (i["title"] + " " + (i["body"] or "")).lower()
    negate, name, value = found.groups()
    check = _qualifier(github, name, value)
    return (lambda i: not check(i)) if negate else check


def _qualifier(github: GitHubStore, name: str, value: str) -> Check:
    lowered = value.lower()
    if name == "repo":
        return lambda i: i["repo"].lower() == lowered
    if name in ("org", "user"):
        return lambda i: i["repo"].split("/")[0].lower() == lowered
    if name == "label":
        names = {v.lower() for v in value.split(",")}
        return lambda i: bool(names & {label.lower() for label in i["labels"]})
    if name in ("is", "type", "state") and lowered in ("issue", "pr", "pull-request", "open", "closed"):
        return _kind_or_state(lowered)
    if name == "type":
        return lambda i: (i["type"] or "").lower() == lowered
    if name == "in" and lowered in ("title", "body", "comments"):
        return lambda i: True  # scope of the free-text words; the sandbox searches title and body
    if name == "parent-issue":
        return _parent_check(github, value)
    if name in ("no", "has") and lowered in ("parent-issue", "sub-issues", "label", "assignee"):
        present = _presence(lowered)
        return (lambda i: not present(i)) if name == "no" else present
    if name == "sort":
        return lambda i: True  # results are always newest first here
    raise GitHubError(422, f"Validation Failed: the qualifier '{name}:' is not supported by the sandbox search")


def _kind_or_state(value: str) -> Check:
    if value == "issue":
        return lambda i: not i["pull"]
    if value in ("pr", "pull-request"):
        return lambda i: bool(i["pull"])
    return lambda i: i["state"] == value


def _parent_check(github: GitHubStore, value: str) -> Check:
    repo, _, number = value.partition("#")
    if not number.isdigit():
        raise GitHubError(422, f"Validation Failed: parent-issue must be owner/repo#number, not '{value}'")
    parent_id = github.by_number.get(f"{repo}#{number}")
    return lambda i: parent_id is not None and i["parent"] == parent_id


def _presence(what: str) -> Check:
    field = {"parent-issue": "parent", "sub-issues": "sub_issues", "label": "labels", "assignee": "assignees"}[what]
    return lambda i: bool(i[field])
