"""Operate recorded runs from Python: the twin of every ``lockgate`` command.

Each function here does what the command of the same name does, without a terminal::

    from lockgate import runs

    run_id, state = runs.run_file("flows.py:orders-etl", {"batch_size": 8})
    runs.waiting(run_id)                      # the tasks waiting for approval
    runs.resume(run_id, tasks=["load"])       # approve them and continue the run
    runs.restart(run_id)                      # re-run what failed, keep what succeeded

Every function takes ``store=``: a :class:`lockgate.store.RunStore` (used as is, left
open), a database URL, or None for the default store (``$LOCKGATE_STORE_URL``, else
``$LOCKGATE_HOME/store.db``). Bad input raises :class:`RunsError` with a one-line
message saying what to do; the store is not touched when that happens. Errors of the
store itself (an unknown run id, a store written by a newer lockgate) are
:class:`lockgate.store.StoreError`.

Importing this module is cheap: the store (SQLAlchemy) is imported by the functions
that need it.
"""

from __future__ import annotations

import json
import os
import re
import runpy
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockgate.core.flow import Flow
from lockgate.core.task import Task

if TYPE_CHECKING:
    from lockgate.engine.executors.base import Executor
    from lockgate.engine.hooks import RunHooks
    from lockgate.engine.state import State
    from lockgate.store import (
        FlowRecord,
        FlowRunRecord,
        LogRecord,
        RunStore,
        TaskRunRecord,
        TransitionRecord,
    )
    from lockgate.store.run_store import GcReport

__all__ = [
    "FLOW_STATES",
    "LoadedFlow",
    "RunsError",
    "cancel",
    "check_parameters",
    "flows",
    "gc",
    "list_runs",
    "load_flow",
    "load_flow_file",
    "logs",
    "open_store",
    "parse_age",
    "parse_parameter",
    "parse_parameters",
    "restart",
    "resume",
    "run_file",
    "run_flow",
    "show",
    "skip_run_while_loading",
    "state_name",
    "task_history",
    "task_states_from_records",
    "visualize",
    "waiting",
]

FLOW_STATES = ("Pending", "Scheduled", "Running", "Success", "Failed", "Cancelled", "Crashed")
"""The states a recorded flow run can be in (``lockgate runs --state``)."""

_RESTARTED = frozenset(
    {
        "Failed",
        "TimedOut",
        "TriggerFailed",
        "Cancelled",
        "Running",
        "Scheduled",
        "Retrying",
        "Resume",
    }
)
"""Task states ``restart`` runs again (besides Pending tasks, which run anyway)."""

_RUN_NAME = "__lockgate_flow__"
"""The ``__name__`` a flow file runs under: its ``if __name__ == "__main__":`` block is skipped."""


_LOADING: ContextVar[Path | None] = ContextVar("lockgate_loading_flow_file", default=None)
"""The flow file :func:`load_flow_file` is running now (None outside a load)."""


class RunsError(Exception):
    """Bad input to a run command: the message is one line that says what to do."""


def skip_run_while_loading(flow: Flow) -> bool:
    """Whether ``flow.run()`` is being called by a flow file that lockgate is loading.

    A file that ends in a bare ``flow.run()`` (as Prefect 0.5's examples do) would run
    its flow once when ``lockgate run`` (the dashboard, a restart) loads it, and again
    when lockgate runs it. :meth:`Flow.run` asks this first and skips the call while a
    file loads; one line on stderr says so.

    Args:
        flow: the flow whose ``run`` was called.

    Returns:
        True when the call must be skipped (the note is printed).
    """
    path = _LOADING.get()
    if path is None:
        return False
    line = ""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == str(path):
            line = f" at line {frame.f_lineno}"
            break
        frame = frame.f_back  # type: ignore[assignment]
    sys.stderr.write(
        f"lockgate: skipped the flow.run() of flow '{flow.name}' in {path}{line} while "
        "loading the file (lockgate runs the flow itself).\n"
    )
    return True


# -- loading flows from files ------------------------------------------------------------
@dataclass(frozen=True)
class LoadedFlow:
    """A flow loaded from a file, with where it came from.

    Attributes:
        flow: the flow.
        path: the file, absolute.
        selector: the name that picks this flow in the file (its ``name``, or the
            variable holding it when two flows share a name).
        module: the module's dotted name when the flow was imported as a module
            (``package.module:FLOW``), else None.
        source: ``"<path>:<selector>"`` (``"<module>:<selector>"`` for a module), the
            text recorded with each run so that ``resume`` and ``restart`` can load
            the same flow again.
    """

    flow: Flow
    path: Path
    selector: str
    module: str | None = None

    @property
    def source(self) -> str:
        """Where the flow was loaded from, as ``FILE:FLOW`` or ``MODULE:FLOW``."""
        return f"{self.module or self.path}:{self.selector}"


_MODULE_TARGET = re.compile(r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?::(.*))?")


def _import_target(target: str) -> tuple[dict[str, Any], Path, str, str | None] | None:
    """Import ``package.module[:FLOW]`` when it names an importable module, else None.

    The current directory is put on ``sys.path`` first (as ``python -m`` does), so a
    package in the folder ``lockgate`` runs from can be named.
    """
    import importlib
    import importlib.util

    match = _MODULE_TARGET.fullmatch(os.fspath(target).strip())
    if match is None or match.group(1).endswith(".py"):
        return None
    name, wanted = match.group(1), (match.group(2) or "").strip() or None
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    # A module-level flow.run() is skipped while it imports, as in a loaded file.
    loading = _LOADING.set(Path(spec.origin) if spec.origin else Path(name))
    try:
        module = importlib.import_module(name)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        raise RunsError(
            f"Importing module '{name}' failed: {type(exc).__name__}: {_one_line(exc)}; "
            f"fix it (`python -c 'import {name}'` shows the full traceback)."
        ) from None
    finally:
        _LOADING.reset(loading)
    path = Path(getattr(module, "__file__", None) or name).resolve()
    return dict(vars(module)), path, name, wanted


