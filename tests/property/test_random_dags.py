"""Property tests: random DAGs of state-only tasks, engine vs. an independent model.

Each example is a random DAG (1 to 40 tasks, edges only from a lower to a higher index,
fan-in 0..4). Every task gets a random behaviour (return, raise ValueError, FAIL, SKIP,
RETRY on its first run only, PAUSE, PAUSE on its first run only), a random trigger and a
random ``skip_on_upstream_skip``. The flow is built with the imperative API (Task
subclasses whose ``run`` takes no inputs; edges carry state only), run under a
``FakeClock`` so retry delays are instant, and EVERY task's final state class and the
flow's state class are compared with ``reference_model`` (which never runs the engine).

The second property resumes a run that left tasks Paused, with ``task_states`` set to the
first run's states and some of the paused tasks as ``start_tasks``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest
from hypothesis import event, given, note, settings
from hypothesis import strategies as st

from lockgate import Flow, Task, signals, triggers
from lockgate.engine.state import Failed, Paused, Pending, Skipped, State, Success
from lockgate.testing import FakeClock

from .reference_model import (
    BEHAVIOURS,
    TRIGGERS,
    Prediction,
    TaskSpec,
    predict_resume,
    predict_run,
    terminal_indices,
)

MAX_TASKS = 40
MAX_FAN_IN = 4

TRIGGER_FACTORIES = {
    "all_successful": lambda: triggers.all_successful,
    "all_finished": lambda: triggers.all_finished,
    "all_failed": lambda: triggers.all_failed,
    "any_successful": lambda: triggers.any_successful,
    "any_failed": lambda: triggers.any_failed,
    "manual_only": lambda: triggers.manual_only,
    "not_all_skipped": lambda: triggers.not_all_skipped,
    "some_successful(at_least=1)": lambda: triggers.some_successful(at_least=1),
    "some_failed(at_most=0)": lambda: triggers.some_failed(at_most=0),
}
assert set(TRIGGER_FACTORIES) == set(TRIGGERS)


# --------------------------------------------------------------------------- generator


@st.composite
def task_spec(
    draw: st.DrawFn,
    index: int,
    behaviours: Sequence[str] = BEHAVIOURS,
    trigger_names: Sequence[str] = TRIGGERS,
) -> TaskSpec:
    """One task with index ``index``: upstream tasks drawn among the lower indices."""
    upstream: list[int] = []
    if index:
        upstream = draw(
            st.lists(
                st.integers(0, index - 1),
                max_size=min(MAX_FAN_IN, index),
                unique=True,
            )
        )
    return TaskSpec(
        behaviour=draw(st.sampled_from(behaviours)),
        trigger=draw(st.sampled_from(trigger_names)),
        skip_on_upstream_skip=draw(st.booleans()),
        upstream=tuple(sorted(upstream)),
    )


@st.composite
def dags(draw: st.DrawFn, max_tasks: int = MAX_TASKS) -> list[TaskSpec]:
    """A random DAG as a list of TaskSpec in topological (index) order.

    Swarm testing: each example first picks which behaviours and triggers it may use, so
    some examples have no pauses at all (whole graphs run to the end) while others are
    dense in skips, failures or pauses.
    """
    behaviours = sorted(
        draw(st.sets(st.sampled_from(BEHAVIOURS), min_size=1)), key=BEHAVIOURS.index
    )
    trigger_names = sorted(draw(st.sets(st.sampled_from(TRIGGERS), min_size=1)), key=TRIGGERS.index)
    n = draw(st.integers(1, max_tasks))
    return [draw(task_spec(i, behaviours, trigger_names)) for i in range(n)]


@st.composite
def dags_with_a_pause(draw: st.DrawFn, max_tasks: int = MAX_TASKS) -> list[TaskSpec]:
    """A random DAG whose first run is sure to leave at least one task Paused.

    One task is forced to pause whenever its turn comes (PAUSE behaviour or manual_only,
    a trigger that passes on any finished upstream, no skip propagation). Either it pauses,
    or one of its upstream tasks is unfinished, which only a Paused ancestor can cause.
    """
    specs = draw(dags(max_tasks))
    k = draw(st.integers(0, len(specs) - 1))
    specs[k] = TaskSpec(
        behaviour=draw(st.sampled_from(("pause", "pause_once"))),
        trigger=draw(st.sampled_from(("all_finished", "manual_only"))),
        skip_on_upstream_skip=False,
        upstream=specs[k].upstream,
    )
    return specs


# --------------------------------------------------------------------------- engine side


class BehaviourTask(Task):
    """A task with no inputs whose ``run`` acts out one of the model's behaviours.

    ``run_counts`` is shared by every task of one example and keyed by task name, so
    "first run only" behaviours are deterministic across retries and resumed runs.
    """

    def __init__(self, behaviour: str, run_counts: dict[str, int], **kwargs: object) -> None:
        self.behaviour = behaviour
        self.run_counts = run_counts
        super().__init__(**kwargs)

    def run(self) -> object:
        previous_runs = self.run_counts.get(self.name, 0)
        self.run_counts[self.name] = previous_runs + 1
        behaviour = self.behaviour
        if behaviour == "value_error":
            raise ValueError(f"{self.name} raised ValueError")
        if behaviour == "fail":
            raise signals.FAIL(f"{self.name} failed")
        if behaviour == "skip":
            raise signals.SKIP(f"{self.name} skipped")
        if behaviour == "pause" or (behaviour == "pause_once" and previous_runs == 0):
            raise signals.PAUSE(f"{self.name} paused")
        if behaviour == "retry_once" and previous_runs == 0:
            raise signals.RETRY(f"{self.name} retries once")
        return f"{self.name} result"


def build_flow(
    specs: Sequence[TaskSpec], run_counts: dict[str, int], use_set_dependencies: bool
) -> tuple[Flow, list[BehaviourTask]]:
    """Build the flow imperatively, with state-only edges."""
    flow = Flow("random-dag")
    tasks: list[BehaviourTask] = []
    for i, spec in enumerate(specs):
        t = BehaviourTask(
            spec.behaviour,
            run_counts,
            name=f"t{i}",
            trigger=TRIGGER_FACTORIES[spec.trigger](),
            skip_on_upstream_skip=spec.skip_on_upstream_skip,
            max_retries=0,
            retry_delay=timedelta(seconds=5),
        )
        tasks.append(t)
        flow.add_task(t)
    for i, spec in enumerate(specs):
        if use_set_dependencies:
            if spec.upstream:
                flow.set_dependencies(tasks[i], upstream_tasks=[tasks[u] for u in spec.upstream])
        else:
            for u in spec.upstream:
                flow.add_edge(tasks[u], tasks[i])
    return flow, tasks


def describe(
    specs: Sequence[TaskSpec],
    expected: Prediction,
    task_states: dict[Task, State],
    tasks: Sequence[Task],
    start: frozenset[int] = frozenset(),
) -> str:
    """A table of every task: its spec, expected state class and the engine's state."""
    terminal = set(terminal_indices(specs))
    lines = []
    for i, spec in enumerate(specs):
        actual = task_states.get(tasks[i])
        got = repr(actual) if actual is not None else "<missing>"
        exp = expected.task_states[i].__name__
        mark = "   " if actual is not None and type(actual) is expected.task_states[i] else "!!!"
        flags = ("terminal " if i in terminal else "") + ("START " if i in start else "")
        lines.append(
            f"{mark} t{i}: behaviour={spec.behaviour} trigger={spec.trigger} "
            f"skip_on_upstream_skip={spec.skip_on_upstream_skip} "
            f"upstream={[f't{u}' for u in spec.upstream]} {flags}"
            f"-> expected {exp}, engine {got}"
        )
    return "\n".join(lines)


