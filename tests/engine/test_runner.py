"""Runner: the one state-change path TaskRunner and FlowRunner share, initialize_run and
its result types, flow runs that start Scheduled, one-pass FlowRunner runs, PrefectError
and ENDRUN."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from lockgate import Flow, Parameter, Task, task
from lockgate.core import Edge
from lockgate.engine import flow_runner, runner, signals, task_runner
from lockgate.engine.flow_runner import FlowRunner, FlowRunnerInitializeResult
from lockgate.engine.runner import ENDRUN, Runner, StateHandlerReturnError
from lockgate.engine.state import (
    Failed,
    Paused,
    Pending,
    Queued,
    Retrying,
    Running,
    Scheduled,
    Skipped,
    State,
    Submitted,
    Success,
)
from lockgate.engine.task_runner import TaskRunner, TaskRunnerInitializeResult
from lockgate.testing import FakeClock
from lockgate.utilities.debug import raise_on_exception

DELAY = timedelta(minutes=5)


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    with FakeClock() as c:
        yield c


class Recorder:
    """A state handler that records each move as (old class, new class) names."""

    def __init__(self, returns: Any = None) -> None:
        self.moves: list[tuple[str, str]] = []
        self.returns = returns

    def __call__(self, who: Any, old: State, new: State) -> Any:
        self.moves.append((type(old).__name__, type(new).__name__))
        return self.returns


class Double(Task):
    def run(self, x: int) -> int:
        return 2 * x


# =============================================================================================
# Runner.handle_state_change
# =============================================================================================
class Labelled(Runner):
    """A runner whose target handler appends a label to the state's message."""

    def call_runner_target_handlers(self, old_state: State, new_state: State) -> State:
        return type(new_state)(f"{new_state.message}+target")


def test_target_handlers_run_before_the_runners_own() -> None:
    seen: list[str | None] = []

    def own(r: Runner, old: State, new: State) -> State:
        seen.append(new.message)
        return Success(f"{new.message}+own")

    new = Labelled(state_handlers=[own]).handle_state_change(Pending(), Success("x"))
    assert seen == ["x+target"]
    assert new.message == "x+target+own"


def test_a_handler_returning_none_keeps_the_state() -> None:
    given = Running("go")
    assert Runner(state_handlers=[Recorder()]).handle_state_change(Pending(), given) is given


def test_a_handler_error_ends_the_run_failed_with_the_error_as_result() -> None:
    def broken(r: Runner, old: State, new: State) -> State:
        raise KeyError("nope")

    with pytest.raises(ENDRUN) as info:
        Runner(state_handlers=[broken]).handle_state_change(Pending(), Running())
    assert type(info.value.state) is Failed
    assert info.value.state.message == "Exception raised while calling state handlers."
    assert isinstance(info.value.state.result, KeyError)


def test_a_handler_error_reaches_the_caller_in_debug_mode() -> None:
    def broken(r: Runner, old: State, new: State) -> State:
        raise KeyError("nope")

    with raise_on_exception(), pytest.raises(KeyError):
        Runner(state_handlers=[broken]).handle_state_change(Pending(), Running())


def test_a_signal_from_a_handler_sets_its_state_but_pause_is_raised() -> None:
    def skip(r: Runner, old: State, new: State) -> State:
        raise signals.SKIP("not today")

    def pause(r: Runner, old: State, new: State) -> State:
        raise signals.PAUSE("wait")

    new = Runner(state_handlers=[skip]).handle_state_change(Pending(), Running())
    assert type(new) is Skipped and new.message == "not today"
    with pytest.raises(signals.PAUSE):
        Runner(state_handlers=[pause]).handle_state_change(Pending(), Running())


def test_a_chain_ending_on_a_non_state_fails_the_change_naming_the_handler() -> None:
    def say_done(r: Runner, old: State, new: State) -> Any:
        return "done"

    with pytest.raises(ENDRUN) as info:
        Runner(state_handlers=[say_done]).handle_state_change(Pending(), Running())
    assert info.value.state.message == "Exception raised while calling state handlers."
    error = info.value.state.result
    assert isinstance(error, StateHandlerReturnError)
    assert isinstance(error, TypeError) and isinstance(error, AttributeError)
    assert "say_done" in str(error) and "returned 'done'" in str(error)
    assert error.handler is say_done and error.returned == "done"