def _split_target(target: str) -> tuple[Path, str | None]:
    """``"dir/file.py:NAME"`` -> (path, "NAME"); a path that exists as given wins."""
    text = os.fspath(target).strip()
    if not text:
        raise RunsError("No flow file given; pass FILE[:FLOW], e.g. flows.py:etl.")
    if os.path.exists(text):
        return Path(text).expanduser(), None
    for i, char in enumerate(text):  # the first ':' after an existing file (names may hold ':')
        if char == ":" and os.path.isfile(os.path.expanduser(text[:i])):
            return Path(text[:i]).expanduser(), (text[i + 1 :].strip() or None)
    py = text.find(".py:")
    if py >= 0:
        head, sep, name = text[: py + 3], ":", text[py + 4 :]
    else:
        head, sep, name = text.rpartition(":")
    if sep and head and "/" not in name and "\\" not in name:
        return Path(head).expanduser(), (name.strip() or None)
    return Path(text).expanduser(), None


def load_flow_file(target: str) -> LoadedFlow:
    """Run a Python file and pick the flow it defines at module level.

    The file runs as a module named ``__lockgate_flow__`` (not ``__main__``), so code
    under ``if __name__ == "__main__":`` does not run. Its directory is put first on
    ``sys.path``, as ``python FILE`` would, and stays there when the file loads, so
    modules it imports from next to it can be imported again later (by process or
    Dask workers unpickling its tasks, for instance).

    Args:
        target: ``FILE`` or ``FILE:FLOW``; ``FLOW`` is a flow's ``name`` or the name
            of the module variable holding it. Needed only when the file defines
            several flows.

    Returns:
        The flow, with the file and the selector recorded as its source.

    Raises:
        RunsError: when the file does not exist or fails to run, defines no flow,
            defines several and ``FLOW`` is not given, or has no flow called ``FLOW``.
    """
    path, wanted = _split_target(target)
    imported = None if path.is_file() else _import_target(target)
    module: str | None = None
    if imported is not None:
        namespace, path, module, wanted = imported
    elif not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise RunsError(
            f"Flow file '{path}' {what}; pass the path of a Python file that builds a flow "
            "(FILE[:FLOW]), or an importable module (package.module[:FLOW])."
        )
    else:
        path = path.resolve()
        namespace = _run_file(path)
    found: dict[int, tuple[str, Flow]] = {}
    for var, value in namespace.items():
        if isinstance(value, Flow) and not var.startswith("__") and id(value) not in found:
            found[id(value)] = (var, value)
    candidates = list(found.values())
    if not candidates:
        raise RunsError(
            f"'{path}' defines no Flow at module level; build one there "
            "(e.g. `with Flow('etl') as flow:`), not only inside a function."
        )
    name_counts: dict[str, int] = {}
    for _, f in candidates:
        name_counts[f.name] = name_counts.get(f.name, 0) + 1

    def selector(var: str, f: Flow) -> str:
        return f.name if name_counts[f.name] == 1 else var

    if wanted is None:
        if len(candidates) > 1:
            names = ", ".join(repr(selector(v, f)) for v, f in candidates)
            raise RunsError(
                f"'{path}' defines several flows ({names}); pick one with "
                f"'{path.name}:NAME', e.g. '{path.name}:{selector(*candidates[0])}'."
            )
        var, flow = candidates[0]
        return LoadedFlow(flow, path, selector(var, flow), module)
    by_var = [(v, f) for v, f in candidates if v == wanted]
    by_name = [(v, f) for v, f in candidates if f.name == wanted]
    chosen = by_var or by_name
    if len(chosen) != 1:
        names = ", ".join(repr(selector(v, f)) for v, f in candidates)
        if not chosen:
            raise RunsError(f"'{path}' has no flow named '{wanted}'; its flows are: {names}.")
        variables = ", ".join(v for v, _ in chosen)
        raise RunsError(
            f"'{path}' has several flows named '{wanted}' (variables {variables}); "
            "pick one by its variable name."
        )
    var, flow = chosen[0]
    return LoadedFlow(flow, path, selector(var, flow), module)


def load_flow(target: str) -> tuple[Flow, str]:
    """Load the flow ``FILE[:FLOW]`` names (see :func:`load_flow_file`).

    Args:
        target: ``FILE`` or ``FILE:FLOW``.

    Returns:
        The flow and its source text (``"/abs/file.py:FLOW"``).

    Raises:
        RunsError: see :func:`load_flow_file`.
    """
    loaded = load_flow_file(target)
    return loaded.flow, loaded.source


def _run_file(path: Path) -> dict[str, Any]:
    directory = str(path.parent)
    added = directory not in sys.path
    if added:
        sys.path.insert(0, directory)
    loading = _LOADING.set(path)
    try:
        return runpy.run_path(str(path), run_name=_RUN_NAME)
    except KeyboardInterrupt:
        raise
    except SystemExit as exc:
        _forget(directory, added)
        raise RunsError(
            f"Loading '{path}' called sys.exit({exc.code!r}); move that under "
            "`if __name__ == '__main__':`."
        ) from None
    except BaseException as exc:
        _forget(directory, added)
        where = _innermost_line(exc, path)
        raise RunsError(
            f"Loading '{path}' failed{where}: {type(exc).__name__}: {_one_line(exc)}; "
            f"fix the file (`python {path}` shows the full traceback)."
        ) from None
    finally:
        _LOADING.reset(loading)


