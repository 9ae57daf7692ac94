"""TaskRunner: each of the 13 pipeline steps on its own, then ``TaskRunner.run`` end to end.

Every step is a public method, so each is called directly on a TaskRunner with hand-made
states and upstream edges. The end-to-end part checks signals from task code, triggers and
state handlers, handler order and replacement, ``on_failure``, ``cached_inputs`` and the
``raise_on_exception`` debug switch.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest

from lockgate import triggers
from lockgate.core import Edge, Task
from lockgate.engine import signals
from lockgate.engine.cache_validators import all_inputs, duration_only
from lockgate.engine.executors.local import LocalExecutor
from lockgate.engine.result import NoResult, Result, ResultInterface, SafeResult
from lockgate.engine.result_handlers import JSONResultHandler
from lockgate.engine.state import (
    Cached,
    Failed,
    Finished,
    Mapped,
    Paused,
    Pending,
    Queued,
    Resume,
    Retrying,
    Running,
    Scheduled,
    Skipped,
    State,
    Submitted,
    Success,
    TimedOut,
    TriggerFailed,
)
from lockgate.engine.task_runner import ENDRUN, TaskRunner
from lockgate.testing import FakeClock, RecordingExecutor
from lockgate.utilities import clock as lg_clock
from lockgate.utilities.context import context
from lockgate.utilities.debug import raise_on_exception
from lockgate.utilities.tasks import pause_task

DELAY = timedelta(minutes=3)


# -- tasks used throughout -------------------------------------------------------------------
class AddOne(Task):
    def run(self, x: int) -> int:
        return x + 1


class AddTwoInputs(Task):
    def run(self, x: int, y: int) -> int:
        return x + y


class NoInputs(Task):
    def __init__(self, value: Any = 1, **kwargs: Any) -> None:
        self.value = value
        self.calls = 0
        super().__init__(**kwargs)

    def run(self) -> Any:
        self.calls += 1
        return self.value


class Raises(Task):
    """Raises ``exc`` (a signal or any exception) from run, counting calls."""

    def __init__(self, exc: BaseException, **kwargs: Any) -> None:
        self.exc = exc
        self.calls = 0
        super().__init__(**kwargs)

    def run(self, x: int = 0) -> Any:
        self.calls += 1
        raise self.exc


def unique(prefix: str) -> str:
    """A task name that no other test uses (the in-process result cache keys on it)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def edge(up: Task, down: Task, key: str | None = None, mapped: bool = False) -> Edge:
    return Edge(up, down, key=key, mapped=mapped)


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    with FakeClock() as c:
        yield c


# A factory per state class, so each test gets fresh objects.
STATE_FACTORIES: dict[str, Callable[[], State]] = {
    "Pending": lambda: Pending(),
    "Paused": lambda: Paused(),
    "Scheduled": lambda: Scheduled(),
    "Resume": lambda: Resume(),
    "Retrying": lambda: Retrying(run_count=1),
    "Running": lambda: Running(),
    "Finished": lambda: Finished(),
    "Success": lambda: Success(result=1),
    "Cached": lambda: Cached(result=1),
    "Mapped": lambda: Mapped(map_states=[Success(result=1)]),
    "Skipped": lambda: Skipped(),
    "Failed": lambda: Failed(),
    "TimedOut": lambda: TimedOut(),
    "TriggerFailed": lambda: TriggerFailed(),
    "Submitted": lambda: Submitted(state=Pending()),
    "Queued": lambda: Queued(state=Pending()),
}

SIGNAL_STATES: list[tuple[type[signals.PrefectStateSignal], type[State]]] = [
    (signals.FAIL, Failed),
    (signals.TRIGGERFAIL, TriggerFailed),
    (signals.SUCCESS, Success),
    (signals.RETRY, Retrying),
    (signals.SKIP, Skipped),
    (signals.PAUSE, Paused),
]


def by_name(value: Any) -> str:
    return str(getattr(value, "__name__", value))


# =============================================================================================
# Step 1: initialize_run
# =============================================================================================
def test_initialize_run_none_becomes_pending() -> None:
    state, ctx = TaskRunner(AddOne()).initialize_run(None, {})
    assert type(state) is Pending
    assert ctx["task_run_count"] == 1
    assert "resume" not in ctx


def test_initialize_run_keeps_a_given_state() -> None:
    given = Scheduled(cached_inputs={"x": 1})
    state, ctx = TaskRunner(AddOne()).initialize_run(given, {})
    assert state is given
    assert ctx["task_run_count"] == 1


@pytest.mark.parametrize("meta", [Submitted, Queued], ids=by_name)
def test_initialize_run_unwraps_a_meta_state(meta: type) -> None:
    inner = Pending(cached_inputs={"x": 1})
    state, _ = TaskRunner(AddOne()).initialize_run(meta(state=inner), {})
    assert state is inner


def test_initialize_run_unwraps_nested_meta_states() -> None:
    inner = Retrying(run_count=2)
    state, ctx = TaskRunner(AddOne()).initialize_run(Queued(state=Submitted(state=inner)), {})
    assert state is inner
    assert ctx["task_run_count"] == 3


@pytest.mark.parametrize("run_count", [1, 2, 5])
def test_initialize_run_retrying_sets_run_count_plus_one(run_count: int) -> None:
    state, ctx = TaskRunner(AddOne()).initialize_run(Retrying(run_count=run_count), {})
    assert isinstance(state, Retrying)
    assert ctx["task_run_count"] == run_count + 1


def test_initialize_run_retrying_made_outside_a_run_counts_as_one_attempt() -> None:
    _, ctx = TaskRunner(AddOne()).initialize_run(Retrying(), {})
    assert ctx["task_run_count"] == 2


def test_initialize_run_resume_sets_resume() -> None:
    given = Resume()
    state, ctx = TaskRunner(AddOne()).initialize_run(given, {})
    assert state is given
    assert ctx["resume"] is True


@pytest.mark.parametrize("name", ["Pending", "Paused", "Scheduled", "Retrying", "Success"])
def test_initialize_run_other_states_do_not_set_resume(name: str) -> None:
    _, ctx = TaskRunner(AddOne()).initialize_run(STATE_FACTORIES[name](), {})
    assert "resume" not in ctx


def test_initialize_run_updates_and_returns_the_context_dict() -> None:
    ctx_in: dict[str, Any] = {"other": 1}
    _, ctx_out = TaskRunner(AddOne()).initialize_run(Retrying(run_count=1), ctx_in)
    assert ctx_out is ctx_in
    assert ctx_in == {"other": 1, "task_run_count": 2, "task_name": "AddOne"}