def assert_matches(
    specs: Sequence[TaskSpec],
    expected: Prediction,
    flow_state: State,
    tasks: Sequence[Task],
    what: str,
    start: frozenset[int] = frozenset(),
) -> None:
    task_states = flow_state.result
    assert isinstance(task_states, dict), f"{what}: flow state result is {task_states!r}"
    actual = [type(task_states[t]) if t in task_states else None for t in tasks]
    table = describe(specs, expected, task_states, tasks, start)
    note(f"{what}:\n{table}\nflow: expected {expected.flow_state.__name__}, got {flow_state!r}")
    assert actual == list(expected.task_states), f"{what}: task states differ\n{table}"
    assert type(flow_state) is expected.flow_state, (
        f"{what}: flow state is {flow_state!r}, expected {expected.flow_state.__name__}\n{table}"
    )


def assert_run_counts(expected: Prediction, run_counts: dict[str, int], what: str) -> None:
    """Each task's ``run`` was called as often as the model says (RETRY-once: twice)."""
    actual = [run_counts.get(f"t{i}", 0) for i in range(len(expected.run_counts))]
    wrong = [
        f"t{i}: run() called {n} times, expected {e}"
        for i, (n, e) in enumerate(zip(actual, expected.run_counts))
        if n != e
    ]
    assert not wrong, f"{what}: " + "; ".join(wrong)


