"""The runs list's chart: runs per day, stacked by state, as inline SVG drawn here.

No charting library and no script: a bar per day, a coloured segment per state, each
bar a link that filters the list to that day, each segment titled with its count.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from html import escape

from lockgate.ui.formatting import state_color

__all__ = ["STATE_ORDER", "runs_per_day_svg"]

STATE_ORDER = ("Success", "Failed", "Crashed", "Running", "Scheduled", "Pending")
"""Bottom-to-top order of the segments; other states go on top, by name."""

HEIGHT = 110
WIDTH = 720
MAX_BAR = 28
GAP = 4
LEFT = 34
BOTTOM = 20
TOP = 8


def _ordered(states: Mapping[str, int]) -> list[tuple[str, int]]:
    known = [(s, states[s]) for s in STATE_ORDER if states.get(s)]
    others = sorted((s, n) for s, n in states.items() if n and s not in STATE_ORDER)
    return known + others


def runs_per_day_svg(counts: Mapping[date, Mapping[str, int]], link: Callable[[date], str]) -> str:
    """Draw runs per day as stacked bars.

    Args:
        counts: for each day, in order, the number of runs per state.
        link: the URL a day's bar leads to.

    Returns:
        The ``<svg>`` markup.
    """
    days = sorted(counts)
    most = max((sum(c.values()) for c in counts.values()), default=0)
    scale = (HEIGHT - BOTTOM - TOP) / most if most else 0.0
    bar = max(4, min(MAX_BAR, (WIDTH - LEFT) // max(1, len(days)) - GAP))
    width = LEFT + len(days) * (bar + GAP) + GAP
    base = HEIGHT - BOTTOM
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{HEIGHT}" viewBox="0 0 {width} {HEIGHT}" role="img" '
        f'aria-label="Runs per day by state">',
        f'<line x1="{LEFT}" y1="{base}" x2="{width}" y2="{base}" stroke="#9e9e9e"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end" class="axis">{most}</text>',
        f'<text x="{LEFT - 4}" y="{base}" text-anchor="end" class="axis">0</text>',
    ]
    label_every = max(1, len(days) // 7)
    labelled = set(range(len(days) - 1, -1, -label_every))  # counted back from the last day
    for i, day in enumerate(days):
        x = LEFT + GAP + i * (bar + GAP)
        total = sum(counts[day].values())
        title = f"{day.isoformat()}: {total} run{'s' if total != 1 else ''}"
        parts.append(f'<a href="{escape(link(day))}" class="day" data-day="{day.isoformat()}">')
        parts.append(
            f'<rect x="{x}" y="{TOP}" width="{bar}" height="{base - TOP}" fill="transparent">'
            f"<title>{escape(title)}</title></rect>"
        )
        y = float(base)
        for state, n in _ordered(counts[day]):
            h = n * scale
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" '
                f'fill="{state_color(state)}" data-state="{escape(state)}" data-count="{n}">'
                f"<title>{escape(f'{day.isoformat()}: {n} {state}')}</title></rect>"
            )
        parts.append("</a>")
        if i in labelled:
            parts.append(
                f'<text x="{x + bar / 2}" y="{HEIGHT - 5}" text-anchor="middle" class="axis">'
                f"{day.strftime('%m-%d')}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