# =============================================================================================
# Step 2: check_task_is_ready
# =============================================================================================
READY = ["Pending", "Scheduled", "Resume", "Retrying", "Cached", "Mapped"]
NOT_READY = [
    "Paused",
    "Running",
    "Finished",
    "Success",
    "Skipped",
    "Failed",
    "TimedOut",
    "TriggerFailed",
    "Submitted",
    "Queued",
]


def test_every_state_class_is_covered() -> None:
    assert sorted(READY + NOT_READY) == sorted(STATE_FACTORIES)


@pytest.mark.parametrize("name", READY)
def test_check_task_is_ready_passes(name: str) -> None:
    state = STATE_FACTORIES[name]()
    assert TaskRunner(AddOne()).check_task_is_ready(state) is state


@pytest.mark.parametrize("name", NOT_READY)
def test_check_task_is_ready_ends_run_with_the_same_state(name: str) -> None:
    state = STATE_FACTORIES[name]()
    with pytest.raises(ENDRUN) as info:
        TaskRunner(AddOne()).check_task_is_ready(state)
    assert info.value.state is state


def test_check_task_is_ready_passes_a_paused_state_when_resuming() -> None:
    state = Paused(cached_inputs={"x": 1})
    with context(resume=True):
        assert TaskRunner(AddOne()).check_task_is_ready(state) is state


# =============================================================================================
# Step 3: check_task_reached_start_time
# =============================================================================================
@pytest.mark.parametrize("cls", [Scheduled, Resume, Retrying], ids=by_name)
def test_start_time_in_the_future_ends_run_unchanged(fake_clock: FakeClock, cls: type) -> None:
    state = cls(start_time=fake_clock.now() + timedelta(seconds=1))
    with pytest.raises(ENDRUN) as info:
        TaskRunner(AddOne()).check_task_reached_start_time(state)
    assert info.value.state is state
    assert fake_clock.sleeps == []  # the step never waits


@pytest.mark.parametrize("offset", [timedelta(0), -timedelta(minutes=5)], ids=["now", "past"])
def test_start_time_reached_passes(fake_clock: FakeClock, offset: timedelta) -> None:
    state = Scheduled(start_time=fake_clock.now() + offset)
    assert TaskRunner(AddOne()).check_task_reached_start_time(state) is state


def test_start_time_passes_once_the_clock_reaches_it(fake_clock: FakeClock) -> None:
    state = Retrying(start_time=fake_clock.now() + DELAY, run_count=1)
    runner = TaskRunner(AddOne())
    with pytest.raises(ENDRUN):
        runner.check_task_reached_start_time(state)
    fake_clock.advance(DELAY)
    assert runner.check_task_reached_start_time(state) is state


@pytest.mark.parametrize("name", ["Pending", "Paused", "Running", "Success", "Failed"])
def test_start_time_ignores_states_without_one(fake_clock: FakeClock, name: str) -> None:
    state = STATE_FACTORIES[name]()
    assert TaskRunner(AddOne()).check_task_reached_start_time(state) is state


# =============================================================================================
# Step 4: check_upstream_finished
# =============================================================================================
def test_upstream_finished_with_no_upstreams() -> None:
    state = Pending()
    assert TaskRunner(AddOne()).check_upstream_finished(state, {}) is state


@pytest.mark.parametrize(
    "upstream", ["Success", "Failed", "Skipped", "TriggerFailed", "Cached", "Mapped"]
)
def test_upstream_finished_passes(upstream: str) -> None:
    t = AddOne()
    state = Pending()
    up = {edge(NoInputs(), t, "x"): STATE_FACTORIES[upstream](), edge(NoInputs(), t): Success()}
    assert TaskRunner(t).check_upstream_finished(state, up) is state


@pytest.mark.parametrize(
    "upstream", ["Pending", "Paused", "Scheduled", "Retrying", "Resume", "Running"]
)
def test_upstream_unfinished_ends_run_still_pending(upstream: str) -> None:
    t = AddOne()
    state = Pending(cached_inputs={"x": 1})
    up = {edge(NoInputs(), t): Success(), edge(NoInputs(), t, "x"): STATE_FACTORIES[upstream]()}
    with pytest.raises(ENDRUN) as info:
        TaskRunner(t).check_upstream_finished(state, up)
    assert info.value.state is state
    assert info.value.state.cached_inputs == {"x": 1}


@pytest.mark.parametrize("child", ["Pending", "Paused", "Retrying", "Running"])
def test_mapped_upstream_with_an_unfinished_child_ends_run(child: str) -> None:
    t = AddOne()
    state = Pending()
    mapped = Mapped(map_states=[Success(result=1), STATE_FACTORIES[child](), Failed()])
    with pytest.raises(ENDRUN) as info:
        TaskRunner(t).check_upstream_finished(state, {edge(NoInputs(), t, "x"): mapped})
    assert info.value.state is state


def test_nested_mapped_upstream_with_an_unfinished_grandchild_ends_run() -> None:
    t = AddOne()
    inner = Mapped(map_states=[Success(), Paused()])
    with pytest.raises(ENDRUN):
        TaskRunner(t).check_upstream_finished(
            Pending(), {edge(NoInputs(), t, "x"): Mapped(map_states=[Success(), inner])}
        )


def test_mapped_upstream_with_every_child_finished_passes() -> None:
    t = AddOne()
    state = Pending()
    mapped = Mapped(map_states=[Success(), Failed(), Skipped(), Mapped(map_states=[Success()])])
    assert TaskRunner(t).check_upstream_finished(state, {edge(NoInputs(), t, "x"): mapped}) is state


# =============================================================================================
# Step 5: run_mapped_task
# =============================================================================================
def test_run_mapped_task_runs_one_child_per_item() -> None:
    t = AddOne()
    up = {edge(NoInputs(), t, "x", mapped=True): Success(result=[1, 2, 3])}
    state = TaskRunner(t).run_mapped_task(Pending(), up, None)
    assert isinstance(state, Mapped)
    assert [type(s) for s in state.map_states] == [Success, Success, Success]
    assert [s.result for s in state.map_states] == [2, 3, 4]
    assert state.result == [2, 3, 4]


def test_run_mapped_task_submits_children_with_their_map_index() -> None:
    t = AddOne(name="adder")
    executor = RecordingExecutor()
    up = {edge(NoInputs(), t, "x", mapped=True): Success(result=[10, 20])}
    TaskRunner(t).run_mapped_task(Pending(), up, executor=executor)
    assert executor.submitted == [("adder", 0), ("adder", 1)]


def test_run_mapped_task_children_see_map_index_and_full_name() -> None:
    seen: list[tuple[Any, Any]] = []

    class Where(Task):
        def run(self, x: int) -> int:
            seen.append((context.map_index, context.task_full_name))
            return x

    t = Where(name="where")
    TaskRunner(t).run_mapped_task(
        Pending(), {edge(NoInputs(), t, "x", mapped=True): Success(result=["a", "b"])}, None
    )
    assert seen == [(0, "where[0]"), (1, "where[1]")]


