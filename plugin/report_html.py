"""Readiness as HTML: the dashboard page (also a standalone report file) and its server-side SVG chart."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from plugin.engine import ABSENT, DONE, INCOMPLETE, OPEN, OVERDUE
from plugin.report import STATE_WORDS, VERDICT_WORDS, VERDICTS, PilotRow, completion_by_gate, summary

WEB = Path(__file__).resolve().parent / "web"
TEMPLATE = "dashboard.html"
CSS_FILE = WEB / "static" / "dashboard.css"
# Stack order of the chart, left to right: finished first so the eye reads progress.
CHART_STATES = (DONE, INCOMPLETE, OPEN, OVERDUE, ABSENT)
FILTER_KEYS = ("tracker", "verdict", "gate")


@dataclass(frozen=True)
class Filters:
    """What the admin narrowed the view to; empty strings mean "all"."""

    tracker: str = ""
    verdict: str = ""
    gate: str = ""  # a gate state: show pilots with at least one gate in it

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> "Filters":
        return cls(*(str(args.get(k) or "").strip() for k in FILTER_KEYS))

    def keep(self, row: PilotRow) -> bool:
        return ((not self.tracker or row.tracker == self.tracker)
                and (not self.verdict or row.verdict == self.verdict)
                and (not self.gate or self.gate in row.states()))

    def apply(self, rows: Sequence[PilotRow]) -> list[PilotRow]:
        return [r for r in rows if self.keep(r)]

    def as_dict(self) -> dict[str, str]:
        return {"tracker": self.tracker, "verdict": self.verdict, "gate": self.gate}


def completion_chart(rows: Sequence[PilotRow], width: int = 560) -> Markup:
    """Horizontal stacked bars, one per gate: how many pilots have that gate in each state."""
    bars = completion_by_gate(rows)
    label_w, count_w, bar_h, gap, top = 180, 72, 16, 12, 4
    track = width - label_w - count_w
    height = top + len(bars) * (bar_h + gap) + 4
    parts = [f'<svg class="chart" viewBox="0 0 {width} {max(height, 30)}" width="{width}" role="img" '
             f'aria-labelledby="chart-title"><title id="chart-title">Gate completion over all pilots</title>']
    if not bars:
        parts.append('<text x="0" y="20" class="chart-empty">No gates yet</text>')
    for index, bar in enumerate(bars):
        y = top + index * (bar_h + gap)
        parts.append(f'<text x="0" y="{y + 13}" class="chart-label">{escape(bar["label"])}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{track}" height="{bar_h}" rx="4" class="chart-track"/>')
        x = float(label_w)
        for state in CHART_STATES:
            count = bar["states"][state]
            if not count:
                continue
            w = track * count / bar["total"]
            parts.append(
                f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" class="seg seg-{state}">'
                f'<title>{escape(bar["label"])}: {count} {STATE_WORDS[state]}</title></rect>'
            )
            x += w
        done = bar["states"][DONE]
        parts.append(f'<text x="{width}" y="{y + 13}" class="chart-count" text-anchor="end">'
                     f'{done}/{bar["total"]} done</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def completion_ring(counts: Mapping[str, int], size: int = 132) -> Markup:
    """A ring of every gate of every pilot by state, with the share done in the middle."""
    total = sum(counts.values())
    radius, stroke = size / 2 - 10, 14
    circumference = 2 * math.pi * radius
    centre = size / 2
    parts = [f'<svg class="ring" viewBox="0 0 {size} {size}" width="{size}" height="{size}" role="img" '
             f'aria-label="{counts.get(DONE, 0)} of {total} gates done">',
             f'<circle cx="{centre}" cy="{centre}" r="{radius:.1f}" class="ring-track" stroke-width="{stroke}"/>']
    offset = 0.0
    for state in CHART_STATES:
        count = counts.get(state, 0)
        if not count:
            continue
        length = circumference * count / total
        # Each arc starts at twelve o'clock plus the arcs before it; SVG strokes start at three o'clock.
        parts.append(
            f'<circle cx="{centre}" cy="{centre}" r="{radius:.1f}" class="arc seg-{state}" stroke-width="{stroke}" '
            f'stroke-dasharray="{length:.2f} {circumference - length:.2f}" stroke-dashoffset="{-offset:.2f}" '
            f'transform="rotate(-90 {centre} {centre})"><title>{count} {STATE_WORDS[state]}</title></circle>'
        )
        offset += length
    share = round(100 * counts.get(DONE, 0) / total) if total else 0
    parts.append(f'<text x="{centre}" y="{centre + 8}" text-anchor="middle" class="ring-value">{share}%</text></svg>')
    return Markup("".join(parts))


def page_context(rows: Sequence[PilotRow], now: datetime, filters: Filters = Filters(), *,
                 taken_at: datetime | None = None, errors: Sequence[str] = ()) -> dict[str, Any]:
    """Everything dashboard.html needs; the same for the live page and the standalone report."""
    return {
        "rows": list(rows),  # every row: the filtered-out ones are rendered hidden, so filtering is instant
        "shown": len(filters.apply(rows)),
        "total": len(rows),
        "summary": summary(rows),
        "chart": completion_chart(rows),
        "ring": completion_ring(summary(rows)["gate_states"]),
        "filters": filters,
        "trackers": sorted({r.tracker for r in rows}),
        "verdicts": VERDICTS,
        "verdict_words": VERDICT_WORDS,
        "states": (OVERDUE, INCOMPLETE, OPEN, ABSENT, DONE),
        "state_words": STATE_WORDS,
        "chart_states": CHART_STATES,
        "generated_at": now,
        "taken_at": taken_at or now,
        "errors": list(errors),
    }


def render_html(rows: Sequence[PilotRow], now: datetime) -> str:
    """A self-contained page (CSS inlined, no server needed): `pilotgate report --format html`."""
    env = Environment(loader=FileSystemLoader(str(WEB / "templates")),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    context = page_context(rows, now)
    context["inline_css"] = Markup(CSS_FILE.read_text(encoding="utf-8"))
    context["standalone"] = True
    return env.get_template(TEMPLATE).render(**context)
