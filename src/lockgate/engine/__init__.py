"""The engine: states, signals, runners, the scheduling loop and executors.

The classes a run uses when it is given none come from the settings (see
``docs/configuration.md``): :func:`get_default_executor_class`,
:func:`get_default_flow_runner_class`, :func:`get_default_task_runner_class` and
:func:`get_default_result_handler_class`. Submodules (``lockgate.engine.executors``,
``lockgate.engine.flow_runner``, ...) are imported on first use.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from lockgate.engine import signals, state

__all__ = [
    "FlowRunner",
    "TaskRunner",
    "get_default_executor_class",
    "get_default_flow_runner_class",
    "get_default_result_handler_class",
    "get_default_task_runner_class",
    "signals",
    "state",
]

# The short executor forms of LOCKGATE_EXECUTOR, by the class each names.
_EXECUTOR_FORMS = {
    "local": "lockgate.engine.executors.LocalExecutor",
    "threads": "lockgate.engine.executors.ThreadExecutor",
    "processes": "lockgate.engine.executors.ProcessExecutor",
    "dask": "lockgate.engine.executors.DaskExecutor",
}


def _import_object(path: str) -> Any:
    """The object at a dotted path such as ``"package.module.Class"``.

    Raises:
        ValueError: when no module on the path has the named attribute.
    """
    parts = path.strip().split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            found: Any = importlib.import_module(module_name)
        except ImportError:
            continue
        try:
            for attribute in parts[split:]:
                found = getattr(found, attribute)
        except AttributeError:
            break
        return found
    raise ValueError(f"{path!r} is not an importable dotted path")


def _class_from_setting(setting: str, fallback: str, forms: dict[str, str] | None = None) -> Any:
    from lockgate.configuration import config

    value = config.get_nested(setting)
    if not isinstance(value, str):
        return value if value is not None else _import_object(fallback)
    short = value.strip().partition(":")[0].lower()
    if forms and short in forms:
        return _import_object(forms[short])
    try:
        return _import_object(value)
    except ValueError:
        warnings.warn(
            f"Setting {setting} = {value!r} names nothing that can be imported; using "
            f"{fallback} instead. Set it to a dotted class path such as {fallback!r}.",
            UserWarning,
            stacklevel=3,
        )
        return _import_object(fallback)


def get_default_executor_class() -> type:
    """The executor class for runs that name none: ``engine.executor.default_class``.

    The setting may be a class, a dotted class path, or a short form (``"local"``,
    ``"threads:8"``, ``"processes"``, ``"dask"``: the class it names). The
    ``LOCKGATE_EXECUTOR`` variable is not consulted here; the engine reads it first
    when it picks the executor of a run
    (:func:`lockgate.engine.executors.default_executor`).

    Returns:
        The class; ``LocalExecutor`` when the setting cannot be imported (with a
        ``UserWarning``).
    """
    result: type = _class_from_setting(
        "engine.executor.default_class",
        "lockgate.engine.executors.LocalExecutor",
        _EXECUTOR_FORMS,
    )
    return result


def get_default_flow_runner_class() -> type:
    """The FlowRunner class ``flow.run()`` uses: ``engine.flow_runner.default_class``.

    Returns:
        The class; ``FlowRunner`` when the setting cannot be imported (with a
        ``UserWarning``).
    """
    result: type = _class_from_setting(
        "engine.flow_runner.default_class", "lockgate.engine.flow_runner.FlowRunner"
    )
    return result


def get_default_task_runner_class() -> type:
    """The TaskRunner class flow runners use: ``engine.task_runner.default_class``.

    Returns:
        The class; ``TaskRunner`` when the setting cannot be imported (with a
        ``UserWarning``).
    """
    result: type = _class_from_setting(
        "engine.task_runner.default_class", "lockgate.engine.task_runner.TaskRunner"
    )
    return result


def get_default_result_handler_class() -> type:
    """The result handler class used where one is needed and none was given.

    Read from ``engine.result_handler.default_class``.

    Returns:
        The class; ``LocalResultHandler`` when the setting cannot be imported (with a
        ``UserWarning``).
    """
    result: type = _class_from_setting(
        "engine.result_handler.default_class",
        "lockgate.engine.result_handlers.LocalResultHandler",
    )
    return result


def __getattr__(name: str) -> Any:
    # The runners import triggers, which import signals from this package: load lazily.
    if name == "FlowRunner":
        from lockgate.engine.flow_runner import FlowRunner

        return FlowRunner
    if name == "TaskRunner":
        from lockgate.engine.task_runner import TaskRunner

        return TaskRunner
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
    raise AttributeError(f"module 'lockgate.engine' has no attribute {name!r}")