def test_each_handler_receives_what_the_previous_one_returned() -> None:
    seen: list[Any] = []

    def tag(r: Runner, old: State, new: State) -> Any:
        return ("tagged", new)

    def unwrap(r: Runner, old: State, new: Any) -> State:
        seen.append(new)
        return Skipped(f"unwrapped {new[0]}")

    new = Runner(state_handlers=[tag, unwrap]).handle_state_change(Pending(), Running())
    assert seen == [("tagged", Running())]
    assert type(new) is Skipped and new.message == "unwrapped tagged"


def test_a_non_state_passes_from_the_task_handlers_to_the_runner_handlers() -> None:
    def count(t: Task, old: State, new: State) -> Any:
        return 41 if isinstance(new, Running) else None

    def settle(r: Runner, old: State, new: Any) -> State | None:
        return Running(f"answer {new + 1}") if isinstance(new, int) else None

    states = []
    final = TaskRunner(
        Task(state_handlers=[count]),
        state_handlers=[settle],
        listeners=[lambda r, old, new: states.append(new)],
    ).run()
    assert type(final) is Success
    assert any(s.message == "answer 42" for s in states)


def test_a_task_handler_returning_a_non_state_fails_the_task_or_raises() -> None:
    def oops(t: Task, old: State, new: State) -> Any:
        return True

    final = TaskRunner(Task(state_handlers=[oops])).run()
    assert type(final) is Failed
    assert final.message == "Exception raised while calling state handlers."
    assert "oops" in str(final.result)
    with raise_on_exception(), pytest.raises(AttributeError, match="returned True"):
        TaskRunner(Task(state_handlers=[oops])).run()


def test_a_flow_handler_returning_a_non_state_raises_under_raise_on_exception() -> None:
    def oops(f: Flow, old: State, new: State) -> Any:
        return 0

    with raise_on_exception(), pytest.raises(TypeError, match="oops returned 0"):
        FlowRunner(Flow("f", state_handlers=[oops])).run()


@pytest.mark.parametrize("bad", [len, "handler", 3])
def test_state_handlers_must_be_a_list(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"state_handlers must be a list of callables"):
        Runner(state_handlers=bad)
    with pytest.raises(TypeError, match=r"state_handlers=\[my_handler\]"):
        TaskRunner(Task(), state_handlers=bad)


def test_runner_logger_is_named_after_its_class() -> None:
    assert Runner().logger.name == "lockgate.Runner"
    assert TaskRunner(Task()).logger.name == "lockgate.TaskRunner"
    assert FlowRunner(Flow("lg")).logger.name == "lockgate.flow.lg"


# =============================================================================================
# The shared path: TaskRunner and FlowRunner
# =============================================================================================
def test_task_and_runner_handlers_see_the_same_moves_in_order() -> None:
    task_handler, runner_handler = Recorder(), Recorder()
    t = Double(state_handlers=[task_handler])
    TaskRunner(t, state_handlers=[runner_handler]).run(
        upstream_states={Edge(Task(), t, key="x"): Success(result=4)}
    )
    assert task_handler.moves == [("Pending", "Running"), ("Running", "Success")]
    assert runner_handler.moves == task_handler.moves


def test_flow_and_flow_runner_handlers_see_the_same_moves_in_order() -> None:
    flow_handler, runner_handler = Recorder(), Recorder()
    flow = Flow("handlers", tasks=[Task()], state_handlers=[flow_handler])
    FlowRunner(flow, state_handlers=[runner_handler]).run()
    assert flow_handler.moves == [("Pending", "Running"), ("Running", "Success")]
    assert runner_handler.moves == flow_handler.moves


def test_an_overridden_target_handler_is_called_without_any_handlers() -> None:
    class Tagging(TaskRunner):
        def call_runner_target_handlers(self, old_state: State, new_state: State) -> State:
            if isinstance(new_state, Success):
                return Success("tagged", result=new_state.result)
            return new_state

    state = Tagging(Task()).run()
    assert state.message == "tagged"


