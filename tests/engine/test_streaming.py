"""Mapped pipelines stream item by item, and results are let go as soon as nothing needs them."""

from __future__ import annotations

from lockgate import Flow, task, triggers
from lockgate.engine.state import Mapped, Paused, Pending, Success
from lockgate.testing import RecordingExecutor


@task
def items() -> list[int]:
    return [1, 2, 3]


@task
def load(x: int) -> int:
    return x * 10


@task
def transform(x: int) -> int:
    return x + 1


@task
def save(x: int) -> int:
    return x


@task
def total(xs: list[int]) -> int:
    return sum(xs)


def test_a_mapped_pipeline_runs_item_by_item_depth_first() -> None:
    with Flow("stream") as flow:
        saved = save.map(transform.map(load.map(items())))
        result = total(saved)

    executor = RecordingExecutor()
    state = flow.run(executor=executor, return_tasks=[saved, result])
    assert executor.submitted == [
        ("items", None),
        ("load", 0),
        ("transform", 0),
        ("save", 0),
        ("load", 1),
        ("transform", 1),
        ("save", 1),
        ("load", 2),
        ("transform", 2),
        ("save", 2),
        ("total", None),
    ]
    assert state.result[result].result == 11 + 21 + 31
    assert state.result[saved].result == [11, 21, 31]


def test_children_of_a_task_read_whole_are_kept_until_it_ran() -> None:
    # `total` reads every child of `load`, so no child result may be let go early.
    with Flow("whole") as flow:
        loaded = load.map(items())
        doubled = transform.map(loaded)
        everything = total(loaded)

    state = flow.run(return_tasks=[everything, doubled])
    assert state.result[everything].result == 60
    assert state.result[doubled].result == [11, 21, 31]


def test_a_returned_mapped_task_keeps_every_child_result() -> None:
    with Flow("returned") as flow:
        loaded = load.map(items())
        saved = save.map(transform.map(loaded))

    state = flow.run(return_tasks=[loaded, saved])
    assert state.result[loaded].result == [10, 20, 30]
    assert [s.result for s in state.result[loaded].map_states] == [10, 20, 30]


def test_a_paused_child_holds_back_only_its_own_item_downstream() -> None:
    @task(trigger=triggers.manual_only)
    def approve(x: int) -> int:
        return x

    with Flow("paused-item") as flow:
        loaded = load.map(items())
        approved = approve.map(loaded)
        saved = save.map(approved)
        result = total(saved)

    state = flow.run(return_tasks=[approved, saved, result])
    assert all(type(s) is Paused for s in state.result[approved].map_states)
    mapped = state.result[saved]
    assert type(mapped) is Mapped
    assert [type(s) for s in mapped.map_states] == [Pending, Pending, Pending]
    assert type(state.result[result]) is Pending  # the reduce waits for every item


def test_downstream_children_of_finished_items_run_while_one_item_pauses() -> None:
    @task
    def maybe_pause(x: int) -> int:
        if x == 20:
            from lockgate.engine import signals

            raise signals.PAUSE("needs a look")
        return x

    with Flow("one-paused") as flow:
        checked = maybe_pause.map(load.map(items()))
        saved = save.map(checked)

    executor = RecordingExecutor()
    state = flow.run(executor=executor, return_tasks=[checked, saved])
    assert [type(s) for s in state.result[checked].map_states] == [Success, Paused, Success]
    assert [type(s) for s in state.result[saved].map_states] == [Success, Pending, Success]
    assert ("save", 1) not in executor.submitted
    assert ("save", 2) in executor.submitted