def test_run_mapped_task_zips_to_the_shortest_input_and_passes_unmapped_whole() -> None:
    class Three(Task):
        def run(self, x: int, y: int, z: list[int]) -> tuple[int, int, int]:
            return (x, y, len(z))

    t = Three()
    up = {
        edge(NoInputs(), t, "x", mapped=True): Success(result=[1, 2, 3]),
        edge(NoInputs(), t, "y", mapped=True): Success(result=[10, 20]),
        edge(NoInputs(), t, "z"): Success(result=[7, 7, 7, 7]),
    }
    state = TaskRunner(t).run_mapped_task(Pending(), up, None)
    assert state.result == [(1, 10, 4), (2, 20, 4)]


def test_run_mapped_task_over_an_empty_input_has_zero_children() -> None:
    t = AddOne()
    state = TaskRunner(t).run_mapped_task(
        Pending(), {edge(NoInputs(), t, "x", mapped=True): Success(result=[])}, None
    )
    assert isinstance(state, Mapped)
    assert state.map_states == []
    assert state.result == []


def test_run_mapped_task_maps_child_to_child_over_a_mapped_upstream() -> None:
    t = AddOne()
    upstream = Mapped(map_states=[Success(result=1), Success(result=5)])
    state = TaskRunner(t).run_mapped_task(
        Pending(), {edge(NoInputs(), t, "x", mapped=True): upstream}, None
    )
    assert state.result == [2, 6]


def test_run_mapped_task_children_use_the_parent_cached_inputs() -> None:
    t = AddTwoInputs()
    up = {edge(NoInputs(), t, "x", mapped=True): Success(result=[1, 2])}
    state = TaskRunner(t).run_mapped_task(Pending(cached_inputs={"y": 100}), up, None)
    assert state.result == [101, 102]


def test_run_mapped_task_each_child_checks_its_own_trigger() -> None:
    t = AddOne(trigger=triggers.all_successful)
    upstream = Mapped(map_states=[Success(result=1), Failed()])
    state = TaskRunner(t).run_mapped_task(
        Pending(), {edge(NoInputs(), t, "x", mapped=True): upstream}, None
    )
    assert [type(s) for s in state.map_states] == [Success, TriggerFailed]


def test_run_mapped_task_over_a_skipped_upstream_skips() -> None:
    t = AddOne()
    state = TaskRunner(t).run_mapped_task(
        Pending(), {edge(NoInputs(), t, "x", mapped=True): Skipped()}, None
    )
    assert isinstance(state, Skipped)


def test_run_mapped_task_over_a_non_sequence_fails_clearly() -> None:
    t = AddOne()
    state = TaskRunner(t).run_mapped_task(
        Pending(), {edge(NoInputs(name="up"), t, "x", mapped=True): Success(result=42)}, None
    )
    assert isinstance(state, Failed)
    assert "up" in (state.message or "") and "not a list or other sequence" in (state.message or "")


def test_run_mapped_task_retries_children_on_the_clock(fake_clock: FakeClock) -> None:
    attempts: dict[int, int] = {}

    class Flaky(Task):
        def run(self, x: int) -> int:
            attempts[x] = attempts.get(x, 0) + 1
            if x == 2 and attempts[x] == 1:
                raise ValueError("first try fails")
            return x

    t = Flaky(max_retries=1, retry_delay=DELAY)
    state = TaskRunner(t).run_mapped_task(
        Pending(), {edge(NoInputs(), t, "x", mapped=True): Success(result=[1, 2])}, None
    )
    assert state.result == [1, 2]
    assert attempts == {1: 1, 2: 2}
    assert fake_clock.sleeps == [DELAY.total_seconds()]


def test_run_mapped_task_resumes_paused_children_when_ignoring_the_trigger() -> None:
    t = AddOne(trigger=triggers.manual_only)
    up = {edge(NoInputs(), t, "x", mapped=True): Success(result=[1, 2])}
    runner = TaskRunner(t)
    paused = runner.run_mapped_task(Pending(), up, None)
    assert [type(s) for s in paused.map_states] == [Paused, Paused]
    resumed = runner.run_mapped_task(paused, up, None, ignore_trigger=True)
    assert [type(s) for s in resumed.map_states] == [Success, Success]
    assert resumed.result == [2, 3]


# =============================================================================================
# Step 6: check_upstream_skipped
# =============================================================================================
def test_upstream_skipped_skips_when_skip_on_upstream_skip() -> None:
    calls: list[Any] = []
    t = AddOne(trigger=lambda ups: calls.append(ups) or True)
    up = {edge(NoInputs(), t, "x"): Success(result=1), edge(NoInputs(), t): Skipped()}
    with pytest.raises(ENDRUN) as info:
        TaskRunner(t).check_upstream_skipped(Pending(), up)
    assert isinstance(info.value.state, Skipped)
    assert calls == []  # the trigger is not consulted


def test_upstream_skipped_child_of_a_mapped_upstream_skips() -> None:
    t = AddOne()
    up = {edge(NoInputs(), t, "x"): Mapped(map_states=[Success(), Skipped()])}
    with pytest.raises(ENDRUN) as info:
        TaskRunner(t).check_upstream_skipped(Pending(), up)
    assert isinstance(info.value.state, Skipped)


def test_upstream_skipped_passes_without_skip_on_upstream_skip() -> None:
    t = AddOne(skip_on_upstream_skip=False)
    state = Pending()
    up = {edge(NoInputs(), t, "x"): Skipped(), edge(NoInputs(), t): Skipped()}
    assert TaskRunner(t).check_upstream_skipped(state, up) is state


@pytest.mark.parametrize("skip", [True, False])
def test_upstream_skipped_passes_when_nothing_was_skipped(skip: bool) -> None:
    t = AddOne(skip_on_upstream_skip=skip)
    state = Pending()
    up = {edge(NoInputs(), t, "x"): Success(result=1), edge(NoInputs(), t): Failed()}
    assert TaskRunner(t).check_upstream_skipped(state, up) is state
    assert TaskRunner(t).check_upstream_skipped(state, {}) is state


def test_skip_on_upstream_skip_false_counts_skipped_as_success_in_a_run() -> None:
    t = NoInputs(value="ran", skip_on_upstream_skip=False)
    state = TaskRunner(t).run(upstream_states={edge(NoInputs(), t): Skipped()})
    assert isinstance(state, Success) and not isinstance(state, Skipped)
    assert state.result == "ran"


