"""Creating gate tickets in Jira: bulk, stamped at birth, recorded at once, never sent twice blindly."""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, Mapping, Sequence

from connectors.base import Memory, Outcome, PermanentError, TransientError, split_keys
from connectors.jira_http import JiraHttp, UncertainWrite, error_collection_text
from connectors.jira_mapping import GATE_PROPERTY, gate_label, gate_of, safe_label
from plugin.config import JiraConfig
from plugin.model import CreateGates, Epic, GateSpec, Tracker

log = logging.getLogger(__name__)

BULK_LIMIT = 50  # issue/bulk accepts at most 50 issueUpdates
UNCERTAIN_RECHECK_SECONDS = 120.0  # long enough for search to show issues created by a lost request

Created = dict[str, tuple[str, str]]  # gate key -> (issue key, issue id)


class GateCreator:
    """Applies CreateGates for one connector. `find_gates(epic_key)` re-reads gates (search + reconcile)."""

    def __init__(
        self,
        http: JiraHttp,
        memory: Memory,
        config: JiraConfig,
        find_gates: Callable[[str], Created],
    ) -> None:
        self.http = http
        self.memory = memory
        self.config = config
        self.find_gates = find_gates

    def apply(self, epic: Epic, action: CreateGates, project: str) -> Outcome:
        """Create the gates of `action` that neither the snapshot nor the ledger knows."""
        known = set(epic.gates()) | set(self.memory.gate_tickets(Tracker.JIRA, epic.key))
        missing = _unique(spec for spec in action.gates if spec.gate not in known)
        if not missing:
            return Outcome(action, done=False, reason="every gate already exists", gates_exist=True)
        created: Created = {}
        failures: list[str] = []
        for chunk in split_keys(missing, BULK_LIMIT):
            made, failed = self._create(epic.key, project, chunk)
            created.update(made)
            failures += failed
        keys = tuple(key for key, _ in created.values())
        if failures:
            return Outcome(action, done=False, reason="; ".join(failures), created_keys=keys)
        return Outcome(action, done=True, created_keys=keys)

    def _create(self, epic_key: str, project: str, specs: list[GateSpec]) -> tuple[Created, list[str]]:
        made, failed = self._bulk(epic_key, project, specs, with_links=True)
        # Links in the create payload need the issuelinks field on the create screen; where it is
        # not, Jira rejects that element (nothing was created), so create it plainly and link after.
        unlinkable = [spec for spec, errors in failed if "issuelinks" in (errors.get("errors") or {})]
        if unlinkable:
            again, failed_again = self._bulk(epic_key, project, unlinkable, with_links=False)
            for spec in unlinkable:
                if spec.gate in again:
                    self._link_after(again[spec.gate][0], spec.blocks)
            made.update(again)
            failed = [f for f in failed if f[0] not in unlinkable] + failed_again
        return made, [f"{spec.gate}: {error_collection_text(errors)}" for spec, errors in failed]

    def _bulk(
        self, epic_key: str, project: str, specs: list[GateSpec], with_links: bool
    ) -> tuple[Created, list[tuple[GateSpec, Mapping[str, Any]]]]:
        body = {"issueUpdates": [self.payload(epic_key, project, s, with_links) for s in specs]}
        try:
            answer = self.http.post("issue/bulk", body, repeatable=False, accept=(400,)) or {}
        except UncertainWrite as err:
            return self._after_uncertain(epic_key, specs, err), []
        if "issues" not in answer and "errors" not in answer:
            raise PermanentError(f"Jira refused the gate tickets: {error_collection_text(answer)}",
                                 status=400, request="POST /rest/api/2/issue/bulk")
        errors = {e.get("failedElementNumber"): e.get("elementErrors") or {} for e in answer.get("errors") or []}
        accepted = [spec for index, spec in enumerate(specs) if index not in errors]
        made: Created = {}
        for spec, issue in zip(accepted, answer.get("issues") or []):
            self.memory.record_gate(Tracker.JIRA, epic_key, spec.gate, issue["key"], str(issue["id"]))
            made[spec.gate] = (issue["key"], str(issue["id"]))
        failed = [(specs[i], errors[i]) for i in sorted(e for e in errors if isinstance(e, int) and e < len(specs))]
        return made, failed

    def payload(self, epic_key: str, project: str, spec: GateSpec, with_links: bool) -> dict[str, Any]:
        """One IssueUpdateDetails: a child of the epic, stamped with its gate key, blocking its work."""
        fields: dict[str, Any] = {
            "project": {"key": project},
            "issuetype": {"name": self.config.gate_issue_type},
            "summary": spec.title,
            "description": spec.body,
            "labels": sorted({safe_label(label) for label in spec.labels} | {gate_label(spec.gate)}),
            "parent": {"key": epic_key},
        }
        if spec.due is not None:
            fields["duedate"] = spec.due.isoformat()
        details: dict[str, Any] = {
            "fields": fields,
            "properties": [{"key": GATE_PROPERTY, "value": {"gate": spec.gate, "epic": epic_key}}],
        }
        if with_links and spec.blocks:
            # Seen from the new gate, `outwardIssue` W reads "gate blocks W" (issue linking model).
            details["update"] = {"issuelinks": [
                {"add": {"type": {"name": self.config.link_type}, "outwardIssue": {"key": key}}}
                for key in spec.blocks
            ]}
        return details

    def _after_uncertain(self, epic_key: str, specs: list[GateSpec], err: UncertainWrite) -> Created:
        """The create may or may not have happened: look before trying again, and never guess."""
        found = self.find_gates(epic_key)
        made: Created = {}
        for spec in specs:
            if spec.gate in found:
                key, ref = found[spec.gate]
                self.memory.record_gate(Tracker.JIRA, epic_key, spec.gate, key, ref)
                made[spec.gate] = (key, ref)
        unseen = [spec.gate for spec in specs if spec.gate not in made]
        if unseen:
            log.warning("gate create for %s uncertain (%s); not re-sending %s yet", epic_key, err, unseen)
            raise TransientError(
                f"creating gates {', '.join(unseen)} of {epic_key} failed midway ({err}) and search does "
                f"not show them yet; check again later instead of risking duplicates",
                retry_after=UNCERTAIN_RECHECK_SECONDS, status=err.status, request=err.request,
            )
        return made

    def _link_after(self, gate_key: str, blocks: Sequence[str]) -> None:
        for blocked in blocks:
            self.http.post("issueLink", link_body(self.config.link_type, gate_key, blocked))


def link_body(link_type: str, blocker: str, blocked: str) -> dict[str, Any]:
    """LinkIssueRequestJsonBean for "blocker blocks blocked".

    POST issueLink names the link's source `inwardIssue` and its destination `outwardIssue`; the
    source carries the outward description ("blocks"), so the blocker goes into `inwardIssue`.
    """
    return {"type": {"name": link_type}, "inwardIssue": {"key": blocker}, "outwardIssue": {"key": blocked}}


def gates_among(issues: Iterable[Mapping[str, Any]]) -> Created:
    """Gate key -> (key, id) among raw child issues; the oldest wins when a gate was copied."""
    found: Created = {}
    for raw in sorted(issues, key=lambda r: ((r.get("fields") or {}).get("created") or "", r["key"])):
        gate = gate_of(raw)
        if gate and gate not in found:
            found[gate] = (raw["key"], str(raw.get("id", "")))
    return found


def _unique(specs: Iterable[GateSpec]) -> list[GateSpec]:
    seen: dict[str, GateSpec] = {}
    for spec in specs:
        seen.setdefault(spec.gate, spec)
    return list(seen.values())