def test_a_task_handler_error_ends_the_run_failed_keeping_inputs_without_retry() -> None:
    failures: list[State] = []

    def broken(t: Task, old: State, new: State) -> State:
        if isinstance(new, Success):
            raise RuntimeError("handler bug")
        return new

    t = Double(
        state_handlers=[broken],
        max_retries=2,
        retry_delay=DELAY,
        on_failure=lambda t, s: failures.append(s),
    )
    state = TaskRunner(t).run(upstream_states={Edge(Task(), t, key="x"): Success(result=3)})
    assert type(state) is Failed
    assert state.message == "Exception raised while calling state handlers."
    assert state.cached_inputs == {"x": 3}
    # on_failure is a state handler after `broken` in the chain, so the chain that raised
    # never reached it (as in Prefect 0.5.1)
    assert failures == []


def test_a_flow_handler_error_fails_the_flow_before_on_failure_is_reached() -> None:
    failures: list[State] = []

    def broken(f: Flow, old: State, new: State) -> State:
        if isinstance(new, Success):
            raise RuntimeError("handler bug")
        return new

    flow = Flow(
        "broken",
        tasks=[Task()],
        state_handlers=[broken],
        on_failure=lambda f, s: failures.append(s),
    )
    state = FlowRunner(flow).run()
    assert type(state) is Failed
    assert state.message == "Exception raised while calling state handlers."
    assert failures == []  # on_failure comes after `broken` in the chain that raised


def test_a_pause_from_a_handler_keeps_the_inputs() -> None:
    def hold(t: Task, old: State, new: State) -> State:
        if isinstance(new, Running):
            raise signals.PAUSE("hold on")
        return new

    t = Double(state_handlers=[hold])
    state = TaskRunner(t).run(upstream_states={Edge(Task(), t, key="x"): Success(result=5)})
    assert type(state) is Paused
    assert state.cached_inputs == {"x": 5}


def test_endrun_raised_by_task_code_ends_the_run_with_its_state() -> None:
    class Stop(Task):
        def run(self, x: int) -> None:
            raise ENDRUN(Pending("come back later"))

    t = Stop()
    state = TaskRunner(t).run(upstream_states={Edge(Task(), t, key="x"): Success(result=7)})
    assert type(state) is Pending and state.message == "come back later"
    assert state.cached_inputs == {"x": 7}


# =============================================================================================
# ENDRUN and PrefectError
# =============================================================================================
def test_every_runner_module_shares_one_endrun() -> None:
    assert runner.ENDRUN is signals.ENDRUN is task_runner.ENDRUN is flow_runner.ENDRUN


def test_endrun_is_not_caught_by_except_exception() -> None:
    assert not issubclass(ENDRUN, Exception)
    assert type(ENDRUN().state) is Pending  # without a state: nothing happened


@pytest.mark.parametrize(
    "signal", [signals.FAIL, signals.TRIGGERFAIL, signals.SUCCESS, signals.RETRY, signals.SKIP]
)
def test_signals_are_prefect_errors(signal: type[signals.PrefectStateSignal]) -> None:
    with pytest.raises(signals.PrefectError):
        raise signal("stop")
    assert issubclass(signals.PrefectError, Exception)


# =============================================================================================
# initialize_run
# =============================================================================================
def test_runner_initialize_run_unwraps_nested_meta_states() -> None:
    inner = Retrying(run_count=2)
    state, context = Runner().initialize_run(Queued(state=Submitted(state=inner)), {"a": 1})
    assert state is inner
    assert context == {"a": 1}
    assert type(Runner().initialize_run(None, {})[0]) is Pending


def test_task_runner_initialize_run_returns_named_fields() -> None:
    context: dict[str, Any] = {}
    result = TaskRunner(Double(name="dbl")).initialize_run(Retrying(run_count=3), context)
    assert isinstance(result, TaskRunnerInitializeResult)
    assert result.context is context
    assert context == {"task_run_count": 4, "task_name": "dbl"}
    assert type(result.state) is Retrying