def classify(prediction: Prediction) -> None:
    """Record what kind of example this was, for `pytest --hypothesis-show-statistics`."""
    event(f"flow state {prediction.flow_state.__name__}")
    evaluated = sum(1 for cls in prediction.task_states if cls is not Pending)
    share = evaluated / len(prediction.task_states)
    event(f"tasks not left Pending: {'all' if share == 1 else 'most' if share > 0.5 else 'few'}")
    for cls in set(prediction.task_states):
        event(f"some task {cls.__name__}")


# --------------------------------------------------------------------------- properties


@settings(max_examples=150, deadline=None)
@given(specs=dags(), use_set_dependencies=st.booleans())
def test_random_dag_matches_reference_model(
    specs: list[TaskSpec], use_set_dependencies: bool
) -> None:
    expected = predict_run(specs)
    classify(expected)
    run_counts: dict[str, int] = {}
    flow, tasks = build_flow(specs, run_counts, use_set_dependencies)
    with FakeClock():
        state = flow.run()
    assert_matches(specs, expected, state, tasks, "flow.run()")
    assert_run_counts(expected, run_counts, "flow.run()")


@settings(max_examples=75, deadline=None)
@given(specs=dags_with_a_pause(), use_set_dependencies=st.booleans(), data=st.data())
def test_resuming_paused_tasks_matches_reference_model(
    specs: list[TaskSpec], use_set_dependencies: bool, data: st.DataObject
) -> None:
    first = predict_run(specs)
    run_counts: dict[str, int] = {}
    flow, tasks = build_flow(specs, run_counts, use_set_dependencies)
    with FakeClock():
        state = flow.run()
    assert_matches(specs, first, state, tasks, "first flow.run()")
    assert_run_counts(first, run_counts, "first flow.run()")

    paused = [i for i, cls in enumerate(first.task_states) if cls is Paused]
    assert paused, "dags_with_a_pause() must leave a task Paused"
    start = data.draw(
        st.one_of(
            st.just(frozenset(paused)),
            st.frozensets(st.sampled_from(paused), min_size=1),
        ),
        label="start_tasks (indices)",
    )
    expected = predict_resume(specs, first, start)
    classify(expected)
    with FakeClock():
        resumed = flow.run(task_states=state.result, start_tasks=[tasks[i] for i in start])
    assert_matches(specs, expected, resumed, tasks, "resumed flow.run()", start)
    assert_run_counts(expected, run_counts, "resumed flow.run()")


# --------------------------------------------------------------------------- model checks
# Hand-worked examples that pin the reference model to SPEC §4, §6 and §7, so that a
# disagreement with the engine can be blamed on the right side.


def spec(
    behaviour: str = "return",
    trigger: str = "all_successful",
    skip: bool = True,
    upstream: tuple[int, ...] = (),
) -> TaskSpec:
    return TaskSpec(behaviour, trigger, skip, upstream)


@pytest.mark.parametrize(
    ("behaviour", "state_name"),
    [
        ("return", "Success"),
        ("retry_once", "Success"),
        ("value_error", "Failed"),
        ("fail", "Failed"),
        ("skip", "Skipped"),
        ("pause", "Paused"),
        ("pause_once", "Paused"),
    ],
)
def test_model_single_task_behaviours(behaviour: str, state_name: str) -> None:
    prediction = predict_run([spec(behaviour)])
    assert prediction.task_states[0].__name__ == state_name
    flow_state = {"Paused": "Running", "Failed": "Failed"}.get(state_name, "Success")
    assert prediction.flow_state.__name__ == flow_state


@pytest.mark.parametrize(
    ("trigger", "state_name"),
    [
        ("all_successful", "Success"),
        ("all_finished", "Success"),
        ("all_failed", "Success"),
        ("any_successful", "Success"),
        ("any_failed", "Success"),
        ("manual_only", "Paused"),
        ("not_all_skipped", "Success"),
        ("some_successful(at_least=1)", "TriggerFailed"),  # 0 successes < 1 (a count)
        ("some_failed(at_most=0)", "Success"),
    ],
)
def test_model_root_triggers_see_no_upstream(trigger: str, state_name: str) -> None:
    assert predict_run([spec(trigger=trigger)]).task_states[0].__name__ == state_name