# =============================================================================================
# Step 7: get_task_inputs
# =============================================================================================
def test_get_task_inputs_reads_keyed_upstream_results_as_results() -> None:
    t = AddTwoInputs()
    up = {
        edge(NoInputs(), t, "x"): Success(result=1),
        edge(NoInputs(), t, "y"): Success(result=None),
        edge(NoInputs(), t): Success(result="state only"),
    }
    assert TaskRunner(t).get_task_inputs(Pending(), up) == {"x": Result(1), "y": Result(None)}


def test_get_task_inputs_falls_back_to_cached_inputs() -> None:
    t = AddTwoInputs()
    state = Pending(cached_inputs={"x": 10, "y": 20})
    up = {edge(NoInputs(), t, "x"): Pending(), edge(NoInputs(), t, "y"): Success(result=2)}
    assert TaskRunner(t).get_task_inputs(state, up) == {"x": Result(10), "y": Result(2)}


def test_get_task_inputs_reads_a_stored_input_back_through_its_handler() -> None:
    stored = SafeResult("41", result_handler=JSONResultHandler())
    inputs = TaskRunner(AddOne()).get_task_inputs(Pending(cached_inputs={"x": stored}), {})
    assert inputs["x"].value == 41


def test_get_task_inputs_with_no_upstreams_is_the_cached_inputs() -> None:
    inputs = TaskRunner(AddOne()).get_task_inputs(Pending(cached_inputs={"x": 3}), {})
    assert inputs == {"x": Result(3)}
    assert TaskRunner(NoInputs()).get_task_inputs(Pending(), {}) == {}


def test_get_task_inputs_does_not_mutate_cached_inputs() -> None:
    t = AddOne()
    cached = {"x": 1}
    TaskRunner(t).get_task_inputs(
        Pending(cached_inputs=cached), {edge(NoInputs(), t, "x"): Success(result=9)}
    )
    assert cached == {"x": 1}


def test_get_task_inputs_reduces_a_mapped_upstream_to_a_list() -> None:
    t = AddOne()
    up = {edge(NoInputs(), t, "x"): Mapped(map_states=[Success(result=1), Success(result=2)])}
    assert TaskRunner(t).get_task_inputs(Pending(), up) == {"x": Result([1, 2])}


def test_a_pipeline_calls_an_overridden_get_task_inputs_and_runs_on_its_values() -> None:
    class Doubling(TaskRunner):
        def get_task_inputs(
            self, state: State, upstream_states: Mapping[Edge, State]
        ) -> dict[str, ResultInterface]:
            inputs = super().get_task_inputs(state, upstream_states)
            return {k: Result(v.value * 2) for k, v in inputs.items()}

    t = AddOne()
    state = Doubling(t).run(upstream_states={edge(NoInputs(), t, "x"): Success(result=20)})
    assert isinstance(state, Success) and state.result == 41


# =============================================================================================
# Step 8: check_task_is_cached
# =============================================================================================
def test_valid_cached_state_is_returned_and_ends_the_run(fake_clock: FakeClock) -> None:
    t = AddOne(name=unique("cached"), cache_for=DELAY)
    state = Cached(result=5, cached_result_expiration=fake_clock.now() + DELAY)
    assert TaskRunner(t).check_task_is_cached(state, {"x": 4}) is state
    assert TaskRunner(t).run(state, context={}) is state


def test_expired_cached_state_is_invalid(fake_clock: FakeClock) -> None:
    t = AddOne(name=unique("cached"), cache_for=DELAY)
    state = Cached(result=5, cached_result_expiration=fake_clock.now() - timedelta(seconds=1))
    new = TaskRunner(t).check_task_is_cached(state, {"x": 4})
    assert type(new) is Pending
    assert new.message == "Cache was invalid; ready to run."


def test_cached_state_invalid_by_its_validator(fake_clock: FakeClock) -> None:
    t = AddOne(name=unique("cached"), cache_for=DELAY, cache_validator=all_inputs)
    state = Cached(
        result=5, cached_inputs={"x": 4}, cached_result_expiration=fake_clock.now() + DELAY
    )
    runner = TaskRunner(t)
    assert runner.check_task_is_cached(state, {"x": 4}) is state
    new = runner.check_task_is_cached(state, {"x": 5})
    assert type(new) is Pending
    assert new.message == "Cache was invalid; ready to run."


def test_check_task_is_cached_passes_a_plain_pending_state() -> None:
    state = Pending()
    assert TaskRunner(AddOne()).check_task_is_cached(state, {"x": 1}) is state


def test_invalid_cache_calls_state_handlers() -> None:
    seen: list[tuple[type, type]] = []
    t = AddOne(
        name=unique("cached"),
        cache_for=DELAY,
        cache_validator=duration_only,
        state_handlers=[lambda task, old, new: seen.append((type(old), type(new)))],
    )
    with FakeClock() as c:
        state = Cached(result=1, cached_result_expiration=c.now() - DELAY)
        TaskRunner(t).check_task_is_cached(state, {})
    assert seen == [(Cached, Pending)]


# =============================================================================================
# Step 9: check_task_trigger
# =============================================================================================
def test_trigger_true_passes_with_the_upstream_states() -> None:
    seen: list[Any] = []

    def trigger(upstream_states: Any) -> bool:
        seen.append(upstream_states)
        return True

    t = AddOne(trigger=trigger)
    up_state = Success(result=1)
    e = edge(NoInputs(), t, "x")
    state = Pending()
    assert TaskRunner(t).check_task_trigger(state, {e: up_state}, {"x": 1}) is state
    (ups,) = seen
    assert list(ups) == [up_state]
    assert dict(ups.by_edge) == {e: up_state}


@pytest.mark.parametrize("falsy", [False, None, 0, ""], ids=repr)
def test_trigger_falsy_means_trigger_failed(falsy: Any) -> None:
    t = AddOne(trigger=lambda ups: falsy)
    with pytest.raises(ENDRUN) as info:
        TaskRunner(t).check_task_trigger(Pending(), {}, {"x": 1})
    state = info.value.state
    assert type(state) is TriggerFailed
    assert state.message == "Trigger failed"


@pytest.mark.parametrize(("signal", "state_cls"), SIGNAL_STATES, ids=by_name)
def test_trigger_signal_sets_its_state(
    fake_clock: FakeClock, signal: type[signals.PrefectStateSignal], state_cls: type
) -> None:
    def trigger(upstream_states: Any) -> bool:
        raise signal("from the trigger")

    t = AddOne(trigger=trigger)
    with pytest.raises(ENDRUN) as info:
        TaskRunner(t).check_task_trigger(Pending(), {}, {"x": 1})
    assert type(info.value.state) is state_cls
    assert info.value.state.message == "from the trigger"


def test_trigger_unexpected_exception_means_trigger_failed() -> None:
    error = ZeroDivisionError("bad trigger")

    def trigger(upstream_states: Any) -> bool:
        raise error

    t = AddOne(trigger=trigger)
    with pytest.raises(ENDRUN) as info:
        TaskRunner(t).check_task_trigger(Pending(), {}, {"x": 1})
    state = info.value.state
    assert type(state) is TriggerFailed
    assert state.message == (
        "Unexpected error while checking task trigger: ZeroDivisionError('bad trigger')"
    )
    assert state.result is error


