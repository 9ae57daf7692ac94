"""The ``history`` column: every state transition of a run or task run, as text.

Each transition is one entry ``timestamp US old_state US new_state US message RS``
(US = ``\\x1f``, RS = ``\\x1e``). The separators and :func:`entry` live in
:mod:`lockgate.store._writer`, whose writer process builds task entries and may not
import lockgate; this module re-exports them. The writer appends each batch's entries to the row
with ``history = history || new``. Keeping transitions in the row they belong to makes
recording one row write per task run instead of one per transition.
"""

from __future__ import annotations

from collections.abc import Iterable

from lockgate.store._writer import RS as _RS
from lockgate.store._writer import US as _US
from lockgate.store._writer import clean, entry

__all__ = ["clean", "entry", "parse", "running_seconds", "running_spans"]


def parse(text: str | None) -> list[tuple[float, str | None, str, str | None]]:
    """The entries of a history column: ``(timestamp, old, new, message)`` in order."""
    out: list[tuple[float, str | None, str, str | None]] = []
    if not text:
        return out
    for item in text.split(_RS):
        if not item:
            continue
        parts = item.split(_US, 3)
        if len(parts) != 4:
            continue
        ts, old, new, message = parts
        try:
            when = float(ts)
        except ValueError:
            continue
        out.append((when, old or None, new, message or None))
    return out


def running_spans(text: str | None) -> list[tuple[float, float | None]]:
    """The times each attempt ran: ``(started, ended)`` per entry into ``Running``.

    An attempt ends at the next transition out of Running (to any state); an attempt
    still running, or whose process died (the next entry into Running comes from
    another state, as a restart after a crash), has no end.

    Args:
        text: a history column.

    Returns:
        The attempts, oldest first.
    """
    spans: list[tuple[float, float | None]] = []
    started: float | None = None
    for when, old, new, _ in parse(text):
        if new == "Running":
            if started is not None and old != "Running":  # the last attempt died
                spans.append((started, None))
                started = None
            if started is None:
                started = when
        elif started is not None:
            spans.append((started, when))
            started = None
    if started is not None:
        spans.append((started, None))
    return spans


def running_seconds(spans: Iterable[tuple[float, float | None]]) -> float | None:
    """How long something ran: the length of the union of its finished spans.

    Overlapping spans (mapped children running side by side) count once, and the idle
    time between attempts (a run restarted a day later) not at all.

    Args:
        spans: ``(started, ended)`` pairs; pairs without an end are left out.

    Returns:
        Seconds, or None when no span has ended.
    """
    closed = sorted((s, e) for s, e in spans if e is not None)
    if not closed:
        return None
    total = 0.0
    start, end = closed[0]
    for s, e in closed[1:]:
        if s > end:
            total += end - start
            start, end = s, e
        elif e > end:
            end = e
    return total + (end - start)
