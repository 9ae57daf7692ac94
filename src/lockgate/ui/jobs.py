"""Actions that run in the background: a resume or restart runs the flow in a thread.

The request that asks for an action only starts a :class:`Job` and redirects to the
run's page, which follows the job (and the run it records) live. One job at a time
per run: a second action on a run whose job is still going is refused.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

__all__ = ["Job", "JobBusyError", "Jobs"]

_log = logging.getLogger("lockgate.ui")

KEEP = 200
"""How many finished jobs are remembered (their outcome shows on the run page)."""

VERBS = {"resume": "Resume", "restart": "Restart", "cancel": "Cancel"}


def _keep(job: Job, keep: Callable[[str, str], None] | None, level: str, message: str) -> None:
    """Hand a line about ``job`` to ``keep``; the action goes on if it cannot be kept."""
    if keep is None:
        return
    try:
        keep(level, message)
    except Exception:
        _log.warning("Could not keep %r about run %s", message, job.run_id, exc_info=True)


class JobBusyError(Exception):
    """An action was asked for a run that already has one going."""


@dataclass
class Job:
    """One action on one run, and how it ended.

    Attributes:
        id: the job's id (in the run page's ``?job=`` parameter).
        kind: ``"resume"``, ``"restart"`` or ``"cancel"``.
        run_id: the run's full id.
        started: when it started (UTC).
        finished: when it ended (UTC), or None while it runs.
        state: the name of the flow state the action ended with, if any.
        message: that state's message, or what the action reported.
        error: why the action failed, or None.
    """

    id: str
    kind: str
    run_id: str
    started: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    finished: datetime | None = None
    state: str | None = None
    message: str | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        """Whether the action has ended."""
        return self.finished is not None

    @property
    def verb(self) -> str:
        """The action's name for people (``"Resume"``)."""
        return VERBS.get(self.kind, self.kind.title())

    @property
    def version(self) -> str:
        """Changes when the job's status changes (for live pages)."""
        return f"{self.id}:{self.done}"

    @property
    def summary(self) -> str:
        """One sentence on where the action is, or how it ended."""
        if not self.done:
            return f"{self.verb} is running…"
        if self.error is not None:
            return f"{self.verb} failed: {self.error}"
        if self.state is None:
            return f"{self.verb}: {self.message or 'done'}."
        if self.state == "Running":  # flow.run returned unfinished: tasks wait for approval
            return f"{self.verb} finished: the run waits for approval of its paused tasks."
        text = f"{self.verb} finished: the run is {self.state}"
        return f"{text} - {self.message}" if self.message else f"{text}."


class Jobs:
    """The dashboard's background actions, each in its own daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._threads: dict[str, threading.Thread] = {}

    def start(
        self,
        kind: str,
        run_id: str,
        work: Callable[[], Any],
        keep: Callable[[str, str], None] | None = None,
    ) -> Job:
        """Start ``work()`` in a thread as the ``kind`` action on ``run_id``.

        ``work`` returns the flow's new state (resume, restart), or a message (cancel).
        A :class:`~lockgate.runs.RunsError` or :class:`~lockgate.store.StoreError`
        it raises becomes the job's ``error``; so does anything else (also logged).

        Args:
            kind: the action.
            run_id: the run's full id.
            work: what to do.
            keep: called with ``(level, message)`` when the action starts and when it
                ends (the dashboard keeps them in the run's log, in the store); a
                failure there is logged and does not stop the action.

        Returns:
            The job, already running.

        Raises:
            JobBusyError: another action on the run has not ended yet.
        """
        with self._lock:
            busy = self._active(run_id)
            if busy is not None:
                raise JobBusyError(
                    f"{busy.verb} of run {run_id[:8]} is still going on; wait for it to end."
                )
            job = Job(id=uuid.uuid4().hex[:12], kind=kind, run_id=run_id)
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.done]
            for old in finished[: max(0, len(self._jobs) - KEEP)]:
                del self._jobs[old.id]
            thread = threading.Thread(
                target=self._run, args=(job, work, keep), name=f"lockgate-ui-{kind}", daemon=True
            )
            self._threads[job.id] = thread
        thread.start()
        return job

    def _run(
        self, job: Job, work: Callable[[], Any], keep: Callable[[str, str], None] | None
    ) -> None:
        from lockgate.engine.state import State
        from lockgate.runs import RunsError
        from lockgate.store import StoreError

        _keep(job, keep, "INFO", f"{job.verb} asked from the dashboard.")
        try:
            outcome = work()
            if isinstance(outcome, State):
                job.state, job.message = type(outcome).__name__, outcome.message
            elif outcome is not None:
                job.message = str(outcome)
        except (RunsError, StoreError) as exc:
            job.error = str(exc)
        except Exception as exc:
            _log.exception("%s of run %s failed", job.verb, job.run_id)
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            ended = datetime.now(timezone.utc)
            # Kept before the job reads as done: a page that refreshes when it ends
            # finds the line already in the store.
            outcome = replace(job, finished=ended).summary
            _keep(job, keep, "ERROR" if job.error is not None else "INFO", outcome)
            job.finished = ended
            with self._lock:
                self._threads.pop(job.id, None)

    def _active(self, run_id: str) -> Job | None:
        for job in self._jobs.values():
            if job.run_id == run_id and not job.done:
                return job
        return None

    def active(self, run_id: str) -> Job | None:
        """The action going on for ``run_id``, if any."""
        with self._lock:
            return self._active(run_id)

    def active_for_prefix(self, run_id: str) -> Job | None:
        """The action going on for the run whose id starts with ``run_id``, if any."""
        key = run_id.strip().lower()
        with self._lock:
            for job in self._jobs.values():
                if job.run_id.startswith(key) and not job.done:
                    return job
        return None

    def get(self, job_id: str | None) -> Job | None:
        """The job with this id, or None."""
        if not job_id:
            return None
        with self._lock:
            return self._jobs.get(job_id)

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for running actions to end.

        Returns:
            True when none is left running.
        """
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)