def _forget(directory: str, added: bool) -> None:
    if added:
        try:
            sys.path.remove(directory)
        except ValueError:
            pass


def _innermost_line(exc: BaseException, path: Path) -> str:
    """`` at line N`` of ``path`` where ``exc`` was raised (innermost frame in the file)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if Path(tb.tb_frame.f_code.co_filename) == path:
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is None and isinstance(exc, SyntaxError) and exc.lineno:
        line = exc.lineno
    return f" at line {line}" if line else ""


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else repr(exc)


def _reload(source: str) -> LoadedFlow:
    """Load the flow a run was started from, by its recorded source."""
    try:
        return load_flow_file(source)
    except RunsError as exc:
        raise RunsError(f"Cannot load the run's flow from '{source}': {exc}") from None


# -- parameters ---------------------------------------------------------------------------
def parse_parameter(text: str) -> tuple[str, Any]:
    """Parse one ``NAME=VALUE`` (as given to ``--param``).

    ``VALUE`` is read as JSON when it is valid JSON (``8``, ``true``, ``[1, 2]``,
    ``{"a": 1}``, ``"quoted"``), else taken as a plain string (``eu-west``). ``NaN``
    and ``Infinity`` are not JSON, so they stay text.

    Args:
        text: the ``NAME=VALUE`` text.

    Returns:
        The name and the value.

    Raises:
        RunsError: when there is no ``=`` or no name before it, or the value is a
            number too long for Python to read (more than ``sys.get_int_max_str_digits()``).
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise RunsError(
            f"Parameter {text!r} is not NAME=VALUE; write it like --param batch_size=8."
        )
    try:
        value: Any = json.loads(raw, parse_constant=_not_json)
    except ValueError:
        digits = raw.strip().lstrip("-")
        if digits.isdigit() and len(digits) > sys.get_int_max_str_digits():
            raise RunsError(
                f"Parameter '{name}' is a {len(digits)}-digit number, longer than the "
                f"{sys.get_int_max_str_digits()} digits Python reads; pass it quoted "
                f"(--param '{name}=\"...\"') to use it as text."
            ) from None
        value = raw
    return name, value


def _not_json(constant: str) -> Any:
    """``json.loads`` accepts NaN and Infinity; they are not JSON, so refuse them."""
    raise ValueError(f"{constant} is not JSON")


def parse_parameters(items: Iterable[str]) -> dict[str, Any]:
    """Parse several ``NAME=VALUE`` texts (see :func:`parse_parameter`).

    Args:
        items: the texts.

    Returns:
        Values by parameter name.

    Raises:
        RunsError: for the first text that is not ``NAME=VALUE``, or a name given twice.
    """
    values: dict[str, Any] = {}
    first: dict[str, str] = {}
    for item in items:
        name, value = parse_parameter(item)
        if name in values:
            raise RunsError(
                f"Parameter '{name}' is given twice (--param {first[name]} and "
                f"--param {item}); give it once."
            )
        values[name], first[name] = value, item
    return values


