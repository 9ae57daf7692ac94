"""The seam between a flow run and the run store: what ``flow.run(store=...)`` calls.

:mod:`lockgate.core` and :mod:`lockgate.engine` never import the store at module level
(``tests/test_layering.py`` checks it); ``Flow.run`` imports this module on use, when a
run is to be recorded, and calls :func:`run_with_store`. Everything the store needs
from a run it gets here: the recorder is installed as a run hook and a task runner
state handler, and the run's cancel event and ``flow_run_id`` are passed in.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lockgate.core.flow import Flow
    from lockgate.engine.state import State

__all__ = ["caller_source", "describe_executor", "run_with_store"]


def describe_executor(executor: Any) -> str:
    """A short text for the executor a run uses (what ``lockgate runs`` shows).

    Args:
        executor: an Executor, a text form such as ``"threads:8"``, or None (then
            ``$LOCKGATE_EXECUTOR``, else the setting ``engine.executor.default_class``).
    """
    if executor is None:
        from lockgate.engine.executors._choose import configured_executor

        executor = configured_executor()
    if isinstance(executor, str):
        return executor
    return type(executor).__name__


def caller_source(flow: Flow) -> str | None:
    """``"FILE:VARIABLE"`` of the file that holds ``flow`` in a module-level variable
    and called ``flow.run``, so ``lockgate restart`` can load the flow again.

    The calling frames are searched, innermost first, skipping lockgate's own; the first
    module (with a ``__file__``) whose globals hold this very flow names it. A flow
    built inside a function, in a notebook or in ``python -c`` has no such file: None.

    Args:
        flow: the flow being run.

    Returns:
        The source text, or None when it cannot be known.
    """
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    frame = sys._getframe(1)
    while frame is not None:
        module_globals = frame.f_globals
        file = module_globals.get("__file__")
        if isinstance(file, str) and file.endswith(".py"):
            path = os.path.abspath(file)
            if not path.startswith(package):
                for name, value in list(module_globals.items()):
                    if value is flow and not name.startswith("__"):
                        return f"{path}:{name}"
        frame = frame.f_back  # type: ignore[assignment]
    return None


def run_with_store(
    flow: Flow,
    store: Any,
    parameters: Mapping[str, Any],
    kwargs: dict[str, Any],
) -> State:
    """Run ``flow`` with its run recorded (what ``flow.run(store=...)`` does).

    Args:
        flow: the flow.
        store: True, a URL, a :class:`~lockgate.store.RunStore` or a
            :class:`StoreRecorder` (see :func:`~lockgate.store.resolve_store`).
        parameters: the (checked) parameter values.
        kwargs: the other ``FlowRunner.run`` arguments.

    Returns:
        The flow's final state.

    Raises:
        StoreError: the store cannot be opened.
    """
    from lockgate.engine.flow_runner import FlowRunner
    from lockgate.store.run_store import resolve_store

    run_store, recorder, owned = resolve_store(store)
    try:
        run_store.ensure_writable()  # never run (and write) into a damaged store
        if recorder is None:
            recorder = run_store.recorder(
                source=caller_source(flow), executor=describe_executor(kwargs.get("executor"))
            )
        else:
            recorder.check_unused()
            if recorder.executor is None:
                recorder.executor = describe_executor(kwargs.get("executor"))
            if recorder.source is None and not recorder.continuing:
                recorder.source = caller_source(flow)
        hooks = [*(kwargs.pop("hooks", None) or ()), recorder]
        handlers = [*(kwargs.pop("task_runner_state_handlers", None) or ()), recorder.state_handler]
        context = {**(kwargs.pop("context", None) or {}), "flow_run_id": recorder.flow_run_id}
        if kwargs.get("cancel") is not None:
            recorder.cancel_event = kwargs["cancel"]  # a request from the store sets theirs
        kwargs["cancel"] = recorder.cancel_event
        try:
            return FlowRunner(flow).run(
                parameters=parameters,
                hooks=hooks,
                task_runner_state_handlers=handlers,
                context=context,
                **kwargs,
            )
        finally:
            recorder.close()
    finally:
        if owned:
            run_store.close()
