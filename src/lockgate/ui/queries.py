"""The dashboard's action log: the lines it keeps in a run's log about its own actions.

Every other read the dashboard makes goes through the store (:mod:`lockgate.store.
queries` and :class:`~lockgate.store.RunStore`); this module writes and reads its
action lines through :meth:`RunStore.add_log` and :meth:`RunStore.latest_logs` too, so
the dashboard holds no SQL of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lockgate.store import RunStore

__all__ = ["ACTION_LOGGER", "ActionLine", "action_lines", "log_action"]

ACTION_LOGGER = "lockgate.ui.actions"
"""The logger name of the log lines that record the dashboard's actions on a run."""


@dataclass(frozen=True)
class ActionLine:
    """One line the dashboard logged about an action on a run.

    Attributes:
        timestamp: when (UTC).
        level: ``INFO`` or ``ERROR``.
        message: what was asked, or how it ended.
    """

    timestamp: datetime
    level: str
    message: str


def action_lines(store: RunStore, run_id: str, limit: int = 50) -> list[ActionLine]:
    """The dashboard's actions on a run and their outcomes, oldest first.

    Args:
        store: the open store.
        run_id: the run's full id.
        limit: at most this many (the latest).

    Returns:
        The lines.
    """
    return [
        ActionLine(line.timestamp, line.level, line.message)
        for line in store.latest_logs(run_id, ACTION_LOGGER, limit)
    ]


def log_action(store: RunStore, run_id: str, level: str, message: str) -> None:
    """Keep a line about an action in the run's log, so it outlives the dashboard.

    It is an ordinary log line of the run (logger :data:`ACTION_LOGGER`, no task):
    ``lockgate logs`` shows it too.

    Args:
        store: the open store.
        run_id: the run's full id.
        level: ``INFO`` or ``ERROR``.
        message: what was asked, or how it ended.
    """
    store.add_log(run_id, level, ACTION_LOGGER, message)