def check_parameters(flow: Flow, parameters: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check parameter values against the flow's parameters.

    Args:
        flow: the flow.
        parameters: values by name.

    Returns:
        The values, as a new dict.

    Raises:
        RunsError: for a name the flow has no parameter for (listing the flow's
            parameters), or a required parameter without a value.
    """
    given = dict(parameters or {})
    known = {p.name: p for p in flow.parameters()}
    listing = ", ".join(sorted(known)) or "(none)"
    for name in given:
        if name not in known:
            raise RunsError(
                f"Flow '{flow.name}' has no parameter '{name}'; its parameters are: {listing}."
            )
    for name, p in sorted(known.items()):
        if p.required and name not in given:
            raise RunsError(
                f"Flow '{flow.name}' needs a value for parameter '{name}'; "
                f"pass --param {name}=VALUE."
            )
    return given


# -- the store ----------------------------------------------------------------------------
@contextmanager
def open_store(store: RunStore | str | None = None, *, create: bool = False) -> Iterator[RunStore]:
    """Open the store a ``store=`` argument names, closing it after if opened here.

    Args:
        store: a RunStore (yielded as is, left open), a database URL, or None for
            the default store.
        create: make the store's tables when the database has none (``run`` does);
            False refuses a SQLite file without them (a 0-byte file, say), so that
            reading never writes.

    Yields:
        The open store.

    Raises:
        lockgate.store.StoreError: when the store cannot be opened (e.g. its schema
            is newer than this lockgate, or the file is damaged or empty).
    """
    from lockgate.store import RunStore

    if isinstance(store, RunStore):
        yield store
        return
    opened = RunStore.open(store, create=create)
    try:
        yield opened
    finally:
        opened.close()


def _executor(executor: Executor | str | None, address: str | None) -> tuple[Any, str]:
    """The executor to run on, and its text form for the record."""
    from lockgate.engine.executors._choose import configured_executor, executor_from_spec

    if address:
        if executor is not None and not (isinstance(executor, str) and executor == "dask"):
            raise RunsError(
                f"--address {address} is for the Dask executor; drop --executor "
                f"{executor} or use --executor dask."
            )
        executor = f"dask:{address}"
    if executor is None:  # $LOCKGATE_EXECUTOR, else the setting engine.executor.default_class
        executor = configured_executor()
    if isinstance(executor, str):
        spec = executor.strip()
        try:
            return executor_from_spec(spec), spec
        except (ValueError, ImportError) as exc:
            raise RunsError(f"Executor {spec!r} cannot be used: {exc}") from None
    return executor, type(executor).__name__


def _rerun_executor(executor: Executor | str | None, run: FlowRunRecord) -> tuple[Any, str]:
    """The executor for resume/restart: the given one, else the run's own when usable."""
    if executor is not None:
        return _executor(executor, None)
    try:
        return _executor(run.executor or None, None)
    except RunsError:
        return _executor(None, None)


def _run_with_store(
    flow: Flow,
    *,
    store: RunStore,
    source: str | None,
    executor: Any,
    executor_label: str,
    hooks: Iterable[RunHooks],
    flow_run_id: str | None = None,
    **kwargs: Any,
) -> tuple[str, State]:
    recorder = store.recorder(source=source, executor=executor_label, flow_run_id=flow_run_id)
    # One recorder is one stored run: run, resume and restart run the flow once, now,
    # even when it has a schedule (following it would put every date into this run).
    state = flow.run(
        executor=executor, hooks=list(hooks), store=recorder, run_on_schedule=False, **kwargs
    )
    return str(recorder.flow_run_id), state


# -- run ------------------------------------------------------------------------------------
def run_file(
    target: str,
    parameters: Mapping[str, Any] | None = None,
    executor: Executor | str | None = None,
    address: str | None = None,
    store: RunStore | str | None = None,
    hooks: Iterable[RunHooks] = (),
) -> tuple[str, State]:
    """Load a flow from a file and run it with the store on (``lockgate run``).

    Args:
        target: ``FILE`` or ``FILE:FLOW`` (see :func:`load_flow_file`).
        parameters: values by parameter name, used as given (the CLI parses
            ``--param NAME=VALUE`` with :func:`parse_parameters` first).
        executor: an Executor, or its text form (``"threads:4"``, ``"processes"``,
            ``"dask"``...); default ``$LOCKGATE_EXECUTOR``, else local.
        address: a Dask scheduler address; the same as ``executor="dask:ADDRESS"``.
        store: the store to record in (see :func:`open_store`).
        hooks: extra :class:`~lockgate.engine.hooks.RunHooks` (e.g. a progress display).

    Returns:
        The new run's id and the flow's final state.

    Raises:
        RunsError: for a bad file, flow, parameter or executor (nothing is recorded).
        lockgate.store.StoreError: when the store cannot be opened.
    """
    loaded = load_flow_file(target)
    return run_flow(loaded, parameters, executor, address, store, hooks)


def run_flow(
    loaded: LoadedFlow,
    parameters: Mapping[str, Any] | None = None,
    executor: Executor | str | None = None,
    address: str | None = None,
    store: RunStore | str | None = None,
    hooks: Iterable[RunHooks] = (),
) -> tuple[str, State]:
    """Run a flow already loaded with :func:`load_flow_file`, recording it in the store.

    Args:
        loaded: the flow and its source.
        parameters: values by parameter name, used as given.
        executor: an Executor or its text form (see :func:`run_file`).
        address: a Dask scheduler address.
        store: the store to record in (see :func:`open_store`).
        hooks: extra :class:`~lockgate.engine.hooks.RunHooks`.

    Returns:
        The new run's id and the flow's final state.

    Raises:
        RunsError: for a bad parameter or executor (nothing is recorded).
        lockgate.store.StoreError: when the store cannot be opened.
    """
    values = check_parameters(loaded.flow, parameters)
    ex, label = _executor(executor, address)
    with open_store(store, create=True) as opened:
        return _run_with_store(
            loaded.flow,
            store=opened,
            source=loaded.source,
            executor=ex,
            executor_label=label,
            hooks=hooks,
            parameters=values,
        )


# -- reading --------------------------------------------------------------------------------
def state_name(state: str | None) -> str | None:
    """The recorded name of a flow-run state typed in any case (``failed`` -> ``Failed``).

    Args:
        state: the name as typed, or None.

    Returns:
        The name as the store records it, or None for None.

    Raises:
        RunsError: for a name that is not one of :data:`FLOW_STATES`.
    """
    if state is None:
        return None
    for known in FLOW_STATES:
        if state.strip().lower() == known.lower():
            return known
    raise RunsError(f"Unknown run state '{state}'; use one of: {', '.join(FLOW_STATES)}.")


def list_runs(
    flow: str | None = None,
    state: str | None = None,
    limit: int = 50,
    store: RunStore | str | None = None,
) -> list[FlowRunRecord]:
    """Recorded runs, newest first (``lockgate runs``).

    Args:
        flow: only runs of the flow with this name.
        state: only runs in this state (any case: ``failed``, ``Crashed``...).
        limit: at most this many runs.
        store: the store (see :func:`open_store`).

    Returns:
        The runs.

    Raises:
        RunsError: for an unknown state name or a limit below 1.
        lockgate.store.StoreError: when the store cannot be opened.
    """
    wanted = state_name(state)
    if limit < 1:
        raise RunsError(f"--limit must be at least 1, not {limit}.")
    with open_store(store) as opened:
        return opened.list_runs(flow=flow, state=wanted, limit=limit)


def show(
    run_id: str, store: RunStore | str | None = None
) -> tuple[FlowRunRecord, list[TaskRunRecord]]:
    """One run and its task runs (``lockgate show``).

    Args:
        run_id: the run's id, or a unique prefix of it (4 characters or more).
        store: the store (see :func:`open_store`).

    Returns:
        The run, and each task run (mapped children have ``map_index >= 0``).

    Raises:
        lockgate.store.UnknownRunError: when no run has that id.
    """
    with open_store(store) as opened:
        run = opened.get_run(run_id)
        return run, opened.task_runs(run.id)


def _match_tasks(
    run: FlowRunRecord, records: Sequence[TaskRunRecord], names: Iterable[str]
) -> dict[str, list[TaskRunRecord]]:
    """Task-run records by the name or slug the user typed; unknown names raise."""
    out: dict[str, list[TaskRunRecord]] = {}
    for name in names:
        hits = [r for r in records if r.task_slug == name]
        if not hits:
            hits = [r for r in records if r.task_name == name]
        if not hits:
            known = sorted({r.task_name for r in records})
            listing = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "")
            raise RunsError(
                f"Run {run.id[:8]} has no task '{name}'; its tasks are: {listing or '(none)'}."
            )
        out[name] = hits
    return out


