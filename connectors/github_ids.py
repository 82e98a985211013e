"""Node ids GitHub's GraphQL mutations need: from the snapshot, the ledger, or one lookup query for the rest."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from connectors.base import PermanentError
from connectors.github_graphql import RepoFacts, create_labels, lookup, node_key
from connectors.github_http import GitHubHttp
from connectors.github_markers import split_key
from plugin.model import Epic

LABEL_COLOR = "ededed"  # GitHub's grey for labels created without a colour
UNKNOWN = "?"  # parent not read yet


@dataclass
class GateRef:
    """An issue as mutations name it; `parent` is the parent's node id, None without one, UNKNOWN unread."""

    key: str
    database_id: int
    node_id: str = ""
    parent: str | None = UNKNOWN

    @property
    def ref(self) -> str:
        return f"{self.database_id}:{self.node_id}"

    @classmethod
    def parse(cls, key: str, ref: str, parent: str | None = UNKNOWN) -> "GateRef":
        database_id, _, node_id = ref.partition(":")
        return cls(key, int(database_id), node_id, parent)


class IdBook:
    """Issue and label node ids for one apply; repository facts are shared across applies (`repos`)."""

    def __init__(self, http: GitHubHttp, repos: dict[str, RepoFacts], epic: Epic) -> None:
        self.http = http
        self.repos = repos
        self.issues: dict[str, GateRef] = {}
        self.labels_created_in: set[str] = set()  # repositories a createLabel request was sent to
        epic_ref = self._learn(epic.ticket.key, epic.ticket.ref, UNKNOWN)
        for child in epic.children:
            self._learn(child.key, child.ref, epic_ref.node_id if epic_ref else UNKNOWN)

    def _learn(self, key: str, ref: str | None, parent: str | None) -> GateRef | None:
        if not ref or ":" not in ref or not ref.partition(":")[2]:
            return None
        self.issues[key] = GateRef.parse(key, ref, parent)
        return self.issues[key]

    def remember(self, gate: GateRef) -> None:
        self.issues[gate.key] = gate

    def issue(self, key: str) -> GateRef:
        found = self.issues.get(key)
        if found is None:
            raise PermanentError(f"{key}: GitHub has no such issue, or the bot may not see it")
        return found

    def repo(self, repository: str) -> RepoFacts:
        return self.repos[repository.lower()]

    def resolve(self, repository: str, labels: Iterable[str] = (), issues: Iterable[str] = (),
                parents_of: Iterable[str] = ()) -> None:
        """One lookup query for whatever of these is not known yet; nothing when everything is.
        Asking for labels (even known ones) makes sure the repository's node id is known too."""
        facts = self.repos.get(repository.lower())
        wanted_labels = sorted({name for name in labels if facts is None or
                                (name not in facts.labels and not facts.all_labels_read)})
        wanted_issues = [k for k in dict.fromkeys(issues) if k not in self.issues]
        wanted_issues += [k for k in dict.fromkeys(parents_of)
                          if k not in wanted_issues and self.issues.get(k, GateRef(k, 0)).parent == UNKNOWN]
        if not wanted_labels and not wanted_issues:
            return
        owner, name = repository.split("/", 1)
        variables: dict[str, object] = {"owner": owner, "name": name}
        variables.update({f"l{i}": label for i, label in enumerate(wanted_labels)})
        for i, key in enumerate(wanted_issues):
            variables[f"o{i}"], variables[f"r{i}"], variables[f"n{i}"] = split_key(key)
        data = self.http.graphql(lookup(len(wanted_labels), len(wanted_issues)), variables)
        self._read_repo(repository, data.get("repo"), len(wanted_labels))
        for i in range(len(wanted_issues)):
            node = (data.get(f"i{i}") or {}).get("issue")
            if node is not None:
                self.remember(GateRef(node_key(node), node["databaseId"], node["id"],
                                      (node.get("parent") or {}).get("id")))

    def _read_repo(self, repository: str, node: dict | None, labels: int) -> None:
        if node is None:
            raise PermanentError(f"{repository}: GitHub has no such repository, or the bot may not see it")
        facts = self.repos.setdefault(repository.lower(), RepoFacts(node["id"]))
        for i in range(labels):
            label = node.get(f"l{i}")
            if label is not None:
                facts.labels[label["name"]] = label["id"]

    def label_ids(self, repository: str, names: Iterable[str]) -> list[str]:
        """Label node ids in `names` order, creating the labels the repository lacks (one request)."""
        facts = self.repo(repository)
        missing = [n for n in dict.fromkeys(names) if n not in facts.labels]
        if missing:
            self._create_labels(repository, facts, missing)
        return [facts.labels[n] for n in names]

    def _create_labels(self, repository: str, facts: RepoFacts, names: list[str]) -> None:
        variables = {f"l{i}": {"repositoryId": facts.node_id, "name": name, "color": LABEL_COLOR}
                     for i, name in enumerate(names)}
        self.labels_created_in.add(repository)
        answer = self.http.mutate(create_labels(len(names)), variables)
        for i in range(len(names)):
            payload = answer.payload(f"l{i}")
            if payload and payload.get("label"):
                facts.labels[payload["label"]["name"]] = payload["label"]["id"]
        for i in range(len(names)):
            failure = answer.failure(f"l{i}")
            if failure is not None:
                # Someone may have created it meanwhile: forget what we know so the next try looks it up.
                self.repos.pop(repository.lower(), None)
                raise failure
