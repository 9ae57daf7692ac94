"""The engine: states, signals, runners, the scheduling loop and executors."""

from typing import Any

from lockgate.engine import signals, state

__all__ = ["FlowRunner", "TaskRunner", "signals", "state"]


def __getattr__(name: str) -> Any:
    # The runners import triggers, which import signals from this package: load lazily.
    if name == "FlowRunner":
        from lockgate.engine.flow_runner import FlowRunner

        return FlowRunner
    if name == "TaskRunner":
        from lockgate.engine.task_runner import TaskRunner

        return TaskRunner
    raise AttributeError(f"module 'lockgate.engine' has no attribute {name!r}")