def test_ignore_trigger_does_not_call_the_trigger() -> None:
    calls: list[Any] = []

    def trigger(upstream_states: Any) -> bool:
        calls.append(upstream_states)
        raise signals.TRIGGERFAIL("no")

    t = AddOne(trigger=trigger)
    state = Pending()
    assert TaskRunner(t).check_task_trigger(state, {}, {"x": 1}, ignore_trigger=True) is state
    assert calls == []


def test_manual_only_trigger_pauses_and_keeps_inputs() -> None:
    t = AddOne(trigger=triggers.manual_only)
    with pytest.raises(ENDRUN) as info:
        TaskRunner(t).check_task_trigger(Pending(), {}, {"x": 41})
    assert type(info.value.state) is Paused
    assert info.value.state.cached_inputs == {"x": 41}


def test_manual_only_trigger_passes_when_resuming() -> None:
    t = AddOne(trigger=triggers.manual_only)
    state = Resume()
    with context(resume=True):
        assert TaskRunner(t).check_task_trigger(state, {}, {"x": 1}) is state


@pytest.mark.parametrize("other", ["Success", "Cached", "Mapped", "Skipped", "Failed"])
def test_default_trigger_decides_as_all_successful(other: str) -> None:
    # The runner does not call all_successful when every upstream is a plain Success;
    # with any other state among them, it does, and the outcome is the trigger's.
    t = AddOne()
    ups = {edge(NoInputs(), t): Success(result=1), edge(NoInputs(), t): STATE_FACTORIES[other]()}
    state = Pending()
    try:
        expected = triggers.all_successful(ups)
    except signals.TRIGGERFAIL:
        expected = False
    if expected:
        assert TaskRunner(t).check_task_trigger(state, ups, {"x": 1}) is state
    else:
        with pytest.raises(ENDRUN) as info:
            TaskRunner(t).check_task_trigger(state, ups, {"x": 1})
        assert isinstance(info.value.state, TriggerFailed)


# =============================================================================================
# Step 10: set_task_to_running
# =============================================================================================
def test_set_task_to_running() -> None:
    new = TaskRunner(AddOne()).set_task_to_running(Pending(), {"x": 1})
    assert type(new) is Running
    assert new.message == "Starting task run."


# =============================================================================================
# Step 11: get_task_run_state
# =============================================================================================
def test_get_task_run_state_success_with_the_returned_value() -> None:
    new = TaskRunner(AddOne()).get_task_run_state(Running(), {"x": 1})
    assert type(new) is Success
    assert new.message == "Task run succeeded."
    assert new.result == 2


def test_get_task_run_state_none_is_a_result() -> None:
    new = TaskRunner(NoInputs(value=None)).get_task_run_state(Running(), {})
    assert type(new) is Success
    assert new.result is None


@pytest.mark.parametrize(("signal", "state_cls"), SIGNAL_STATES, ids=by_name)
def test_get_task_run_state_signal_sets_its_state(
    fake_clock: FakeClock, signal: type[signals.PrefectStateSignal], state_cls: type
) -> None:
    sig = signal("from run")
    new = TaskRunner(Raises(sig)).get_task_run_state(Running(), {"x": 1})
    assert type(new) is state_cls
    assert new.message == "from run"
    assert new.result is sig


def test_get_task_run_state_success_signal_with_result() -> None:
    new = TaskRunner(Raises(signals.SUCCESS("early", result=42))).get_task_run_state(Running(), {})
    assert type(new) is Success
    assert new.result == 42


def test_get_task_run_state_retry_signal_fills_run_count_and_start_time(
    fake_clock: FakeClock,
) -> None:
    t = Raises(signals.RETRY("again"), max_retries=1, retry_delay=DELAY)
    new = TaskRunner(t).get_task_run_state(Running(), {"x": 1})
    assert isinstance(new, Retrying)
    assert new.run_count == 1
    assert new.start_time == fake_clock.now() + DELAY
    assert new.cached_inputs == {"x": 1}


def test_get_task_run_state_retry_signal_keeps_given_start_time(fake_clock: FakeClock) -> None:
    when = fake_clock.now() + timedelta(hours=1)
    t = Raises(signals.RETRY("later", start_time=when, run_count=7))
    new = TaskRunner(t).get_task_run_state(Running(), {})
    assert isinstance(new, Retrying)
    assert new.start_time == when
    assert new.run_count == 7


def test_get_task_run_state_exception_is_failed() -> None:
    error = ValueError("oops")
    new = TaskRunner(Raises(error)).get_task_run_state(Running(), {"x": 1})
    assert type(new) is Failed
    assert new.message == "Unexpected error: ValueError('oops')"
    assert new.result is error
    assert new.cached_inputs == {"x": 1}


def test_get_task_run_state_times_out() -> None:
    release = threading.Event()

    class Blocks(Task):
        def run(self, x: int) -> None:
            release.wait()

    try:
        t = Blocks(timeout=0.1)
        new = TaskRunner(t).get_task_run_state(Running(), {"x": 5}, LocalExecutor().timeout_handler)
    finally:
        release.set()
    assert type(new) is TimedOut
    assert new.cached_inputs == {"x": 5}


# =============================================================================================
# Step 12: cache_result
# =============================================================================================
def test_cache_result_turns_success_into_cached(fake_clock: FakeClock) -> None:
    t = AddOne(name=unique("cache"), cache_for=DELAY)
    with context(parameters={"p": 1}):
        new = TaskRunner(t).cache_result(Success(result=2), {"x": 1})
    assert type(new) is Cached
    assert new.result == 2
    assert new.cached_inputs == {"x": 1}
    assert new.cached_parameters == {"p": 1}
    assert new.cached_result_expiration == fake_clock.now() + DELAY


@pytest.mark.parametrize("name", ["Skipped", "Failed", "Cached", "Mapped", "Running"])
def test_cache_result_leaves_other_states(name: str) -> None:
    t = AddOne(name=unique("cache"), cache_for=DELAY)
    state = STATE_FACTORIES[name]()
    assert TaskRunner(t).cache_result(state, {"x": 1}) is state


def test_cache_result_without_cache_for_leaves_success() -> None:
    state = Success(result=2)
    assert TaskRunner(AddOne()).cache_result(state, {"x": 1}) is state


