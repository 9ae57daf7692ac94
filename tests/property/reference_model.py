"""A small, independent reference model of how a flow of state-only tasks ends up.

The property tests in ``test_random_dags.py`` run random DAGs on the real engine and
compare every task's final state class, and the flow's, with what this model predicts.
The model is written from SPEC §4 (triggers), §6 (TaskRunner steps) and §7 (FlowRunner,
``start_tasks``, the flow's final state). It does not import lockgate's engine, triggers
or runners: it only names the state classes it expects to see.

A flow is described by a list of :class:`TaskSpec`; task ``i`` may only have upstream
tasks with a lower index, so index order is a topological order.

Rules, for one task whose turn has come (SPEC §6, steps 4, 6, 9 and 11):

1. any upstream not finished (Pending, Paused) -> stays ``Pending``;
2. ``skip_on_upstream_skip`` and any upstream ``Skipped`` -> ``Skipped`` (trigger not
   consulted);
3. the trigger sees the upstream states (Skipped counts as a success, TriggerFailed as a
   failure; root tasks see an empty collection). A failing trigger gives
   ``TriggerFailed``, ``manual_only`` gives ``Paused``, ``not_all_skipped`` with every
   upstream skipped gives ``Skipped``;
4. otherwise the task runs and its behaviour decides: a return value or RETRY-once ->
   ``Success`` (the engine waits for the retry inside the same ``flow.run``), an
   exception or FAIL -> ``Failed``, SKIP -> ``Skipped``, PAUSE -> ``Paused``.

Flow state (SPEC §7): the reference tasks are the terminal tasks; any of them not
finished -> ``Running``; any failed -> ``Failed``; otherwise ``Success``.

Resuming (SPEC §7 ``start_tasks``): the start tasks run without checking their upstream
states or trigger; tasks given a finished state keep it; the descendants of the start
tasks are evaluated by the rules above; every other task keeps the state it was given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lockgate.engine.state import (
    Failed,
    Paused,
    Pending,
    Running,
    Skipped,
    Success,
    TriggerFailed,
)

__all__ = [
    "BEHAVIOURS",
    "TRIGGERS",
    "Prediction",
    "TaskSpec",
    "predict_resume",
    "predict_run",
    "terminal_indices",
]

BEHAVIOURS = (
    "return",  # return a value
    "value_error",  # raise ValueError
    "fail",  # raise signals.FAIL
    "skip",  # raise signals.SKIP
    "retry_once",  # raise signals.RETRY on the task's first run, then return a value
    "pause",  # raise signals.PAUSE, every time
    "pause_once",  # raise signals.PAUSE on the task's first run, then return a value
)

TRIGGERS = (
    "all_successful",
    "all_finished",
    "all_failed",
    "any_successful",
    "any_failed",
    "manual_only",
    "not_all_skipped",
    "some_successful(at_least=1)",
    "some_failed(at_most=0)",
)

# The model's own classification, written out rather than read from the engine's
# class hierarchy (SPEC §2: Skipped is a success, TriggerFailed a failure).
SUCCESSFUL: tuple[type, ...] = (Success, Skipped)
FAILED: tuple[type, ...] = (Failed, TriggerFailed)
FINISHED: tuple[type, ...] = SUCCESSFUL + FAILED


@dataclass(frozen=True)
class TaskSpec:
    """One task of a random DAG: what its ``run`` does, its trigger, its upstream tasks."""

    behaviour: str
    trigger: str
    skip_on_upstream_skip: bool
    upstream: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {self.behaviour!r}")
        if self.trigger not in TRIGGERS:
            raise ValueError(f"unknown trigger {self.trigger!r}")
        if len(set(self.upstream)) != len(self.upstream):
            raise ValueError(f"duplicate upstream tasks in {self.upstream!r}")


@dataclass(frozen=True)
class Prediction:
    """The predicted outcome of one ``flow.run``.

    Attributes:
        task_states: the exact state class of each task, by index.
        flow_state: the exact class of the flow's final state.
        run_counts: how many times each task's ``run`` has been called so far, in this
            run and the earlier ones it resumes (decides ``pause_once``; a RETRY-once
            task is called twice within one ``flow.run``).
    """

    task_states: tuple[type, ...]
    flow_state: type
    run_counts: tuple[int, ...]

    @property
    def ran(self) -> frozenset[int]:
        """The indices of the tasks whose ``run`` has been called at least once."""
        return frozenset(i for i, n in enumerate(self.run_counts) if n)


def _is(cls: type, kinds: tuple[type, ...]) -> bool:
    return cls in kinds


def check_dag(specs: Sequence[TaskSpec]) -> None:
    """Raise ValueError unless every edge goes from a lower to a higher index."""
    for i, spec in enumerate(specs):
        for u in spec.upstream:
            if not 0 <= u < i:
                raise ValueError(f"task {i} has upstream {u}; edges must go low -> high")


def terminal_indices(specs: Sequence[TaskSpec]) -> list[int]:
    """Indices of the tasks with no downstream task (the default reference tasks)."""
    has_downstream = {u for spec in specs for u in spec.upstream}
    return [i for i in range(len(specs)) if i not in has_downstream]


def descendants(specs: Sequence[TaskSpec], roots: Iterable[int]) -> set[int]:
    """Indices of every task downstream of ``roots`` (not including the roots)."""
    roots = set(roots)
    found: set[int] = set()
    for i, spec in enumerate(specs):
        if any(u in roots or u in found for u in spec.upstream):
            found.add(i)
    return found - roots


def trigger_outcome(trigger: str, upstream: Sequence[type]) -> type | None:
    """What a trigger does with finished upstream states: None to run, else a state class.

    ``manual_only`` is never resumed here: start tasks do not consult their trigger.
    """
    successes = sum(1 for s in upstream if _is(s, SUCCESSFUL))
    failures = sum(1 for s in upstream if _is(s, FAILED))
    if trigger == "all_finished":
        ok = all(_is(s, FINISHED) for s in upstream)
    elif trigger == "all_successful":
        ok = successes == len(upstream)
    elif trigger == "all_failed":
        ok = failures == len(upstream)
    elif trigger == "any_successful":
        ok = not upstream or successes > 0
    elif trigger == "any_failed":
        ok = not upstream or failures > 0
    elif trigger == "manual_only":
        return Paused
    elif trigger == "not_all_skipped":
        if upstream and all(s is Skipped for s in upstream):
            return Skipped
        ok = True
    elif trigger == "some_successful(at_least=1)":
        ok = successes >= 1
    elif trigger == "some_failed(at_most=0)":
        ok = failures <= 0
    else:  # pragma: no cover - TaskSpec validates the name
        raise ValueError(trigger)
    return None if ok else TriggerFailed


def behaviour_calls(behaviour: str, ran_before: bool) -> int:
    """How many times ``run`` is called when the task's turn comes in one ``flow.run``."""
    return 2 if behaviour == "retry_once" and not ran_before else 1


