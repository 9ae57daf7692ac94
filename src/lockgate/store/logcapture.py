"""Per-task log capture for recorded runs.

One handler on the root logger routes each record to the recorder of the run it was
logged in (``lockgate.context.flow_run_id``), tagged with the task's slug and map
index from ``lockgate.context``; a record a process or Dask worker sent back
(:func:`lockgate.engine.executors._shipping.replay_logs`) carries those values itself.
While any run is recorded, the ``lockgate.task`` and
``lockgate.flow`` loggers (``lockgate.context.logger``) are set to INFO when they
have no level of their own, so task logs at INFO and above are kept.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from lockgate.engine.hooks import INDEX_ATTR, RAISED_LOGGERS, RUN_ATTR, SLUG_ATTR
from lockgate.utilities import context as ctx

if TYPE_CHECKING:
    from lockgate.store.recorder import StoreRecorder

__all__ = ["attach", "detach"]


_lock = threading.Lock()


class _Router(logging.Handler):
    """Sends records logged inside a recorded run to that run's recorder."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.recorders: dict[str, StoreRecorder] = {}
        self.saved_levels: dict[str, int] = {}

    def handle(self, record: logging.LogRecord) -> bool:
        # No per-record lock: the recorder's queue is thread-safe.
        run_id = getattr(record, RUN_ATTR, None)
        if run_id is not None:  # logged on a worker: it carries its task's context
            slug, index = getattr(record, SLUG_ATTR, None), getattr(record, INDEX_ATTR, None)
        else:
            values = ctx.current()
            run_id = values.get("flow_run_id")
            if run_id is None:
                return False
            slug, index = values.get("task_slug"), values.get("map_index")
        recorder = self.recorders.get(run_id)
        if recorder is None or record.name.startswith("lockgate.store"):
            return False
        try:
            recorder.log_record(slug, index, record)
        except Exception:
            self.handleError(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:  # pragma: no cover - handle() does it
        self.handle(record)


_router: _Router | None = None


def attach(recorder: StoreRecorder) -> None:
    """Start capturing the logs of ``recorder``'s run."""
    global _router
    with _lock:
        if _router is None:
            _router = _Router()
            for name in RAISED_LOGGERS:
                logger = logging.getLogger(name)
                if logger.level == logging.NOTSET:
                    _router.saved_levels[name] = logger.level
                    logger.setLevel(logging.INFO)
            logging.getLogger().addHandler(_router)
        _router.recorders[recorder.flow_run_id] = recorder


def detach(recorder: StoreRecorder) -> None:
    """Stop capturing the logs of ``recorder``'s run (the last one removes the handler)."""
    global _router
    with _lock:
        if _router is None:
            return
        _router.recorders.pop(recorder.flow_run_id, None)
        if not _router.recorders:
            logging.getLogger().removeHandler(_router)
            for name, level in _router.saved_levels.items():
                logging.getLogger(name).setLevel(level)
            _router = None