def logs(
    run_id: str, task: str | None = None, store: RunStore | str | None = None
) -> list[LogRecord]:
    """The log lines of a run, or of one of its tasks (``lockgate logs``).

    Args:
        run_id: the run's id or a unique prefix.
        task: only this task's lines (its name or slug; a mapped task's include its
            children's).
        store: the store (see :func:`open_store`).

    Returns:
        The lines, oldest first.

    Raises:
        RunsError: when the run has no task called ``task``.
        lockgate.store.UnknownRunError: when no run has that id.
    """
    with open_store(store) as opened:
        run = opened.get_run(run_id)
        if task is None:
            return opened.logs(run.id)
        lines: list[LogRecord] = []
        for slug in task_slugs(run.id, task, store=opened):
            lines.extend(opened.logs(run.id, task_slug=slug))
        lines.sort(key=lambda rec: rec.timestamp)
        return lines


def task_slugs(run_id: str, task: str, store: RunStore | str | None = None) -> list[str]:
    """The slugs of a run's task called ``task`` (its name or slug), sorted.

    Args:
        run_id: the run's id or a unique prefix.
        task: the task's name or slug (several tasks may share a name).
        store: the store (see :func:`open_store`).

    Returns:
        The slugs.

    Raises:
        RunsError: when the run has no task called ``task``.
        lockgate.store.UnknownRunError: when no run has that id.
    """
    with open_store(store) as opened:
        run = opened.get_run(run_id)
        matched = _match_tasks(run, opened.task_runs(run.id), [task])[task]
        return sorted({r.task_slug for r in matched})


def task_history(
    run_id: str, task: str, store: RunStore | str | None = None
) -> list[tuple[TaskRunRecord, list[TransitionRecord]]]:
    """A task's state history: every transition, with time and message (``show --task``).

    Args:
        run_id: the run's id or a unique prefix.
        task: the task's name or slug; ``NAME[3]`` picks one mapped child (a mapped
            task's name alone gives the task and each of its children).
        store: the store (see :func:`open_store`).

    Returns:
        ``(task run, its transitions oldest first)`` for each matching task run, the
        task before its children.

    Raises:
        RunsError: when the run has no such task (or no such child).
        lockgate.store.UnknownRunError: when no run has that id.
    """
    name, index = task, None
    if task.endswith("]") and "[" in task:
        head, _, tail = task[:-1].rpartition("[")
        if tail.isdigit():
            name, index = head, int(tail)
    with open_store(store) as opened:
        run = opened.get_run(run_id)
        matched = _match_tasks(run, opened.task_runs(run.id), [name])[name]
        if index is not None:
            matched = [r for r in matched if r.map_index == index]
            if not matched:
                raise RunsError(
                    f"Task '{name}' of run {run.id[:8]} has no mapped child {index}; "
                    f"`lockgate show {run.id[:8]} --task {name}` lists its children."
                )
        by_run: dict[tuple[str, int], list[TransitionRecord]] = {}
        for slug in sorted({r.task_slug for r in matched}):
            for t in opened.transitions(run.id, task_slug=slug):
                by_run.setdefault((slug, t.map_index), []).append(t)
        matched.sort(key=lambda r: (r.task_slug, r.map_index))
        return [(r, by_run.get((r.task_slug, r.map_index), [])) for r in matched]


def waiting(run_id: str, store: RunStore | str | None = None) -> list[TaskRunRecord]:
    """The task runs of a run that are Paused, waiting for approval.

    Args:
        run_id: the run's id or a unique prefix.
        store: the store (see :func:`open_store`).

    Returns:
        The Paused task runs (mapped children included, with their ``map_index``).

    Raises:
        lockgate.store.UnknownRunError: when no run has that id.
    """
    with open_store(store) as opened:
        run = opened.get_run(run_id)
        return [r for r in opened.task_runs(run.id) if r.state == "Paused"]


def flows(store: RunStore | str | None = None) -> list[FlowRecord]:
    """Every flow the store has seen, with its latest run (``lockgate flows``).

    Args:
        store: the store (see :func:`open_store`).

    Returns:
        The flows.
    """
    with open_store(store) as opened:
        return opened.list_flows()


