"""Each of the TaskRunner's 13 steps is called through its method, so a subclass's
override of any of them is honoured in a flow run (issue 14 item 2).

For each step, a subclass whose override ends the run with a state of its own
(``ENDRUN``) runs a small flow; the task that reaches the step must end in that state.
A second subclass overrides every step with one that records its call and defers to
the base class, and the flow's results must be those of the plain TaskRunner.
"""

from __future__ import annotations

from typing import Any

import pytest

from lockgate import Flow, task
from lockgate.engine.executors.local import LocalExecutor
from lockgate.engine.executors.threads import ThreadExecutor
from lockgate.engine.flow_runner import FlowRunner
from lockgate.engine.runner import ENDRUN
from lockgate.engine.state import Mapped, State, Success
from lockgate.engine.task_runner import TaskRunner

STEPS = [
    "initialize_run",
    "check_task_is_ready",
    "check_task_reached_start_time",
    "check_upstream_finished",
    "run_mapped_task",
    "check_upstream_skipped",
    "get_task_inputs",
    "check_task_is_cached",
    "check_task_trigger",
    "set_task_to_running",
    "get_task_run_state",
    "cache_result",
    "check_for_retry",
]


@task
def numbers() -> list[int]:
    return [1, 2, 3]


@task
def double(x: int) -> int:
    return 2 * x


@task
def total(xs: list[int]) -> int:
    return sum(xs)


def _flow() -> tuple[Flow, Any, Any]:
    with Flow("overrides") as flow:
        doubled = double.map(numbers())
        summed = total(doubled)
    return flow, doubled, summed


def _ending_at(step: str, target: str) -> type[TaskRunner]:
    """A TaskRunner whose ``step`` ends the run of task ``target`` with a Success of its own."""

    def override(self: TaskRunner, *args: Any, **kwargs: Any) -> Any:
        if self.task.name == target:
            raise ENDRUN(Success(f"ended by {step}", result=-1))
        return getattr(TaskRunner, step)(self, *args, **kwargs)

    return type(f"EndsAt_{step}", (TaskRunner,), {step: override})


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("executor", [LocalExecutor, ThreadExecutor], ids=["local", "threads"])
def test_an_override_of_each_step_is_honoured(step: str, executor: type[Any]) -> None:
    flow, doubled, summed = _flow()
    # Step 5 is reached only by the mapped task; the others by the task after it.
    target = "double" if step == "run_mapped_task" else "total"
    runner = FlowRunner(flow, task_runner_cls=_ending_at(step, target))
    state = runner.run(return_tasks=[doubled, summed], executor=executor())
    ended = state.result[doubled if target == "double" else summed]
    assert ended.message == f"ended by {step}"
    assert ended.result == -1


class _Recording(TaskRunner):
    calls: list[str] = []


def _recorder(step: str) -> Any:
    def override(self: TaskRunner, *args: Any, **kwargs: Any) -> Any:
        _Recording.calls.append(step)
        return getattr(TaskRunner, step)(self, *args, **kwargs)

    return override


for _step in STEPS:
    setattr(_Recording, _step, _recorder(_step))


@pytest.mark.parametrize("executor", [LocalExecutor, ThreadExecutor], ids=["local", "threads"])
def test_overrides_that_defer_to_the_base_class_change_nothing(executor: type[Any]) -> None:
    _Recording.calls = []
    flow, doubled, summed = _flow()
    state = FlowRunner(flow, task_runner_cls=_Recording).run(
        return_tasks=[doubled, summed], executor=executor()
    )
    assert set(_Recording.calls) == set(STEPS)
    mapped: State = state.result[doubled]
    assert isinstance(mapped, Mapped)
    assert [s.result for s in mapped.map_states] == [2, 4, 6]
    assert state.result[summed].result == 12