def behaviour_outcome(behaviour: str, ran_before: bool) -> type:
    """The state class a task ends in once its ``run`` is called."""
    if behaviour in ("return", "retry_once"):
        return Success
    if behaviour in ("value_error", "fail"):
        return Failed
    if behaviour == "skip":
        return Skipped
    if behaviour == "pause":
        return Paused
    if behaviour == "pause_once":
        return Success if ran_before else Paused
    raise ValueError(behaviour)  # pragma: no cover - TaskSpec validates the name


def _evaluate(spec: TaskSpec, states: Sequence[type], ran_before: bool) -> tuple[type, bool]:
    """Evaluate one task against its upstream states; return (state, whether it ran)."""
    upstream = [states[u] for u in spec.upstream]
    if not all(_is(s, FINISHED) for s in upstream):
        return Pending, False
    if spec.skip_on_upstream_skip and any(s is Skipped for s in upstream):
        return Skipped, False
    blocked = trigger_outcome(spec.trigger, upstream)
    if blocked is not None:
        return blocked, False
    return behaviour_outcome(spec.behaviour, ran_before), True


def flow_outcome(specs: Sequence[TaskSpec], states: Sequence[type]) -> type:
    """The flow's final state class from its terminal tasks' states."""
    reference = [states[i] for i in terminal_indices(specs)]
    if not all(_is(s, FINISHED) for s in reference):
        return Running
    if any(_is(s, FAILED) for s in reference):
        return Failed
    return Success


def predict_run(specs: Sequence[TaskSpec]) -> Prediction:
    """Predict a first ``flow.run()`` of the flow described by ``specs``."""
    check_dag(specs)
    states: list[type] = []
    runs = [0] * len(specs)
    for i, spec in enumerate(specs):
        state, did_run = _evaluate(spec, states, ran_before=False)
        states.append(state)
        if did_run:
            runs[i] += behaviour_calls(spec.behaviour, ran_before=False)
    return Prediction(tuple(states), flow_outcome(specs, states), tuple(runs))


def predict_resume(
    specs: Sequence[TaskSpec], previous: Prediction, start: Iterable[int]
) -> Prediction:
    """Predict ``flow.run(task_states=<previous states>, start_tasks=<start>)``."""
    check_dag(specs)
    start = set(start)
    downstream = descendants(specs, start)
    states: list[type] = []
    runs = list(previous.run_counts)
    for i, spec in enumerate(specs):
        given = previous.task_states[i]
        if i in start:
            # Runs without checking upstream states or trigger (SPEC §7).
            state = behaviour_outcome(spec.behaviour, ran_before=runs[i] > 0)
            runs[i] += behaviour_calls(spec.behaviour, ran_before=runs[i] > 0)
        elif _is(given, FINISHED):
            state = given  # a finished task is not run again (SPEC §7)
        elif i in downstream and given is Pending:
            state, did_run = _evaluate(spec, states, ran_before=runs[i] > 0)
            if did_run:
                runs[i] += behaviour_calls(spec.behaviour, ran_before=runs[i] > 0)
        else:
            # Not computed by this run, or Paused and not resumed (SPEC §6 step 2).
            state = given
        states.append(state)
    return Prediction(tuple(states), flow_outcome(specs, states), tuple(runs))