# -- resume and restart ---------------------------------------------------------------------
def _flow_of_run(run: FlowRunRecord, flow: Flow | None, verb: str) -> tuple[Flow, str | None]:
    """The flow to resume or restart ``run`` with, checked against the recorded graph.

    Args:
        run: the run.
        flow: the flow the caller passed, or None to load it from the run's source.
        verb: ``"restart"`` or ``"resume"``, for the hints in messages.

    Returns:
        The flow and the source text to record with the continued run.
    """
    from lockgate.store.graph import graph_hash

    short = run.id[:8]
    if flow is not None:
        if graph_hash(flow) != run.graph_hash:
            raise RunsError(
                f"Flow '{flow.name}' is not the graph run {short} ran (its tasks or edges "
                "differ); pass the flow the run was started with."
            )
        return flow, run.source
    if not run.source:
        raise RunsError(
            f"Run {short} was recorded without a source file (its flow was not a "
            "module-level variable of the file that ran it), so its flow cannot be "
            f"loaded; from Python, pass the flow that ran: "
            f"lockgate.runs.{verb}('{short}', flow=flow)."
        )
    try:
        loaded = _reload(run.source)
    except RunsError as exc:
        raise RunsError(
            f"{exc} To {verb} the run anyway, from Python pass the flow that ran: "
            f"lockgate.runs.{verb}('{short}', flow=flow)."
        ) from None
    if graph_hash(loaded.flow) != run.graph_hash:
        raise RunsError(
            f"The flow in '{loaded.source}' has changed since run {short} started "
            "(its tasks or edges differ); restore the file, or start a new run with "
            f"`lockgate run {loaded.source}`."
        )
    return loaded.flow, loaded.source


def _check_not_live(run: FlowRunRecord, doing: str) -> None:
    """Refuse to touch a run that a process is recording right now."""
    if run.state == "Running" and run.active:
        raise RunsError(
            f"Run {run.id[:8]} is still running (pid {run.pid} on {run.host}); wait for it "
            f"to end before {doing} it."
        )


def _wait_for_writer_unless_live(store: RunStore, run: FlowRunRecord) -> None:
    """Let the writer process of a run that was killed commit what it was sent."""
    if not (run.state == "Running" and run.active):
        store.wait_for_writer(run.id)


def _reusable(state: State) -> State:
    """A stored state as a run should see it: a Cached result is reused, not revalidated."""
    from lockgate.engine.state import Cached, Success

    if isinstance(state, Cached):
        reused = Success(state.message, result=state.result)
        reused._result = state._result
        return reused
    return state


def _for_restart(state: State) -> State | None:
    """The state a task restarts from, or None when it keeps ``state``.

    Failed (TimedOut, TriggerFailed) and unfinished states start again as Pending;
    Paused states stay Paused (only ``resume`` approves them); a Mapped state keeps
    its children that need no restart and restarts the others.
    """
    from lockgate.engine.state import Failed, Mapped, Paused, Pending, Success, TriggerFailed

    if isinstance(state, Mapped):
        changed = False
        children: list[State] = []
        for child in state.map_states:
            again = _for_restart(child)
            changed = changed or again is not None
            children.append(again if again is not None else _reusable(child))
        if not changed:
            return None
        return Mapped(state.message, map_states=children, cached_inputs=state.cached_inputs)
    if isinstance(state, (Success, Paused)):
        return None
    if isinstance(state, TriggerFailed):
        return Pending("Restarted after a trigger failure.")
    if isinstance(state, Failed):
        return Pending("Restarted after a failure.", cached_inputs=state.cached_inputs)
    return Pending("Restarted; the task had not finished.", cached_inputs=state.cached_inputs)


def _flow_tasks_by_slug(flow: Flow) -> dict[str, Task]:
    return {slug: t for t, slug in flow.slugs().items()}


def resume(
    run_id: str,
    tasks: Sequence[str] | None = None,
    store: RunStore | str | None = None,
    executor: Executor | str | None = None,
    hooks: Iterable[RunHooks] = (),
    flow: Flow | None = None,
) -> State:
    """Approve Paused tasks and continue the run from its stored states (``lockgate resume``).

    The flow is loaded again from the file the run came from (it must still build the
    same graph), every task's stored state and result is read back, the approved
    tasks start (their ``manual_only`` trigger passes) and what depends on them runs.
    The run keeps its id: the new states are recorded in the same run.

    Args:
        run_id: the run's id or a unique prefix.
        tasks: the Paused tasks to approve, by name or slug (a mapped task's name
            approves all its paused children); None approves every Paused task.
        store: the store (see :func:`open_store`).
        executor: where to run (default: the executor the run was started with).
        hooks: extra :class:`~lockgate.engine.hooks.RunHooks`.
        flow: the flow to continue, instead of loading it from the run's source file
            (for runs recorded from Python without a source); it must be the same graph.

    Returns:
        The flow's new state.

    Raises:
        RunsError: when nothing in the run is Paused, a named task is unknown or not
            Paused, or the flow's file is gone or changed (nothing is recorded).
        lockgate.store.UnknownRunError: when no run has that id.
    """
    with open_store(store) as opened:
        run = opened.get_run(run_id)
        _wait_for_writer_unless_live(opened, run)
        records = opened.task_runs(run.id)
        paused = [r for r in records if r.state == "Paused"]
        short = run.id[:8]
        if paused:
            _check_not_live(run, "resuming")
        if not paused:
            raise RunsError(
                f"Run {short} has nothing paused to resume (it is {run.state}); "
                f"`lockgate show {short}` lists its tasks"
                + ("; `lockgate restart` re-runs failed ones." if run.state != "Success" else ".")
            )
        if tasks:
            chosen: set[str] = set()
            waiting_names = ", ".join(sorted({r.task_name for r in paused}))
            for name in tasks:
                hits = [r for r in records if r.task_slug == name] or [
                    r for r in records if r.task_name == name
                ]
                if not hits:
                    raise RunsError(
                        f"Run {short} has no paused task '{name}'; the paused tasks are: "
                        f"{waiting_names}."
                    )
                slugs = {r.task_slug for r in hits if r.state == "Paused"}
                if not slugs:
                    raise RunsError(
                        f"Task '{name}' of run {short} is not paused (it is {hits[0].state}); "
                        f"the paused tasks are: {waiting_names}."
                    )
                chosen |= slugs
        else:
            chosen = {r.task_slug for r in paused}
        flow, source = _flow_of_run(run, flow, "resume")
        by_slug = _flow_tasks_by_slug(flow)
        missing = sorted(s for s in chosen if s not in by_slug)
        if missing:
            raise RunsError(
                f"Flow '{flow.name}' has no task with slug {missing[0]!r}; "
                f"pass the flow run {short} was started with."
            )
        ex, label = _rerun_executor(executor, run)
        stored = opened.task_states(run.id, flow)
        states = {t: _reusable(s) for t, s in stored.items()}
        _, state = _run_with_store(
            flow,
            store=opened,
            source=source,
            executor=ex,
            executor_label=label,
            hooks=hooks,
            flow_run_id=run.id,
            parameters=dict(run.parameters),
            task_states=states,
            start_tasks=[by_slug[s] for s in sorted(chosen)],
        )
        return state