# =============================================================================================
# Step 13: check_for_retry
# =============================================================================================
@pytest.mark.parametrize("run_count", [1, 2])
@pytest.mark.parametrize("failed_cls", [Failed, TimedOut], ids=by_name)
def test_check_for_retry_retries_a_failure(
    fake_clock: FakeClock, run_count: int, failed_cls: type
) -> None:
    t = AddOne(max_retries=2, retry_delay=DELAY)
    with context(task_run_count=run_count):
        new = TaskRunner(t).check_for_retry(failed_cls("boom"), {"x": 1})
    assert type(new) is Retrying
    assert new.run_count == run_count
    assert new.start_time == fake_clock.now() + DELAY
    assert new.cached_inputs == {"x": 1}


def test_check_for_retry_not_past_max_retries(fake_clock: FakeClock) -> None:
    t = AddOne(max_retries=2, retry_delay=DELAY)
    state = Failed("boom")
    with context(task_run_count=3):
        assert TaskRunner(t).check_for_retry(state, {"x": 1}) is state


def test_check_for_retry_never_retries_trigger_failed(fake_clock: FakeClock) -> None:
    t = AddOne(max_retries=5, retry_delay=DELAY)
    state = TriggerFailed("no")
    with context(task_run_count=1):
        assert TaskRunner(t).check_for_retry(state, {"x": 1}) is state


def test_check_for_retry_without_max_retries(fake_clock: FakeClock) -> None:
    state = Failed("boom")
    assert TaskRunner(AddOne()).check_for_retry(state, {"x": 1}) is state


@pytest.mark.parametrize("name", ["Success", "Skipped", "Paused", "Retrying", "Running"])
def test_check_for_retry_leaves_non_failures(fake_clock: FakeClock, name: str) -> None:
    t = AddOne(max_retries=2, retry_delay=DELAY)
    state = STATE_FACTORIES[name]()
    assert TaskRunner(t).check_for_retry(state, {"x": 1}) is state


# =============================================================================================
# TaskRunner.run end to end
# =============================================================================================
def test_run_success_end_to_end() -> None:
    t = AddOne()
    state = TaskRunner(t).run(upstream_states={edge(NoInputs(), t, "x"): Success(result=1)})
    assert type(state) is Success
    assert state.result == 2


def test_run_with_no_state_and_no_upstream() -> None:
    state = TaskRunner(NoInputs(value="v")).run()
    assert type(state) is Success and state.result == "v"


def test_run_with_unfinished_upstream_stays_pending() -> None:
    t = AddOne()
    given = Pending(cached_inputs={"x": 1})
    state = TaskRunner(t).run(given, upstream_states={edge(NoInputs(), t, "x"): Running()})
    assert state is given


def test_run_finished_state_is_returned_unchanged() -> None:
    t = NoInputs()
    given = Success(result="old")
    assert TaskRunner(t).run(given) is given
    assert t.calls == 0


# -- (a) signals raised from task code --------------------------------------------------------
@pytest.mark.parametrize(("signal", "state_cls"), SIGNAL_STATES, ids=by_name)
def test_run_signal_from_task_code(
    fake_clock: FakeClock, signal: type[signals.PrefectStateSignal], state_cls: type
) -> None:
    t = Raises(signal("from task"))
    state = TaskRunner(t).run(state=Pending(cached_inputs={"x": 1}))
    assert type(state) is state_cls
    assert state.message == "from task"
    assert t.calls == 1


def test_run_success_signal_from_task_code_carries_result() -> None:
    state = TaskRunner(Raises(signals.SUCCESS("done early", result={"a": 1}))).run()
    assert type(state) is Success
    assert state.result == {"a": 1}


def test_run_retry_signal_past_max_retries_still_retries(fake_clock: FakeClock) -> None:
    t = Raises(signals.RETRY("again"))  # max_retries=0
    state = TaskRunner(t).run(state=Retrying(run_count=4))
    assert isinstance(state, Retrying)
    assert state.run_count == 5


def test_run_fail_signal_is_retried_like_any_failure(fake_clock: FakeClock) -> None:
    t = Raises(signals.FAIL("bad"), max_retries=1, retry_delay=DELAY)
    state = TaskRunner(t).run()
    assert isinstance(state, Retrying)
    assert state.run_count == 1


def test_run_triggerfail_signal_from_task_is_never_retried(fake_clock: FakeClock) -> None:
    t = Raises(signals.TRIGGERFAIL("no"), max_retries=3, retry_delay=DELAY)
    assert type(TaskRunner(t).run()) is TriggerFailed


# -- (b) signals raised from a trigger ---------------------------------------------------------
@pytest.mark.parametrize(("signal", "state_cls"), SIGNAL_STATES, ids=by_name)
def test_run_signal_from_trigger(
    fake_clock: FakeClock, signal: type[signals.PrefectStateSignal], state_cls: type
) -> None:
    def trigger(upstream_states: Any) -> bool:
        raise signal("from trigger")

    t = NoInputs(trigger=trigger)
    state = TaskRunner(t).run()
    assert type(state) is state_cls
    assert state.message == "from trigger"
    assert t.calls == 0  # the task itself never ran


def test_run_success_signal_from_trigger_carries_result() -> None:
    def trigger(upstream_states: Any) -> bool:
        raise signals.SUCCESS("decided", result=7)

    t = NoInputs(trigger=trigger)
    state = TaskRunner(t).run()
    assert type(state) is Success and state.result == 7
    assert t.calls == 0


def test_run_retry_signal_from_trigger_uses_retry_delay(fake_clock: FakeClock) -> None:
    def trigger(upstream_states: Any) -> bool:
        raise signals.RETRY("not yet")

    t = NoInputs(trigger=trigger, max_retries=1, retry_delay=DELAY)
    state = TaskRunner(t).run()
    assert isinstance(state, Retrying)
    assert state.run_count == 1
    assert state.start_time == fake_clock.now() + DELAY


def test_run_trigger_failed_from_trigger_is_never_retried(fake_clock: FakeClock) -> None:
    t = NoInputs(trigger=lambda ups: False, max_retries=3, retry_delay=DELAY)
    state = TaskRunner(t).run()
    assert type(state) is TriggerFailed
    assert state.message == "Trigger failed"


def test_run_unexpected_trigger_error() -> None:
    def trigger(upstream_states: Any) -> bool:
        raise KeyError("k")

    state = TaskRunner(NoInputs(trigger=trigger)).run()
    assert type(state) is TriggerFailed
    assert (state.message or "").startswith("Unexpected error while checking task trigger: ")
    assert isinstance(state.result, KeyError)


# -- (c) signals raised from a state handler --------------------------------------------------
def raise_on_success(signal: signals.PrefectStateSignal) -> Callable[..., Any]:
    def handler(task: Any, old: State, new: State) -> State | None:
        if type(new) is Success:
            raise signal
        return None

    return handler