def test_model_skip_propagation_comes_before_the_trigger() -> None:
    states = predict_run(
        [
            spec("skip"),
            spec(trigger="all_failed", skip=True, upstream=(0,)),  # skipped, trigger unused
            spec(trigger="manual_only", skip=True, upstream=(0,)),  # skipped, not paused
            spec(trigger="all_successful", skip=False, upstream=(0,)),  # Skipped = success
            spec(trigger="all_failed", skip=False, upstream=(0,)),  # Skipped is no failure
            spec(trigger="not_all_skipped", skip=False, upstream=(0,)),  # every one skipped
        ]
    ).task_states
    assert [s.__name__ for s in states] == [
        "Skipped",
        "Skipped",
        "Skipped",
        "Success",
        "TriggerFailed",
        "Skipped",
    ]


def test_model_trigger_failed_counts_as_failure() -> None:
    prediction = predict_run(
        [
            spec("fail"),
            spec(upstream=(0,)),  # all_successful -> TriggerFailed
            spec(trigger="all_failed", upstream=(0, 1)),  # both failed -> runs
            spec(trigger="any_successful", upstream=(1,)),  # -> TriggerFailed
            spec(trigger="some_failed(at_most=0)", upstream=(2, 3)),  # one failure -> TF
        ]
    )
    assert [s.__name__ for s in prediction.task_states] == [
        "Failed",
        "TriggerFailed",
        "Success",
        "TriggerFailed",
        "TriggerFailed",
    ]
    assert prediction.flow_state.__name__ == "Failed"


def test_model_paused_upstream_leaves_downstream_pending() -> None:
    prediction = predict_run(
        [
            spec("pause"),
            spec("fail"),
            spec(trigger="all_finished", upstream=(0,)),
            spec(trigger="all_finished", skip=False, upstream=(1, 2)),
        ]
    )
    assert prediction.task_states == (Paused, prediction.task_states[1], Pending, Pending)
    assert prediction.flow_state.__name__ == "Running"
    assert prediction.ran == frozenset({0, 1})


def test_model_resume_runs_start_tasks_and_their_descendants() -> None:
    specs = [
        spec("pause_once"),  # resumed: returns this time
        spec("pause", trigger="manual_only"),  # resumed: its trigger is not consulted...
        spec("pause", trigger="all_finished"),  # ...but PAUSE raised by run() pauses again
        spec(trigger="all_successful", upstream=(0,)),  # evaluated normally: runs
        spec(trigger="all_successful", upstream=(1,)),  # upstream Paused again -> Pending
        spec(trigger="all_finished", upstream=(2,)),  # upstream Paused again -> Pending
        spec("fail"),  # not downstream of a start task: keeps Failed, not rerun
    ]
    first = predict_run(specs)
    assert first.task_states == (Paused, Paused, Paused, Pending, Pending, Pending, Failed)
    resumed = predict_resume(specs, first, {0, 1, 2})
    assert resumed.task_states == (Success, Paused, Paused, Success, Pending, Pending, Failed)
    assert resumed.flow_state.__name__ == "Running"
    # Resuming only task 0 leaves 1 and 2 Paused without running them.
    only_first = predict_resume(specs, first, {0})
    assert only_first.task_states[:4] == (Success, Paused, Paused, Success)
    assert only_first.ran == frozenset({0, 2, 3, 6})  # 1 never ran: manual_only paused it


def test_model_resumed_pause_once_downstream_pauses_on_its_first_run() -> None:
    specs = [spec("pause_once"), spec("pause_once", upstream=(0,)), spec(upstream=(1,))]
    first = predict_run(specs)
    resumed = predict_resume(specs, first, {0})
    assert resumed.task_states == (Success, Paused, Pending)
    again = predict_resume(specs, resumed, {1})
    assert again.task_states == (Success, Success, Success)
    assert again.flow_state is Success


@settings(max_examples=100, deadline=None)
@given(specs=dags())
def test_generator_makes_small_fan_in_dags(specs: list[TaskSpec]) -> None:
    assert 1 <= len(specs) <= MAX_TASKS
    for i, s in enumerate(specs):
        assert all(0 <= u < i for u in s.upstream)
        assert len(set(s.upstream)) == len(s.upstream) <= MAX_FAN_IN
    prediction = predict_run(specs)
    assert len(prediction.task_states) == len(specs)
    # Skip-propagation sanity: with skip_on_upstream_skip, a finished task with a Skipped
    # upstream is itself Skipped.
    for i, s in enumerate(specs):
        ups = [prediction.task_states[u] for u in s.upstream]
        finished = Pending not in ups and Paused not in ups
        if s.skip_on_upstream_skip and Skipped in ups and finished:
            assert prediction.task_states[i] is Skipped


@settings(max_examples=50, deadline=None)
@given(specs=dags_with_a_pause())
def test_generator_dags_with_a_pause_always_pause(specs: list[TaskSpec]) -> None:
    assert Paused in predict_run(specs).task_states