def restart(
    run_id: str,
    store: RunStore | str | None = None,
    executor: Executor | str | None = None,
    hooks: Iterable[RunHooks] = (),
    flow: Flow | None = None,
) -> State:
    """Re-run what failed or never finished, reusing what succeeded (``lockgate restart``).

    Tasks that are Failed (TimedOut, TriggerFailed included) or were never finished
    (Pending, Running when the process died, Retrying) run again; a mapped task
    re-runs only its children that did not succeed. Everything that succeeded keeps
    its stored state and result and does not run again. Paused tasks are evaluated
    again, so they pause again: approve them with :func:`resume`. The run keeps its id.

    Args:
        run_id: the run's id or a unique prefix.
        store: the store (see :func:`open_store`).
        executor: where to run (default: the executor the run was started with).
        hooks: extra :class:`~lockgate.engine.hooks.RunHooks`.
        flow: the flow to continue, instead of loading it from the run's source file
            (for runs recorded from Python without a source); it must be the same graph.

    Returns:
        The flow's new state.

    Raises:
        RunsError: when the run succeeded, is still running, has nothing to restart,
            or its flow file is gone or changed (nothing is recorded).
        lockgate.store.UnknownRunError: when no run has that id.
    """
    with open_store(store) as opened:
        run = opened.get_run(run_id)
        short = run.id[:8]
        if run.state == "Success":
            how = f" with `lockgate run {run.source}`" if run.source else ""
            raise RunsError(
                f"Run {short} succeeded; there is nothing to restart. Start a new run{how}."
            )
        _check_not_live(run, "restarting")
        _wait_for_writer_unless_live(opened, run)
        records = opened.task_runs(run.id)
        if run.state not in ("Failed", "Cancelled", "Crashed") and not any(
            r.state in _RESTARTED for r in records
        ):
            raise RunsError(
                f"Run {short} has no failed or unfinished tasks to restart; "
                f"`lockgate resume {short}` approves its paused ones."
            )
        flow, source = _flow_of_run(run, flow, "restart")
        stored = opened.task_states(run.id, flow)
        states: dict[Task, State] = {}
        for t in flow.sorted_tasks():
            st = stored.get(t)
            if st is None:
                continue  # never started: runs from Pending
            again = _for_restart(st)
            states[t] = _reusable(st) if again is None else again
        ex, label = _rerun_executor(executor, run)
        _, state = _run_with_store(
            flow,
            store=opened,
            source=source,
            executor=ex,
            executor_label=label,
            hooks=hooks,
            flow_run_id=run.id,
            parameters=dict(run.parameters),
            task_states=states,
        )
        return state


# -- drawing --------------------------------------------------------------------------------
def task_states_from_records(flow: Flow, records: Iterable[TaskRunRecord]) -> dict[Task, State]:
    """States for drawing, rebuilt from task-run records without reading any result.

    Args:
        flow: the flow the records belong to (tasks are matched by slug).
        records: task-run records; a mapped task's children become its
            ``Mapped.map_states``.

    Returns:
        A state per task that has a record (its class from the recorded state name;
        unknown names give a plain ``State``).
    """
    from lockgate.engine import state as states_module
    from lockgate.engine.state_lookup import plain_state as make

    by_slug = _flow_tasks_by_slug(flow)
    parents: dict[Task, State] = {}
    children: dict[Task, dict[int, State]] = {}
    for rec in records:
        task = by_slug.get(rec.task_slug)
        if task is None:
            continue
        if rec.map_index < 0:
            parents[task] = make(rec.state, rec.message)
        else:
            children.setdefault(task, {})[rec.map_index] = make(rec.state, rec.message)
    for task, kids in children.items():
        ordered = [kids[i] for i in sorted(kids)]
        parent = parents.get(task)
        message = parent.message if parent is not None else None
        parents[task] = states_module.Mapped(message, map_states=ordered)
    return parents


