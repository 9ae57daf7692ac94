"""How the pages show states, times, durations and stored values.

Colours, times and durations come from :mod:`lockgate.utilities.display`, which the
CLI uses too, so a run reads the same in the terminal and in the browser.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from lockgate.utilities import display

__all__ = [
    "counts_list",
    "duration",
    "preview",
    "short_id",
    "slug_path",
    "state_color",
    "text_color",
    "timestamp",
]

PREVIEW_CHARS = 4000
"""Longest preview of a stored value shown on a task page."""

_repr = reprlib.Repr()
_repr.maxlevel = 4
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = 50
_repr.maxstring = 1000
_repr.maxother = 1000
_repr.maxlong = 200


def state_color(name: str | None) -> str:
    """The ``#rrggbb`` colour of a state name (as in the CLI and the graph)."""
    return display.state_color(name or "")


def text_color(name: str | None) -> str:
    """Black or white: whichever reads better on :func:`state_color`."""
    fill = state_color(name)
    r, g, b = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
    return "#ffffff" if 0.299 * r + 0.587 * g + 0.114 * b < 140 else "#000000"


def timestamp(value: datetime | None) -> str:
    """A recorded time in the server's local time, to the second (``-`` for none)."""
    return display.timestamp(value)


def duration(start: datetime | float | None, end: datetime | None) -> str:
    """The time between two recorded times, or a number of seconds (``-`` when unknown)."""
    return display.duration(start, end)


def short_id(run_id: str) -> str:
    """The 8-character form of a run id the CLI prints and accepts."""
    return display.short_id(run_id)


def slug_path(slug: str) -> str:
    """A task slug as one path segment: every ``/``, ``?``, ``#`` and ``%`` escaped.

    Jinja's ``urlencode`` leaves ``/`` as it is, which splits a slug such as
    ``load/eu-1`` into two segments (and ``..`` in one would be resolved away).

    Args:
        slug: the task's slug.

    Returns:
        The escaped segment.
    """
    return quote(slug, safe="")


def counts_list(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Task counts by state, largest first (then by name)."""
    return sorted(((k, n) for k, n in counts.items() if n), key=lambda kv: (-kv[1], kv[0]))


def preview(value: Any) -> str:
    """A bounded ``repr`` of a stored value (nested and long values cut short)."""
    text = _repr.repr(value)
    if len(text) > PREVIEW_CHARS:
        text = text[:PREVIEW_CHARS] + "…"
    return text
