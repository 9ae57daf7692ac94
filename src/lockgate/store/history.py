"""The ``history`` column: every state transition of a run or task run, as text.

Each transition is one entry ``timestamp US old_state US new_state US message RS``
(US = ``\\x1f``, RS = ``\\x1e``). The separators and :func:`entry` live in
:mod:`lockgate.store._writer`, whose writer process builds task entries and may not
import lockgate; this module re-exports them. The writer appends each batch's entries to the row
with ``history = history || new``. Keeping transitions in the row they belong to makes
recording one row write per task run instead of one per transition.
"""

from __future__ import annotations

from lockgate.store._writer import RS as _RS
from lockgate.store._writer import US as _US
from lockgate.store._writer import clean, entry

__all__ = ["clean", "entry", "parse"]


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
