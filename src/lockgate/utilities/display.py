"""How a recorded run reads, in the terminal and in the browser alike (no rich here).

Short run ids, state colours, times, durations and trimmed tracebacks: the ``lockgate``
commands (:mod:`lockgate.cli.render`, which adds rich on top) and the dashboard
(:mod:`lockgate.ui.formatting`) both use these, so neither imports the other.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

__all__ = [
    "CRASHED_COLOR",
    "duration",
    "short_id",
    "state_color",
    "timestamp",
    "trim_engine_frames",
]

CRASHED_COLOR = "#b71c1c"
"""The colour of a run recorded as Crashed (its process died mid-run)."""

UNKNOWN_COLOR = "#9e9e9e"
"""The colour of a name that is not a state class."""


def short_id(run_id: str) -> str:
    """The first 8 characters of a run id, which the commands accept as a prefix.

    Args:
        run_id: the full id.

    Returns:
        The short form.
    """
    return run_id[:8]


def state_color(name: str) -> str:
    """The colour for a state name: the ``color`` of the state class of that name.

    Args:
        name: e.g. ``"Success"``, ``"TriggerFailed"`` or ``"Crashed"``.

    Returns:
        A ``#rrggbb`` colour (grey for names that are not state classes).
    """
    from lockgate.engine.state_lookup import state_class  # on use: keeps this module light

    if name == "Crashed":
        return CRASHED_COLOR
    cls = state_class(name)
    return UNKNOWN_COLOR if cls is None else str(cls.color)


def timestamp(value: datetime | None) -> str:
    """A recorded time in local time, to the second (``-`` for none).

    Args:
        value: a timezone-aware time, or None.

    Returns:
        ``YYYY-MM-DD HH:MM:SS``.
    """
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def duration(start: datetime | float | None, end: datetime | float | None) -> str:
    """A short duration between two times or a number of seconds (``-`` when unknown).

    Args:
        start: the start (a time), or a number of seconds when ``end`` is None.
        end: the end, or None.

    Returns:
        e.g. ``"0.12s"``, ``"3m 04s"``, ``"2h 05m"``.
    """
    if isinstance(start, (int, float)) and end is None:
        seconds = float(start)
    elif isinstance(start, datetime) and isinstance(end, datetime):
        seconds = (end - start).total_seconds()
    else:
        return "-"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def trim_engine_frames(text: str) -> str:
    """Drop the traceback frames that are lockgate's own, keeping the user's code.

    A frame is a ``  File "...", line N, in f`` line and the indented lines under it.
    Frames inside the lockgate package are removed (with a note saying how many),
    unless every frame is lockgate's; everything else is kept as it was.

    Args:
        text: a formatted traceback.

    Returns:
        The traceback without lockgate's frames.
    """
    import lockgate

    package = str(Path(lockgate.__file__).parent)
    lines = text.splitlines()
    frames: list[tuple[int, int, bool]] = []  # (start, end, is_engine)
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith('  File "'):
            end = i + 1
            while end < len(lines) and lines[end].startswith("    "):
                end += 1
            path = line[len('  File "') :].split('"', 1)[0]
            frames.append((i, end, path.startswith(package)))
            i = end
        else:
            i += 1
    engine = [f for f in frames if f[2]]
    if not engine or len(engine) == len(frames):
        return text
    drop = {n for start, end, is_engine in frames if is_engine for n in range(start, end)}
    kept = [ln for n, ln in enumerate(lines) if n not in drop]
    note = f"  [{len(engine)} lockgate frame(s) hidden]"
    if kept and kept[0].startswith("Traceback"):
        kept.insert(1, note)
    return "\n".join(kept)