@pytest.mark.parametrize(("signal", "state_cls"), SIGNAL_STATES, ids=by_name)
def test_run_signal_from_task_state_handler(
    fake_clock: FakeClock, signal: type[signals.PrefectStateSignal], state_cls: type
) -> None:
    t = NoInputs(state_handlers=[raise_on_success(signal("from handler"))])
    state = TaskRunner(t).run()
    assert type(state) is state_cls
    assert state.message == "from handler"


@pytest.mark.parametrize(("signal", "state_cls"), SIGNAL_STATES, ids=by_name)
def test_run_signal_from_runner_state_handler(
    fake_clock: FakeClock, signal: type[signals.PrefectStateSignal], state_cls: type
) -> None:
    t = NoInputs()
    state = TaskRunner(t, state_handlers=[raise_on_success(signal("from runner"))]).run()
    assert type(state) is state_cls


def test_run_success_signal_from_handler_carries_result() -> None:
    t = NoInputs(value=1, state_handlers=[raise_on_success(signals.SUCCESS("x", result=99))])
    state = TaskRunner(t).run()
    assert type(state) is Success and state.result == 99


def test_run_retry_signal_from_handler_is_filled_like_from_task(fake_clock: FakeClock) -> None:
    t = NoInputs(
        max_retries=1,
        retry_delay=DELAY,
        state_handlers=[raise_on_success(signals.RETRY("again"))],
    )
    state = TaskRunner(t).run()
    assert isinstance(state, Retrying)
    assert state.run_count == 1
    assert state.start_time == fake_clock.now() + DELAY


@pytest.mark.parametrize(("signal", "state_cls"), SIGNAL_STATES, ids=by_name)
def test_run_signal_from_handler_on_running_stops_the_run(
    fake_clock: FakeClock, signal: type[signals.PrefectStateSignal], state_cls: type
) -> None:
    def handler(task: Any, old: State, new: State) -> None:
        if isinstance(new, Running):
            raise signal("stop before running")

    t = NoInputs(state_handlers=[handler])
    state = TaskRunner(t).run()
    assert t.calls == 0
    assert type(state) is state_cls


# -- state handlers ---------------------------------------------------------------------------
def test_state_handlers_task_then_runner_in_order() -> None:
    calls: list[tuple[str, type, type]] = []

    def recorder(name: str) -> Callable[..., None]:
        def handler(owner: Any, old: State, new: State) -> None:
            calls.append((name, type(old), type(new)))

        return handler

    t = NoInputs(state_handlers=[recorder("task1"), recorder("task2")])
    runner = TaskRunner(t, state_handlers=[recorder("runner1"), recorder("runner2")])
    runner.run()
    assert calls == [
        ("task1", Pending, Running),
        ("task2", Pending, Running),
        ("runner1", Pending, Running),
        ("runner2", Pending, Running),
        ("task1", Running, Success),
        ("task2", Running, Success),
        ("runner1", Running, Success),
        ("runner2", Running, Success),
    ]


def test_state_handlers_receive_task_and_runner() -> None:
    owners: list[Any] = []
    t = NoInputs(state_handlers=[lambda task, old, new: owners.append(task)])
    runner = TaskRunner(t, state_handlers=[lambda r, old, new: owners.append(r)])
    runner.run()
    assert owners == [t, runner, t, runner]


def test_state_handler_returning_a_replacement_state() -> None:
    replacement = Failed("replaced by handler")
    later: list[State] = []

    def replace(task: Any, old: State, new: State) -> State | None:
        return replacement if type(new) is Success else None

    t = NoInputs(state_handlers=[replace, lambda task, old, new: later.append(new)])
    state = TaskRunner(t).run()
    assert state is replacement
    assert later[-1] is replacement  # the following handlers see the replacement


def test_runner_handler_sees_the_task_handler_replacement() -> None:
    seen: list[State] = []
    replacement = Skipped("replaced")
    t = NoInputs(
        state_handlers=[lambda task, old, new: replacement if type(new) is Success else None]
    )
    state = TaskRunner(t, state_handlers=[lambda r, old, new: seen.append(new)]).run()
    assert state is replacement
    assert seen[-1] is replacement


def test_state_handler_raising_gives_failed() -> None:
    error = RuntimeError("handler broke")

    def handler(task: Any, old: State, new: State) -> None:
        raise error

    state = TaskRunner(NoInputs(state_handlers=[handler])).run()
    assert type(state) is Failed
    assert (state.message or "").startswith("Exception raised while calling state handlers")
    assert state.result is error


def test_runner_state_handler_raising_gives_failed() -> None:
    def handler(runner: Any, old: State, new: State) -> None:
        raise RuntimeError("runner handler broke")

    state = TaskRunner(NoInputs(), state_handlers=[handler]).run()
    assert type(state) is Failed
    assert (state.message or "").startswith("Exception raised while calling state handlers")


def test_state_handler_raising_on_running_stops_the_run() -> None:
    def handler(task: Any, old: State, new: State) -> None:
        if isinstance(new, Running):
            raise RuntimeError("no running allowed")

    t = NoInputs(state_handlers=[handler])
    state = TaskRunner(t).run()
    assert t.calls == 0
    assert type(state) is Failed
    assert (state.message or "").startswith("Exception raised while calling state handlers")


def test_on_failure_called_for_every_failed_state(fake_clock: FakeClock) -> None:
    failures: list[tuple[Task, State]] = []
    t = Raises(
        ValueError("x"),
        max_retries=1,
        retry_delay=DELAY,
        on_failure=lambda task, state: failures.append((task, state)),
    )
    runner = TaskRunner(t)
    first = runner.run()
    assert isinstance(first, Retrying)
    fake_clock.advance(DELAY)
    second = runner.run(first)
    assert type(second) is Failed
    assert [type(s) for _, s in failures] == [Failed, Failed]
    assert all(task is t for task, _ in failures)
    assert failures[-1][1] is second


@pytest.mark.parametrize(
    "make",
    [
        lambda cb: NoInputs(trigger=lambda ups: False, on_failure=cb),
        lambda cb: Raises(signals.FAIL("f"), on_failure=cb),
        lambda cb: Raises(signals.TRIGGERFAIL("tf"), on_failure=cb),
        lambda cb: Raises(KeyError("k"), on_failure=cb),
    ],
    ids=["falsy trigger", "FAIL", "TRIGGERFAIL", "exception"],
)
def test_on_failure_called_for_each_kind_of_failure(make: Callable[..., Task]) -> None:
    failures: list[State] = []
    state = TaskRunner(make(lambda task, s: failures.append(s))).run()
    assert isinstance(state, Failed)
    assert failures == [state]
    assert failures[0] is state


def test_on_failure_not_called_on_success() -> None:
    failures: list[State] = []
    TaskRunner(NoInputs(on_failure=lambda task, s: failures.append(s))).run()
    assert failures == []