def test_flow_runner_initialize_run_builds_run_and_task_contexts(fake_clock: FakeClock) -> None:
    start = fake_clock.now() - timedelta(days=1)
    x = Parameter("x")
    t = Double(name="dbl")
    flow = Flow("init", tasks=[x, t])
    result = FlowRunner(flow).initialize_run(
        state=Scheduled(start_time=start),
        task_states={},
        context={"parameters": {"x": 1, "y": 2}, "mine": True},
        task_contexts={t: {"extra": 1}},
        parameters={"x": 10},
    )
    assert isinstance(result, FlowRunnerInitializeResult)
    assert type(result.state) is Scheduled
    ctx = result.context
    assert ctx["parameters"] == {"x": 10, "y": 2}
    assert ctx["flow_name"] == "init" and ctx["mine"] is True
    assert ctx["scheduled_start_time"] == start
    assert ctx["today"] == start.strftime("%Y-%m-%d")
    assert result.task_contexts[t] == {
        "extra": 1,
        "task_id": t.id,
        "task_name": "dbl",
        "task_slug": flow.slugs()[t],
    }
    assert result.task_contexts[x]["task_name"] == "x"


def test_a_flow_runner_step_override_is_used() -> None:
    class Early(FlowRunner):
        def initialize_run(self, *args: Any, **kwargs: Any) -> FlowRunnerInitializeResult:
            raise ENDRUN(Skipped("not today"))

    state = Early(Flow("early", tasks=[Task()])).run()
    assert type(state) is Skipped


# =============================================================================================
# Flow runs that start Scheduled
# =============================================================================================
def test_a_due_scheduled_flow_run_moves_to_running_then_finishes(fake_clock: FakeClock) -> None:
    handler = Recorder()
    start = fake_clock.now() - timedelta(minutes=1)

    @task
    def when() -> Any:
        from lockgate import context

        return context.scheduled_start_time

    flow = Flow("scheduled", tasks=[when], state_handlers=[handler])
    state = FlowRunner(flow).run(state=Scheduled(start_time=start), return_tasks=[when])
    assert handler.moves == [("Scheduled", "Running"), ("Running", "Success")]
    assert state.result[when].result == start


def test_a_future_scheduled_flow_run_is_returned_untouched(fake_clock: FakeClock) -> None:
    handler = Recorder()
    t = Task()
    flow = Flow("later", tasks=[t], state_handlers=[handler])
    given = Scheduled(start_time=fake_clock.now() + DELAY)
    assert FlowRunner(flow).run(state=given) is given
    assert handler.moves == []


# =============================================================================================
# One pass, or waiting for retries
# =============================================================================================
def test_flow_runner_leaves_a_retrying_task_for_the_next_run(fake_clock: FakeClock) -> None:
    attempts: list[int] = []

    @task(max_retries=1, retry_delay=DELAY)
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first try")
        return 21

    after = Double()
    flow = Flow("one-pass", tasks=[flaky])
    flow.add_edge(flaky, after, key="x")
    first = FlowRunner(flow).run(return_tasks=flow.tasks)
    assert type(first) is Running
    assert type(first.result[flaky]) is Retrying
    assert type(first.result[after]) is Pending
    assert fake_clock.sleeps == []  # nothing waited

    fake_clock.advance(DELAY)
    second = FlowRunner(flow).run(task_states=first.result, return_tasks=[after])
    assert type(second) is Success
    assert second.result[after].result == 42


def test_wait_for_retries_reruns_the_task_in_the_same_run(fake_clock: FakeClock) -> None:
    attempts: list[int] = []

    @task(max_retries=1, retry_delay=DELAY)
    def flaky() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise ValueError("first try")
        return 21

    after = Double()
    flow = Flow("waits", tasks=[flaky])
    flow.add_edge(flaky, after, key="x")
    state = FlowRunner(flow).run(return_tasks=[after], wait_for_retries=True)
    assert type(state) is Success
    assert state.result[after].result == 42
    assert fake_clock.sleeps == [DELAY.total_seconds()]
    assert type(flow.run().result[after]) is Success  # flow.run() waits too
