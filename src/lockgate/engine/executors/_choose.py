"""Choosing an executor by name: ``flow.run(executor="threads:8")``, ``LOCKGATE_EXECUTOR``
or the setting ``engine.executor.default_class``."""

from __future__ import annotations

import os

from lockgate.engine.executors.base import Executor
from lockgate.engine.executors.local import LocalExecutor

__all__ = ["ENV_VAR", "SETTING", "configured_executor", "default_executor", "executor_from_spec"]

ENV_VAR = "LOCKGATE_EXECUTOR"
SETTING = "engine.executor.default_class"
# lockgate's executor classes by the short form that builds each.
_CLASS_FORMS = {
    "LocalExecutor": "local",
    "ThreadExecutor": "threads",
    "ProcessExecutor": "processes",
    "DaskExecutor": "dask",
}
_FORMS = (
    "'local', 'threads', 'threads:N', 'processes', 'processes:N', 'dask' "
    "(a LocalCluster on loopback) or 'dask:ADDRESS' (e.g. 'dask:tcp://127.0.0.1:8786')"
)


def executor_from_spec(spec: str) -> Executor:
    """Build an executor from a short text form.

    Args:
        spec: one of ``local``, ``threads[:N]``, ``processes[:N]`` (N workers),
            ``dask`` (start a LocalCluster) or ``dask:ADDRESS`` (connect to a running
            scheduler).

    Raises:
        ValueError: naming the text when it is none of these forms.
    """
    name, _, arg = spec.strip().partition(":")
    name = name.lower()
    if name == "dask":
        from lockgate.engine.executors.dask import DaskExecutor

        return DaskExecutor(address=arg or None)
    if name == "local" and not arg:
        return LocalExecutor()
    if name in ("threads", "processes"):
        workers: int | None = None
        if arg:
            if not arg.isdigit() or int(arg) < 1:
                raise ValueError(
                    f"Executor {spec!r}: the worker count after ':' must be a positive "
                    f"integer, e.g. '{name}:4'."
                )
            workers = int(arg)
        if name == "threads":
            from lockgate.engine.executors.threads import ThreadExecutor

            return ThreadExecutor(max_workers=workers)
        from lockgate.engine.executors.processes import ProcessExecutor

        return ProcessExecutor(max_workers=workers)
    raise ValueError(f"Unknown executor {spec!r}: use {_FORMS}.")


def configured_executor() -> Executor | str:
    """The executor for a run that names none, as a short form when it has one.

    ``$LOCKGATE_EXECUTOR`` when set (a short form), else the setting
    ``engine.executor.default_class``: a short form as it is, one of lockgate's
    executor classes as its short form (``LocalExecutor`` is ``"local"``), and any
    other class as a new instance of it.

    Returns:
        A short form such as ``"local"`` or ``"threads:8"``, or an executor.
    """
    spec = os.environ.get(ENV_VAR, "").strip()
    if spec:
        return spec
    from lockgate.configuration import config

    value = config.get_nested(SETTING)
    if isinstance(value, str) and value.partition(":")[0].strip().lower() in _CLASS_FORMS.values():
        return value.strip()
    if value is None or value == "lockgate.engine.executors.LocalExecutor":
        return "local"
    from lockgate.engine import get_default_executor_class

    cls = get_default_executor_class()
    if cls.__module__.startswith("lockgate.engine.executors") and cls.__name__ in _CLASS_FORMS:
        return _CLASS_FORMS[cls.__name__]
    executor: Executor = cls()
    return executor


def default_executor() -> Executor:
    """The executor for a run that names none (see :func:`configured_executor`).

    Raises:
        ValueError: when ``LOCKGATE_EXECUTOR`` or the setting holds an unknown form
            (the message names which).
    """
    chosen = configured_executor()
    if not isinstance(chosen, str):
        return chosen
    if chosen == "local":
        return LocalExecutor()
    try:
        return executor_from_spec(chosen)
    except ValueError as exc:
        source = ENV_VAR if os.environ.get(ENV_VAR, "").strip() else f"Setting {SETTING}"
        raise ValueError(f"{source}={chosen!r} is not a valid executor: {exc}") from None