def test_on_failure_raising_does_not_escape_run() -> None:
    def on_failure(task: Any, state: State) -> None:
        raise RuntimeError("on_failure broke")

    state = TaskRunner(Raises(ValueError("x"), on_failure=on_failure)).run()
    assert isinstance(state, Failed)


# -- cached_inputs are kept ---------------------------------------------------------------------
def upstream_and_constant(t: Task) -> tuple[Pending, dict[Edge, State]]:
    """The task gets x from an upstream result and y as a constant (initial cached_inputs)."""
    return Pending(cached_inputs={"y": 20}), {edge(NoInputs(), t, "x"): Success(result=10)}


class PauseInRun(Task):
    def run(self, x: int, y: int) -> int:
        raise signals.PAUSE("wait for approval")


class PauseTaskInRun(Task):
    def run(self, x: int, y: int) -> int:
        pause_task()
        return x + y


class FailInRun(Task):
    def run(self, x: int, y: int) -> int:
        raise ValueError("bad input")


class FAILInRun(Task):
    def run(self, x: int, y: int) -> int:
        raise signals.FAIL("bad input")


@pytest.mark.parametrize(
    ("make", "state_cls"),
    [
        (lambda: PauseInRun(), Paused),
        (lambda: PauseTaskInRun(), Paused),
        (lambda: AddTwoInputs(trigger=triggers.manual_only), Paused),
        (lambda: FailInRun(max_retries=1, retry_delay=DELAY), Retrying),
        (lambda: FailInRun(), Failed),
        (lambda: FAILInRun(), Failed),
        (lambda: AddTwoInputs(trigger=lambda ups: False), TriggerFailed),
    ],
    ids=[
        "PAUSE in run",
        "pause_task()",
        "manual_only",
        "Retrying",
        "Failed (exception)",
        "Failed (FAIL)",
        "TriggerFailed (falsy)",
    ],
)
def test_cached_inputs_kept(
    fake_clock: FakeClock, make: Callable[[], Task], state_cls: type
) -> None:
    t = make()
    given, upstream = upstream_and_constant(t)
    state = TaskRunner(t).run(given, upstream)
    assert type(state) is state_cls
    assert state.cached_inputs == {"x": 10, "y": 20}


def test_cached_inputs_kept_on_timed_out() -> None:
    release = threading.Event()

    class Blocks(Task):
        def run(self, x: int, y: int) -> None:
            release.wait()

    t = Blocks(timeout=0.1)
    given, upstream = upstream_and_constant(t)
    try:
        state = TaskRunner(t).run(given, upstream)
    finally:
        release.set()
    assert type(state) is TimedOut
    assert state.cached_inputs == {"x": 10, "y": 20}


def test_cached_inputs_kept_on_trigger_error() -> None:
    def trigger(upstream_states: Any) -> bool:
        raise KeyError("k")

    t = AddTwoInputs(trigger=trigger)
    given, upstream = upstream_and_constant(t)
    state = TaskRunner(t).run(given, upstream)
    assert type(state) is TriggerFailed
    assert state.cached_inputs == {"x": 10, "y": 20}


def test_paused_task_resumes_with_its_cached_inputs() -> None:
    t = AddTwoInputs(trigger=triggers.manual_only)
    given, upstream = upstream_and_constant(t)
    runner = TaskRunner(t)
    paused = runner.run(given, upstream)
    assert type(paused) is Paused
    # Resume without the upstream results: the inputs come from cached_inputs.
    state = runner.run(Resume(cached_inputs=paused.cached_inputs))
    assert type(state) is Success
    assert state.result == 30


def test_paused_state_stays_paused_without_resume() -> None:
    t = AddTwoInputs(trigger=triggers.manual_only)
    paused = Paused(cached_inputs={"x": 1, "y": 2})
    assert TaskRunner(t).run(paused) is paused


def test_paused_state_runs_with_resume_in_context() -> None:
    t = AddTwoInputs(trigger=triggers.manual_only)
    state = TaskRunner(t).run(Paused(cached_inputs={"x": 1, "y": 2}), context={"resume": True})
    assert type(state) is Success and state.result == 3


def test_ignore_trigger_runs_a_manual_only_task() -> None:
    t = NoInputs(value="approved", trigger=triggers.manual_only)
    state = TaskRunner(t).run(ignore_trigger=True)
    assert type(state) is Success and state.result == "approved"


def test_ignore_trigger_skips_upstream_checks() -> None:
    t = AddOne(trigger=triggers.all_successful)
    up = {edge(NoInputs(), t, "x"): Pending(), edge(NoInputs(), t): Skipped()}
    state = TaskRunner(t).run(Pending(cached_inputs={"x": 1}), up, ignore_trigger=True)
    assert type(state) is Success and state.result == 2


def test_resume_does_not_leak_into_a_later_run() -> None:
    t = NoInputs(trigger=triggers.manual_only)
    assert type(TaskRunner(t).run(Resume())) is Success
    assert type(TaskRunner(t).run()) is Paused


# -- raise_on_exception ------------------------------------------------------------------------
def test_raise_on_exception_reraises_user_exceptions() -> None:
    with raise_on_exception(), pytest.raises(ValueError, match="user bug"):
        TaskRunner(Raises(ValueError("user bug"))).run()


def test_raise_on_exception_reraises_trigger_exceptions() -> None:
    def trigger(upstream_states: Any) -> bool:
        raise KeyError("trigger bug")

    with raise_on_exception(), pytest.raises(KeyError):
        TaskRunner(NoInputs(trigger=trigger)).run()


@pytest.mark.parametrize(("signal", "state_cls"), SIGNAL_STATES, ids=by_name)
def test_raise_on_exception_does_not_raise_signals(
    fake_clock: FakeClock, signal: type[signals.PrefectStateSignal], state_cls: type
) -> None:
    with raise_on_exception():
        state = TaskRunner(Raises(signal("sig"))).run()
    assert type(state) is state_cls


def test_raise_on_exception_off_by_default() -> None:
    state = TaskRunner(Raises(ValueError("x"))).run()
    assert type(state) is Failed


# -- context during a run ----------------------------------------------------------------------
def test_run_sets_task_context_and_run_count() -> None:
    seen: dict[str, Any] = {}

    class Ctx(Task):
        def run(self) -> None:
            seen.update(
                name=context.task_name,
                full=context.task_full_name,
                count=context.task_run_count,
                resume=context.get("resume"),
            )

    TaskRunner(Ctx(name="ctx")).run(Retrying(run_count=2, start_time=lg_clock.now()))
    assert seen == {"name": "ctx", "full": "ctx", "count": 3, "resume": None}


def test_run_result_is_noresult_free_for_returned_values() -> None:
    state = TaskRunner(NoInputs(value=0)).run()
    assert state.result == 0
    assert state.result is not NoResult
