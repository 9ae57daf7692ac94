"""Choosing an executor by name: ``flow.run(executor="threads:8")`` or ``LOCKGATE_EXECUTOR``."""

from __future__ import annotations

import os

from lockgate.engine.executors.base import Executor
from lockgate.engine.executors.local import LocalExecutor

__all__ = ["ENV_VAR", "default_executor", "executor_from_spec"]

ENV_VAR = "LOCKGATE_EXECUTOR"
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


def default_executor() -> Executor:
    """The executor for a run that names none: ``$LOCKGATE_EXECUTOR``, else inline.

    Raises:
        ValueError: when ``LOCKGATE_EXECUTOR`` holds an unknown form (the message
            names the variable).
    """
    spec = os.environ.get(ENV_VAR, "").strip()
    if not spec:
        return LocalExecutor()
    try:
        return executor_from_spec(spec)
    except ValueError as exc:
        raise ValueError(f"{ENV_VAR}={spec!r} is not a valid executor: {exc}") from None
