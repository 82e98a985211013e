"""The demo's story, narrated: two teams open AI pilots, start work too early, then do the groundwork."""

from __future__ import annotations

import textwrap
import time
from datetime import datetime, timezone
from typing import Callable

from plugin.demo_stack import DemoFailure, Stack, wait_for
from plugin.demo_story import OWNER_NAME, GitHubTeam, JiraTeam, Pilot, Team, Watcher
from plugin.model import Epic, Tracker
from plugin.readiness import assess_all
from plugin.report import pilot_rows, render_table

JIRA_PILOT = ("Invoice triage assistant", ["Train the invoice classifier", "Label 2,000 historical invoices",
                                           "Build the approval review screen"])
GITHUB_PILOT = ("Demand forecasting copilot", ["Data pipeline spike"])
WIDTH = 100
LINKS = {Tracker.JIRA: 'Jira "Blocks" links', Tracker.GITHUB: "GitHub issue dependencies"}


class Story:
    """Runs the scenes against a started Stack, printing a few lines per step through `echo`."""

    def __init__(self, stack: Stack, echo: Callable[[str], None], timeout: float) -> None:
        self.stack = stack
        self.echo = echo
        self.timeout = timeout
        self.watchers = {t: Watcher(stack.connectors[t], stack.templates[t]) for t in stack.connectors}
        self.step = 0
        self.comments_shown = 0
        self.opened: dict[str, float] = {}  # epic key -> when the team opened it (monotonic)

    def run(self) -> None:
        jira, github = JiraTeam(self.stack.sandbox), GitHubTeam(self.stack.sandbox)
        self.heading("Two teams open AI pilots, the way they always do")
        pilots = [self.open_pilot(jira, *JIRA_PILOT, "a Jira epic labelled ai-pilot, with three tickets"),
                  self.open_pilot(github, *GITHUB_PILOT, "a GitHub issue labelled ai-pilot, with a sub-issue")]
        for team, pilot in zip((jira, github), pilots):
            self.chapter(team, pilot)
        self.heading("The readiness report (`pilotgate report`; the dashboard shows the same)")
        self.report()

    def chapter(self, team: Team, pilot: Pilot) -> None:
        place = "Jira" if pilot.tracker is Tracker.JIRA else "GitHub"
        self.heading(f"{place}: Pilot Gate inserts the gate tickets into {pilot.key}")
        epic = self.gates(pilot)
        first, title = pilot.work[0]
        self.heading(f"{place}: work starts before the gates are done")
        self.work_starts(team, pilot, first, title)
        self.heading(f"{place}: the team does the groundwork and closes the four gates")
        self.groundwork(team, pilot, epic, first)

    # scenes

    def open_pilot(self, team: Team, title: str, work: list[str], what: str) -> Pilot:
        pilot = team.open_pilot(title, work)
        self.opened[pilot.key] = time.monotonic()
        self.echo(f"   {what}:")
        self.tickets([(pilot.key, pilot.title)] + list(pilot.work))
        return pilot

    def gates(self, pilot: Pilot) -> Epic:
        watcher = self.watchers[pilot.tracker]
        if pilot.tracker is Tracker.GITHUB:
            self.echo("   (GitHub asks apps to space their writes a second apart: 12 calls here, so ~12 s)")
        step = f"the gate tickets of {pilot.key}, created by webhook"
        try:
            epic = wait_for(step, lambda: watcher.gates_in_place(pilot.key), self.timeout)
            how = "by webhook"
        except DemoFailure:
            self.echo(f"   No gates {self.timeout:g} s after the webhooks: running the sweep (`pilotgate sync`), "
                      "the fallback for missed webhooks")
            self.stack.sweep(pilot.key)
            epic = wait_for(f"the gate tickets of {pilot.key}, by webhook or sweep",
                            lambda: watcher.gates_in_place(pilot.key), self.timeout)
            how = "by the sweep"
        gates = sorted(epic.gates().values(), key=lambda t: t.created or datetime.max.replace(tzinfo=timezone.utc))
        self.echo(f"   Four gate tickets, {how}, {time.monotonic() - self.opened[pilot.key]:.1f} s after the epic "
                  "was opened:")
        self.tickets([(g.key, g.title) for g in gates])
        blocked = ", ".join(w.key for w in epic.work())
        self.echo(f"   Each one blocks {blocked} ({LINKS[pilot.tracker]}).")
        return epic

    def work_starts(self, team: Team, pilot: Pilot, key: str, title: str) -> None:
        watcher = self.watchers[pilot.tracker]
        self.echo(f"   {team.start_work(key)} ({title}).")
        began = time.monotonic()
        text = wait_for(f"Pilot Gate's comment on {key} after work started", lambda: watcher.comment(pilot.key, key),
                        self.timeout)
        later = f"   {time.monotonic() - began:.1f} s later, Pilot Gate comments on {key}"
        if self.comments_shown:  # the same words as the first one, about this pilot's own gates
            self.echo(f"{later} (its first line; the rest names the open gates, as before):")
            self.quote(text.strip().splitlines()[0])
        else:
            self.echo(f"{later}:")
            self.quote(text)
        self.comments_shown += 1

    def groundwork(self, team: Team, pilot: Pilot, epic: Epic, key: str) -> None:
        watcher = self.watchers[pilot.tracker]
        template = self.stack.templates[pilot.tracker]
        rules = {g.key: g.done_when for g in template.gates}
        for gate_key, gate in epic.gates().items():
            team.complete_gate(gate, template.placeholder)
            done = ["placeholders filled in"] if rules[gate_key].filled else []
            done += ["sign-off boxes ticked"] if rules[gate_key].checklist else []
            done += [f"assigned to {OWNER_NAME[pilot.tracker]} (operations owner)"] if rules[gate_key].assignee else []
            done.append("closed" if pilot.tracker is Tracker.GITHUB else "moved to Done")
            self.echo(f"   {gate.key}: {', '.join(done)}")
        began = time.monotonic()
        text = wait_for(f"Pilot Gate's updated comment on {key} once every gate is done",
                        lambda: watcher.settled_comment(pilot.key, key), self.timeout)
        self.echo(f"   {time.monotonic() - began:.1f} s later, Pilot Gate has edited its comment on {key} "
                  "(still one comment):")
        self.quote(text)

    def report(self) -> None:
        now = datetime.now(timezone.utc)
        snapshot = assess_all(self.stack.connectors.values(), self.stack.templates, now)
        if snapshot.errors:
            raise DemoFailure("the readiness report: " + "; ".join(snapshot.errors))
        self.quote(render_table(pilot_rows(snapshot.readiness, now), now), wrap=False)

    # output

    def heading(self, text: str) -> None:
        self.step += 1
        self.echo(f"\n{self.step}. {text}")

    def tickets(self, rows: list[tuple[str, str]]) -> None:
        width = max(len(key) for key, _ in rows)
        for key, title in rows:
            self.echo(f"     {key:<{width}}  {title}")

    def quote(self, text: str, wrap: bool = True) -> None:
        """Indented text, long lines wrapped unless `wrap` is off (tables)."""
        for line in text.strip().splitlines():
            pieces = textwrap.wrap(line, WIDTH - 7, subsequent_indent="    ") if wrap and line.strip() else [line]
            for piece in pieces:
                self.echo(f"     | {piece}".rstrip())