def visualize(
    target: str | None,
    run_id: str | None = None,
    output: str | os.PathLike[str] = "flow.svg",
    store: RunStore | str | None = None,
) -> Path:
    """Draw a flow with Graphviz, coloured by a recorded run's states (``lockgate visualize``).

    Args:
        target: ``FILE`` or ``FILE:FLOW`` (see :func:`load_flow_file`); None draws the
            graph stored with the run (``run_id`` needed), without loading any file.
        run_id: colour the tasks by this run's states (its id or a unique prefix).
        output: the image to write: ``.svg``, ``.png``, ``.pdf`` (these need
            Graphviz's ``dot``), or ``.dot``/``.gv`` for the DOT text.
        store: the store (see :func:`open_store`); used only with ``run_id``.

    Returns:
        The path written.

    Raises:
        RunsError: for a bad file or flow, an unsupported extension, a run of
            another flow, or a missing ``dot``.
        lockgate.store.UnknownRunError: when no run has that id.
    """
    from lockgate.utilities.graphviz import FORMATS, draw_flow, find_dot

    out = Path(output)
    ext = out.suffix.lower()
    if ext not in (*FORMATS, ".dot", ".gv"):
        raise RunsError(
            f"Cannot tell the image format of '{out}'; end it with one of: "
            f"{', '.join([*FORMATS, '.dot', '.gv'])}."
        )
    if ext in FORMATS and find_dot() is None:
        raise RunsError(
            "Graphviz's 'dot' program is not installed, so no image can be drawn; install "
            f"it (e.g. `apt-get install graphviz`) or write '{out.with_suffix('.dot')}'."
        )
    if not out.parent.is_dir():
        raise RunsError(f"Cannot write '{out}': the directory '{out.parent}' does not exist.")
    if target is None:
        if run_id is None:
            raise RunsError("Nothing to draw: pass a flow file (FILE[:FLOW]) or a run id.")
        with open_store(store) as opened:
            run = opened.get_run(run_id)
            graph = opened.get_run_graph(run.id)
        if graph is None:
            raise RunsError(
                f"Run {run.id[:8]} was recorded before lockgate stored flow graphs; draw it "
                f"from its file: visualize('{run.source or 'FILE'}', run_id='{run.id[:8]}')."
            )
        from lockgate.store.graph import flow_from_graph

        flow = flow_from_graph(graph)
    else:
        flow = load_flow_file(target).flow
    states: dict[Task, State] | None = None
    title = flow.name
    if run_id is not None:
        with open_store(store) as opened:
            run = opened.get_run(run_id)
            if run.flow_name != flow.name:
                raise RunsError(
                    f"Run {run.id[:8]} is a run of flow '{run.flow_name}', not of "
                    f"'{flow.name}'; pass the file it came from ({run.source})."
                )
            states = task_states_from_records(flow, opened.task_runs(run.id))
            title = f"{flow.name} · run {run.id[:8]} ({run.state})"
    try:
        draw_flow(flow, filename=out, task_states=states, title=title)
    except (RuntimeError, ValueError, OSError) as exc:
        raise RunsError(f"Could not draw '{out}': {_one_line(exc)}") from None
    return out


# -- cancel ---------------------------------------------------------------------------------
def cancel(run_id: str, store: RunStore | str | None = None) -> str:
    """Ask a running run to stop (``lockgate cancel``, the dashboard's Cancel).

    The request is recorded in the store (:meth:`RunStore.request_cancel`); the process
    recording the run looks for it about twice a second and then cancels the run: calls
    in flight end Cancelled, nothing else starts, and the run ends Cancelled.

    Args:
        run_id: the run's id or a unique prefix.
        store: the store (see :func:`open_store`).

    Returns:
        The run's full id.

    Raises:
        lockgate.store.StoreError: when the run is not running (finished, crashed, or
            waiting for approval with no process running it).
        lockgate.store.UnknownRunError: when no run has that id.
    """
    with open_store(store) as opened:
        return opened.request_cancel(run_id)


# -- housekeeping ---------------------------------------------------------------------------
_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_age(text: str) -> timedelta:
    """Parse a retention such as ``30d``, ``12h``, ``90m``, ``2w`` (a bare number is days).

    Args:
        text: the text.

    Returns:
        The duration.

    Raises:
        RunsError: for anything else, or a negative age.
    """
    raw = text.strip().lower()
    unit = raw[-1:] if raw[-1:] in _AGE_UNITS else "d"
    number = raw[:-1] if raw[-1:] in _AGE_UNITS else raw
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise RunsError(
            f"Age {text!r} is not a duration; write a number and a unit: 30d, 12h, 90m, 2w "
            "(a bare number is days)."
        )
    return timedelta(seconds=value * _AGE_UNITS[unit])


def gc(
    older_than: timedelta | str, dry_run: bool = False, store: RunStore | str | None = None
) -> GcReport:
    """Drop the kept results of runs that ended long ago (``lockgate gc``).

    See :meth:`lockgate.store.RunStore.collect_garbage`: result files and stored
    results of runs that ended more than ``older_than`` ago go; the runs' records
    (states, transitions, logs) stay.

    Args:
        older_than: a :class:`~datetime.timedelta`, or text such as ``"30d"``.
        dry_run: only report what would be removed.
        store: the store (see :func:`open_store`).

    Returns:
        What was (or would be) removed.

    Raises:
        RunsError: for an age that is not a duration.
        lockgate.store.StoreError: the store is read-only or damaged.
    """
    age = parse_age(older_than) if isinstance(older_than, str) else older_than
    with open_store(store) as opened:
        return opened.collect_garbage(age, dry_run=dry_run)
