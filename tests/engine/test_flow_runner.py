"""FlowRunner.run and flow.run: flow states, task_states, start_tasks, return_tasks,
parameters, handlers, lifecycle hooks, error containment and Paused tasks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from lockgate import Flow, Parameter, Task, context, task, triggers
from lockgate.core import Edge
from lockgate.engine import signals
from lockgate.engine.executors.local import LocalExecutor
from lockgate.engine.flow_runner import FlowRunner
from lockgate.engine.hooks import RunHooks
from lockgate.engine.state import (
    Failed,
    Finished,
    Mapped,
    Paused,
    Pending,
    Retrying,
    Running,
    Scheduled,
    Skipped,
    State,
    Success,
    TriggerFailed,
)
from lockgate.engine.task_runner import TaskRunner
from lockgate.testing import FakeClock, RecordingExecutor
from lockgate.utilities.debug import raise_on_exception

DELAY = timedelta(seconds=30)


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    with FakeClock() as c:
        yield c


class Counted(Task):
    """Returns ``value`` (or raises it if it is an exception), counting its runs."""

    def __init__(self, value: Any = None, **kwargs: Any) -> None:
        self.value = value
        self.calls = 0
        super().__init__(**kwargs)

    def run(self) -> Any:
        self.calls += 1
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value


class Add(Task):
    def __init__(self, **kwargs: Any) -> None:
        self.calls = 0
        super().__init__(**kwargs)

    def run(self, x: int, y: int = 0) -> int:
        self.calls += 1
        return x + y


def chain(*tasks: Task, name: str = "chain") -> Flow:
    """A flow where each task feeds the next as ``x`` (the first must take no input)."""
    flow = Flow(name)
    flow.add_task(tasks[0])
    for up, down in zip(tasks, tasks[1:]):
        flow.add_edge(up, down, key="x")
    return flow


def names(executor: RecordingExecutor) -> list[str]:
    return [name for name, _ in executor.submitted]


class RecordingHooks(RunHooks):
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.started_context: dict[str, Any] | None = None

    def flow_run_started(self, flow: Flow, state: State, ctx: dict[str, Any]) -> None:
        self.started_context = dict(ctx)
        self.calls.append(("started", flow, type(state)))

    def task_state_changed(self, task: Task, old: State, new: State) -> None:
        self.calls.append(("changed", task.name, context.get("map_index"), old, new))

    def flow_run_finished(self, flow: Flow, state: State) -> None:
        self.calls.append(("finished", flow, type(state)))

    def transitions(self) -> list[tuple[str, Any, type, type]]:
        return [
            (name, index, type(old), type(new))
            for kind, name, index, old, new in (c for c in self.calls if c[0] == "changed")
        ]


# =============================================================================================
# Flow state rules
# =============================================================================================
def test_all_reference_tasks_succeeded() -> None:
    a, b = Counted(1), Add()
    state = chain(a, b).run()
    assert type(state) is Success
    assert state.message == "All reference tasks succeeded."
    assert state.result[b].result == 1


def test_a_failed_reference_task_fails_the_flow() -> None:
    a, b = Counted(ValueError("x")), Add()
    state = chain(a, b).run()
    assert type(state) is Failed
    assert state.message == "Some reference tasks failed."
    assert type(state.result[a]) is Failed
    assert type(state.result[b]) is TriggerFailed


def test_an_unfinished_reference_task_leaves_the_flow_running() -> None:
    a = Counted(1, trigger=triggers.manual_only)
    state = Flow("f", tasks=[a, Counted(2)]).run()
    assert type(state) is Running
    assert state.message == "Flow run in progress."
    assert type(state.result[a]) is Paused


def test_unfinished_beats_failed() -> None:
    paused = Counted(1, trigger=triggers.manual_only)
    failed = Counted(ValueError("x"))
    state = Flow("f", tasks=[paused, failed]).run()
    assert type(state) is Running


def test_no_reference_task_failed_but_not_all_succeeded() -> None:
    a = Counted(1)
    state = Flow("f", tasks=[a]).run(task_states={a: Finished("done somehow")})
    assert type(state) is Success
    assert state.message == "No reference tasks failed."


def test_skipped_reference_tasks_count_as_success() -> None:
    a = Counted(signals.SKIP("skip me"))
    state = Flow("f", tasks=[a]).run()
    assert type(state.result[a]) is Skipped
    assert type(state) is Success


def test_custom_reference_tasks_decide() -> None:
    a, b = Counted(1), Add()
    flow = chain(a, b)
    flow.add_edge(a, c := Counted(ValueError("terminal fails")))
    assert type(flow.run()) is Failed
    flow.set_reference_tasks([b])
    state = flow.run()
    assert type(state) is Success
    assert type(state.result[c]) is Failed


def test_reference_tasks_given_to_the_flow() -> None:
    ok, bad = Counted(1), Counted(ValueError("x"))
    flow = Flow("f", tasks=[ok, bad], reference_tasks=[ok])
    assert type(flow.run()) is Success


def test_a_non_terminal_reference_task_failing_fails_the_flow() -> None:
    a = Counted(ValueError("x"))
    b = Counted(2, trigger=triggers.always_run)
    flow = Flow("f")
    flow.add_edge(a, b)
    assert type(flow.run()) is Success  # default: terminal b
    flow.set_reference_tasks([a, b])
    assert type(flow.run()) is Failed


@task
def numbers(n: int) -> list[int]:
    return list(range(n))


@task
def fail_on_two(x: int) -> int:
    if x == 2:
        raise ValueError("two")
    return x


@pytest.mark.parametrize(
    ("n", "expected", "message"),
    [
        (2, Success, "All reference tasks succeeded."),
        (4, Failed, "Some reference tasks failed."),
        (0, Success, "All reference tasks succeeded."),
    ],
)
def test_mapped_reference_task_counts_by_its_children(n: int, expected: type, message: str) -> None:
    with Flow("mapped") as flow:
        mapped = fail_on_two.map(numbers(n))
    state = flow.run()
    assert isinstance(state.result[mapped], Mapped)
    assert len(state.result[mapped].map_states) == n
    assert type(state) is expected
    assert state.message == message


def test_mapped_reference_task_with_a_paused_child_leaves_the_flow_running() -> None:
    @task
    def pause_on_one(x: int) -> int:
        if x == 1:
            raise signals.PAUSE("one needs approval")
        return x

    with Flow("mapped") as flow:
        mapped = pause_on_one.map(numbers(3))
    state = flow.run()
    assert [type(s) for s in state.result[mapped].map_states] == [Success, Paused, Success]
    assert type(state) is Running


def test_determine_final_state_directly() -> None:
    runner = FlowRunner(Flow("f"))
    assert type(runner.determine_final_state([Success(), Skipped()])) is Success
    assert type(runner.determine_final_state([Success(), Failed()])) is Failed
    assert type(runner.determine_final_state([Failed(), Pending()])) is Running
    mapped = Mapped(map_states=[Success(), Mapped(map_states=[Retrying()])])
    assert type(runner.determine_final_state([mapped])) is Running
    assert type(runner.determine_final_state([])) is Success


# =============================================================================================
# Flow states returned unchanged
# =============================================================================================
@pytest.mark.parametrize(
    "given",
    [Success("done"), Failed("broke"), Skipped("skipped"), TriggerFailed("no"), Finished()],
    ids=lambda s: type(s).__name__,
)
def test_a_finished_flow_state_is_returned_unchanged(given: State) -> None:
    a = Counted(1)
    hooks = RecordingHooks()
    flow = Flow("f", tasks=[a])
    assert FlowRunner(flow).run(state=given) is given
    # Flow.run answers on a copy whose result maps every task to "Task not run."
    ran = flow.run(state=given, hooks=[hooks])
    assert type(ran) is type(given) and ran.message == given.message
    assert ran.result == {a: Pending("Task not run.")}
    assert given.result == {a: Pending("Task not run.")}  # flow.run lists every task
    assert a.calls == 0
    assert hooks.calls == []


def test_a_future_scheduled_flow_state_is_returned_unchanged(fake_clock: FakeClock) -> None:
    a = Counted(1)
    given = Scheduled(start_time=fake_clock.now() + timedelta(hours=1))
    assert FlowRunner(Flow("f", tasks=[a])).run(state=given) is given
    ran = Flow("f", tasks=[a]).run(state=given)
    assert type(ran) is Scheduled and ran.start_time == given.start_time
    assert a.calls == 0
    assert fake_clock.sleeps == []


def test_a_due_scheduled_flow_state_runs(fake_clock: FakeClock) -> None:
    a = Counted(1)
    given = Scheduled(start_time=fake_clock.now() - timedelta(seconds=1))
    state = Flow("f", tasks=[a]).run(state=given)
    assert type(state) is Success
    assert a.calls == 1


def test_a_running_flow_state_runs() -> None:
    a = Counted(1)
    state = Flow("f", tasks=[a]).run(state=Running("resumed"))
    assert type(state) is Success
    assert a.calls == 1


# =============================================================================================
# task_states
# =============================================================================================
@pytest.mark.parametrize(
    "given",
    [Success(result=5), Skipped(result=5), Failed("old failure", result=5)],
    ids=lambda s: type(s).__name__,
)
def test_tasks_with_finished_states_are_not_rerun(given: State) -> None:
    a, b = Counted(1, name="a"), Add(name="b", trigger=triggers.all_finished)
    b.skip_on_upstream_skip = False
    executor = RecordingExecutor()
    state = chain(a, b).run(task_states={a: given}, executor=executor)
    assert names(executor) == ["b"]
    assert a.calls == 0
    assert state.result[a] is given
    assert state.result[b].result == 5


def test_task_states_pending_are_run() -> None:
    a, b = Counted(1, name="a"), Add(name="b")
    executor = RecordingExecutor()
    state = chain(a, b).run(task_states={a: Pending()}, executor=executor)
    assert names(executor) == ["a", "b"]
    assert state.result[b].result == 1


def test_task_states_cached_is_revalidated(fake_clock: FakeClock) -> None:
    from lockgate.engine.state import Cached

    a = Counted(1, name="a-cached", cache_for=timedelta(minutes=5))
    valid = Cached(result=7, cached_result_expiration=fake_clock.now() + timedelta(minutes=1))
    state = Flow("f-cache-valid", tasks=[a]).run(task_states={a: valid})
    assert a.calls == 0
    assert state.result[a].result == 7
    expired = Cached(result=7, cached_result_expiration=fake_clock.now() - timedelta(minutes=1))
    state = Flow("f-cache-expired", tasks=[a]).run(task_states={a: expired})
    assert a.calls == 1
    assert state.result[a].result == 1


def test_run_counter_with_a_partially_finished_flow() -> None:
    a, b, c = Counted(1), Add(), Add()
    flow = chain(a, b, c)
    first = flow.run()
    assert (a.calls, b.calls, c.calls) == (1, 1, 1)
    again = flow.run(task_states={a: first.result[a], b: first.result[b]})
    assert (a.calls, b.calls, c.calls) == (1, 1, 2)
    assert again.result[c].result == 1


# =============================================================================================
# start_tasks
# =============================================================================================
def build_diamond() -> tuple[Flow, dict[str, Task]]:
    """a -> b -> c, plus an unrelated d, and b -> e."""
    t = {
        "a": Counted(1, name="a"),
        "b": Add(name="b"),
        "c": Add(name="c"),
        "d": Counted(4, name="d"),
        "e": Add(name="e"),
    }
    flow = Flow("diamond")
    flow.add_edge(t["a"], t["b"], key="x")
    flow.add_edge(t["b"], t["c"], key="x")
    flow.add_edge(t["b"], t["e"], key="x")
    flow.add_task(t["d"])
    return flow, t


def test_start_tasks_run_only_those_and_downstream() -> None:
    flow, t = build_diamond()
    executor = RecordingExecutor()
    state = flow.run(
        task_states={t["a"]: Success(result=10)}, start_tasks=[t["b"]], executor=executor
    )
    assert sorted(names(executor)) == ["b", "c", "e"]
    assert state.result[t["c"]].result == 10
    assert type(state.result[t["d"]]) is Pending
    assert t["d"].calls == 0


def test_start_tasks_do_not_check_upstream_state_or_trigger() -> None:
    flow, t = build_diamond()
    failed_upstream = Failed("upstream failed", result=3)
    state = flow.run(task_states={t["a"]: failed_upstream}, start_tasks=[t["b"]])
    # b ran despite its all_successful trigger and its failed upstream ...
    assert type(state.result[t["b"]]) is Success
    assert state.result[t["b"]].result == 3
    # ... and its downstream tasks ran normally on b's success.
    assert state.result[t["c"]].result == 3


def test_start_tasks_ignore_an_unfinished_upstream() -> None:
    flow, t = build_diamond()
    state = flow.run(task_states={t["b"]: Pending(cached_inputs={"x": 5})}, start_tasks=[t["b"]])
    assert t["a"].calls == 0
    assert state.result[t["b"]].result == 5
    assert state.result[t["e"]].result == 5


def test_start_tasks_downstream_still_check_their_triggers() -> None:
    flow, t = build_diamond()
    t["c"].trigger = triggers.all_failed
    state = flow.run(task_states={t["a"]: Success(result=1)}, start_tasks=[t["b"]])
    assert type(state.result[t["c"]]) is TriggerFailed


def test_start_tasks_must_belong_to_the_flow() -> None:
    flow, _ = build_diamond()
    with pytest.raises(ValueError, match="start_tasks"):
        flow.run(start_tasks=[Counted(1)])


# =============================================================================================
# return_tasks, parameters, task_runner_state_handlers
# =============================================================================================
def test_flow_runner_return_tasks_decide_result_keys() -> None:
    flow, t = build_diamond()
    runner = FlowRunner(flow)
    assert runner.run().result == {}
    state = runner.run(return_tasks=[t["c"], t["a"]])
    assert set(state.result) == {t["c"], t["a"]}
    assert state.result[t["c"]].result == 1


def test_flow_run_returns_every_task() -> None:
    flow, t = build_diamond()
    state = flow.run()
    assert set(state.result) == set(t.values())


def test_flow_run_return_tasks_can_be_narrowed() -> None:
    flow, t = build_diamond()
    state = flow.run(return_tasks=[t["e"]])
    assert set(state.result) == {t["e"]}


def test_return_tasks_must_belong_to_the_flow() -> None:
    flow, _ = build_diamond()
    with pytest.raises(ValueError, match="return_tasks"):
        FlowRunner(flow).run(return_tasks=[Counted(1)])


def test_parameters_reach_tasks() -> None:
    with Flow("params") as flow:
        x = Parameter("x")
        y = Parameter("y", default=100)
        total = Add()(x=x, y=y)
    state = flow.run(parameters={"x": 1})
    assert state.result[total].result == 101
    state = flow.run(parameters={"x": 1, "y": 2})
    assert state.result[total].result == 3


def test_parameters_in_context() -> None:
    seen: dict[str, Any] = {}

    @task
    def read() -> None:
        seen.update(context.parameters)

    with Flow("params-ctx") as flow:
        read()
    flow.add_task(Parameter("p"))
    flow.run(parameters={"p": "v"})
    assert seen == {"p": "v"}


def test_flow_run_refuses_unknown_and_missing_parameters() -> None:
    with Flow("params") as flow:
        Add()(x=Parameter("x"))
    with pytest.raises(ValueError, match="no parameter named 'nope'"):
        flow.run(parameters={"x": 1, "nope": 2})
    with pytest.raises(ValueError, match="'x'"):
        flow.run()


def test_flow_runner_with_missing_parameter_fails_the_task() -> None:
    with Flow("params") as flow:
        x = Parameter("x")
        Add()(x=x)
    state = FlowRunner(flow).run(return_tasks=[x])
    assert type(state) is Failed
    assert "x" in (state.result[x].message or "")


def test_task_runner_state_handlers_see_every_task_transition() -> None:
    seen: list[tuple[str, type, type]] = []

    def handler(runner: TaskRunner, old: State, new: State) -> None:
        assert isinstance(runner, TaskRunner)
        seen.append((runner.task.name, type(old), type(new)))

    a, b = Counted(1, name="a"), Add(name="b")
    FlowRunner(chain(a, b)).run(task_runner_state_handlers=[handler])
    assert seen == [
        ("a", Pending, Running),
        ("a", Running, Success),
        ("b", Pending, Running),
        ("b", Running, Success),
    ]


def test_task_runner_state_handlers_through_flow_run() -> None:
    seen: list[str] = []
    a = Counted(1, name="a")
    Flow("f", tasks=[a]).run(
        task_runner_state_handlers=[lambda r, old, new: seen.append(type(new).__name__)]
    )
    assert seen == ["Running", "Success"]


def test_task_runner_state_handler_replacement_is_the_task_state() -> None:
    a = Counted(1, name="a")

    def handler(runner: TaskRunner, old: State, new: State) -> State | None:
        return Skipped("replaced") if type(new) is Success else None

    state = Flow("f", tasks=[a]).run(task_runner_state_handlers=[handler])
    assert type(state.result[a]) is Skipped


def test_custom_task_runner_cls() -> None:
    used: list[str] = []

    class MyRunner(TaskRunner):
        def set_task_to_running(self, state: State, inputs: Any = None) -> State:
            used.append(self.task.name)
            return super().set_task_to_running(state, inputs)

    a = Counted(1, name="a")
    state = FlowRunner(Flow("f", tasks=[a]), task_runner_cls=MyRunner).run(return_tasks=[a])
    assert used == ["a"]
    assert type(state.result[a]) is Success


def test_executor_and_context_and_task_contexts() -> None:
    seen: dict[str, Any] = {}

    class Ctx(Task):
        def run(self) -> None:
            seen[self.name] = (context.get("run_label"), context.get("extra"))

    a, b = Ctx(name="a"), Ctx(name="b")
    flow = Flow("ctx", tasks=[a, b])
    executor = RecordingExecutor()
    flow.run(executor=executor, context={"run_label": "nightly"}, task_contexts={b: {"extra": 1}})
    assert seen == {"a": ("nightly", None), "b": ("nightly", 1)}
    assert executor.starts == 1
    assert sorted(names(executor)) == ["a", "b"]


# =============================================================================================
# Flow state handlers and on_failure
# =============================================================================================
def test_flow_state_handlers_then_runner_handlers() -> None:
    calls: list[tuple[str, type, type]] = []
    flow = Flow(
        "f",
        tasks=[Counted(1)],
        state_handlers=[lambda f, old, new: calls.append(("flow", type(old), type(new)))],
    )
    runner = FlowRunner(
        flow, state_handlers=[lambda r, old, new: calls.append(("runner", type(old), type(new)))]
    )
    assert type(runner.run()) is Success
    assert calls == [
        ("flow", Pending, Running),
        ("runner", Pending, Running),
        ("flow", Running, Success),
        ("runner", Running, Success),
    ]


def test_flow_state_handler_replacement() -> None:
    replacement = Failed("handler says no")
    flow = Flow(
        "f",
        tasks=[Counted(1)],
        state_handlers=[lambda f, old, new: replacement if type(new) is Success else None],
    )
    ran = flow.run()
    assert type(ran) is Failed and ran.message == "handler says no"


def test_flow_state_handler_signal_sets_the_flow_state() -> None:
    def handler(flow: Flow, old: State, new: State) -> None:
        if type(new) is Success:
            raise signals.FAIL("vetoed")

    state = Flow("f", tasks=[Counted(1)], state_handlers=[handler]).run()
    assert type(state) is Failed
    assert state.message == "vetoed"


def test_flow_state_handler_raising_gives_failed_and_does_not_escape() -> None:
    def handler(flow: Flow, old: State, new: State) -> None:
        raise RuntimeError("flow handler broke")

    state = Flow("f", tasks=[Counted(1)], state_handlers=[handler]).run()
    assert type(state) is Failed
    assert (state.message or "").startswith("Exception raised while calling state handlers")


def test_flow_state_handler_raising_on_running_stops_the_flow() -> None:
    a = Counted(1)

    def handler(flow: Flow, old: State, new: State) -> None:
        if isinstance(new, Running):
            raise RuntimeError("may not start")

    state = Flow("f", tasks=[a], state_handlers=[handler]).run()
    assert type(state) is Failed
    assert a.calls == 0


def test_flow_on_failure_called_when_the_flow_fails() -> None:
    failures: list[tuple[Flow, State]] = []
    flow = Flow(
        "f",
        tasks=[Counted(ValueError("x"))],
        on_failure=lambda f, s: failures.append((f, s)),
    )
    state = flow.run()
    assert failures == [(flow, state)]


def test_flow_on_failure_not_called_on_success() -> None:
    failures: list[State] = []
    Flow("f", tasks=[Counted(1)], on_failure=lambda f, s: failures.append(s)).run()
    assert failures == []


def test_flow_on_failure_raising_does_not_escape() -> None:
    def on_failure(flow: Flow, state: State) -> None:
        raise RuntimeError("on_failure broke")

    state = Flow("f", tasks=[Counted(ValueError("x"))], on_failure=on_failure).run()
    assert type(state) is Failed


# =============================================================================================
# Lifecycle hooks
# =============================================================================================
def test_hooks_sequence_for_a_simple_run() -> None:
    a, b = Counted(1, name="a"), Add(name="b")
    flow = chain(a, b)
    hooks = RecordingHooks()
    state = flow.run(hooks=[hooks])
    assert hooks.calls[0] == ("started", flow, Running)
    assert hooks.calls[-1] == ("finished", flow, Success)
    assert hooks.transitions() == [
        ("a", None, Pending, Running),
        ("a", None, Running, Success),
        ("b", None, Pending, Running),
        ("b", None, Running, Success),
    ]
    # the last change reported for each task is its final state, by identity
    last = {c[1]: c[4] for c in hooks.calls if c[0] == "changed"}
    assert last == {"a": state.result[a], "b": state.result[b]}


def test_hooks_started_context_is_the_run_context() -> None:
    hooks = RecordingHooks()
    Flow("ctx-flow", tasks=[Counted(1)]).run(parameters={}, hooks=[hooks])
    assert hooks.started_context is not None
    assert hooks.started_context["flow_name"] == "ctx-flow"
    assert "scheduled_start_time" in hooks.started_context


def test_hooks_see_retries_skips_and_trigger_failures(fake_clock: FakeClock) -> None:
    attempts = {"n": 0}

    @task(max_retries=1, retry_delay=DELAY)
    def flaky() -> int:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise ValueError("first")
        return 1

    @task
    def skipper() -> None:
        raise signals.SKIP("nothing to do")

    @task
    def after_skip() -> int:
        return 0

    @task
    def boom() -> None:
        raise ValueError("boom")

    @task
    def after_boom() -> int:
        return 0

    with Flow("hooks") as flow:
        flaky()
        after_skip(upstream_tasks=[skipper()])
        after_boom(upstream_tasks=[boom()])
    hooks = RecordingHooks()
    flow.run(hooks=[hooks])
    by_task: dict[str, list[tuple[type, type]]] = {}
    for name, _, old, new in hooks.transitions():
        by_task.setdefault(name, []).append((old, new))
    assert by_task == {
        "flaky": [
            (Pending, Running),
            (Running, Failed),
            (Failed, Retrying),
            (Retrying, Running),
            (Running, Success),
        ],
        "skipper": [(Pending, Running), (Running, Skipped)],
        "after_skip": [(Pending, Skipped)],
        "boom": [(Pending, Running), (Running, Failed)],
        "after_boom": [(Pending, TriggerFailed)],
    }
    assert fake_clock.sleeps == [DELAY.total_seconds()]


def test_hooks_chain_each_transition_from_the_previous_one(fake_clock: FakeClock) -> None:
    attempts = {"n": 0}

    @task(max_retries=2, retry_delay=DELAY)
    def flaky() -> int:
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise ValueError("again")
        return 1

    with Flow("chain-hooks") as flow:
        flaky()
    hooks = RecordingHooks()
    state = flow.run(hooks=[hooks])
    changes = [c for c in hooks.calls if c[0] == "changed"]
    for previous, current in zip(changes, changes[1:]):
        assert current[3] is previous[4]
    assert changes[-1][4] is next(iter(state.result.values()))


def test_hooks_for_mapped_children_carry_map_index() -> None:
    with Flow("mapped-hooks") as flow:
        fail_on_two.map(numbers(3))
    hooks = RecordingHooks()
    flow.run(hooks=[hooks])
    mapped = [(i, old, new) for name, i, old, new in hooks.transitions() if name == "fail_on_two"]
    assert mapped == [
        (0, Pending, Running),
        (0, Running, Success),
        (1, Pending, Running),
        (1, Running, Success),
        (2, Pending, Running),
        (2, Running, Failed),
        (None, Pending, Mapped),
    ]


def test_hooks_with_a_paused_task() -> None:
    p = Counted(1, name="p", trigger=triggers.manual_only)
    after = Add(name="after")
    flow = chain(p, after)
    hooks = RecordingHooks()
    flow.run(hooks=[hooks])
    assert hooks.transitions() == [("p", None, Pending, Paused)]
    assert hooks.calls[-1] == ("finished", flow, Running)


def test_several_hooks_are_all_called() -> None:
    first, second = RecordingHooks(), RecordingHooks()
    Flow("f", tasks=[Counted(1, name="a")]).run(hooks=[first, second])
    assert [c[0] for c in first.calls] == [c[0] for c in second.calls]
    assert len(first.calls) == 4


def test_hooks_see_the_state_a_failing_task_handler_produces() -> None:
    def handler(task: Task, old: State, new: State) -> None:
        raise RuntimeError("handler broke")

    a = Counted(1, name="a", state_handlers=[handler])
    hooks = RecordingHooks()
    state = Flow("f", tasks=[a]).run(hooks=[hooks])
    changes = [c for c in hooks.calls if c[0] == "changed"]
    assert changes, "no task_state_changed call at all"
    assert changes[-1][4] is state.result[a]


def test_hooks_see_the_state_a_handler_signal_produces() -> None:
    def handler(task: Task, old: State, new: State) -> None:
        if type(new) is Success:
            raise signals.SKIP("handler skipped it")

    a = Counted(1, name="a", state_handlers=[handler])
    hooks = RecordingHooks()
    state = Flow("f", tasks=[a]).run(hooks=[hooks])
    assert type(state.result[a]) is Skipped
    assert hooks.calls[-2][4] is state.result[a]


# =============================================================================================
# Errors never escape, tasks never left unfinished
# =============================================================================================
class BrokenRunner(TaskRunner):
    """Runs the task's code, then the engine itself fails in the next step."""

    def cache_result(self, state: State, inputs: Any) -> State:
        raise RuntimeError("engine bug")


def test_an_engine_error_inside_a_task_run_leaves_the_task_failed() -> None:
    a, b = Counted(1, name="a"), Add(name="b")
    hooks = RecordingHooks()
    state = FlowRunner(chain(a, b), task_runner_cls=BrokenRunner).run(
        return_tasks=[a, b], hooks=[hooks]
    )
    assert type(state) is Failed
    assert type(state.result[a]) is Failed
    assert "engine bug" in (state.result[a].message or "")
    assert type(state.result[b]) is TriggerFailed
    assert a.calls == 1
    last = {c[1]: c[4] for c in hooks.calls if c[0] == "changed"}
    assert type(last["a"]) is Failed


class ExplodingExecutor(LocalExecutor):
    def __init__(self, after: int) -> None:
        self.after = after
        self.count = 0

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        if self.count > self.after:
            raise RuntimeError("executor broke")
        return super().submit(fn, *args, **kwargs)


def test_an_executor_error_does_not_escape_flow_run() -> None:
    a, b = Counted(1, name="a"), Add(name="b")
    hooks = RecordingHooks()
    state = chain(a, b).run(executor=ExplodingExecutor(after=1), hooks=[hooks])
    assert type(state) is Failed
    assert (state.message or "").startswith("Unexpected error while running flow: ")
    assert isinstance(state.result, (RuntimeError, dict))
    assert hooks.calls[-1][0] == "finished"


def test_an_engine_error_escapes_with_raise_on_exception() -> None:
    with raise_on_exception(), pytest.raises(RuntimeError, match="executor broke"):
        Flow("f", tasks=[Counted(1)]).run(executor=ExplodingExecutor(after=0))


def test_a_user_error_escapes_flow_run_with_raise_on_exception() -> None:
    with raise_on_exception(), pytest.raises(ValueError, match="user bug"):
        Flow("f", tasks=[Counted(ValueError("user bug"))]).run()


def test_signals_do_not_escape_with_raise_on_exception() -> None:
    a = Counted(signals.SKIP("skip"))
    with raise_on_exception():
        state = Flow("f", tasks=[a]).run()
    assert type(state.result[a]) is Skipped


def test_a_failing_task_handler_leaves_every_task_finished() -> None:
    def handler(task: Task, old: State, new: State) -> None:
        raise RuntimeError("handler broke")

    a = Counted(1, name="a", state_handlers=[handler])
    b = Add(name="b")
    state = chain(a, b).run()
    assert type(state) is Failed
    assert all(isinstance(s, Finished) for s in state.result.values())
    assert type(state.result[a]) is Failed
    assert type(state.result[b]) is TriggerFailed


def test_a_failing_runner_handler_does_not_escape() -> None:
    def handler(runner: TaskRunner, old: State, new: State) -> None:
        raise RuntimeError("runner handler broke")

    state = Flow("f", tasks=[Counted(1)]).run(task_runner_state_handlers=[handler])
    assert type(state) is Failed
    assert all(isinstance(s, Finished) for s in state.result.values())


def test_a_failing_hook_does_not_escape() -> None:
    class BadHooks(RunHooks):
        def task_state_changed(self, task: Task, old: State, new: State) -> None:
            raise RuntimeError("hook broke")

    state = Flow("f", tasks=[Counted(1)]).run(hooks=[BadHooks()])
    assert isinstance(state, (Success, Failed))
    assert all(isinstance(s, Finished) for s in state.result.values())


def test_a_failing_task_on_failure_keeps_task_states() -> None:
    def on_failure(task: Task, state: State) -> None:
        raise RuntimeError("on_failure broke")

    a = Counted(ValueError("x"), name="a", on_failure=on_failure)
    b = Add(name="b")
    state = chain(a, b).run()
    assert type(state) is Failed
    assert isinstance(state.result, dict)
    assert type(state.result[a]) is Failed
    assert type(state.result[b]) is TriggerFailed


# =============================================================================================
# Paused tasks
# =============================================================================================
def test_downstream_of_a_paused_task_stays_pending_and_never_runs(fake_clock: FakeClock) -> None:
    p = Counted(1, name="p", trigger=triggers.manual_only)
    b, c = Add(name="b"), Add(name="c")
    other = Counted(2, name="other")
    flow = chain(p, b, c)
    flow.add_task(other)
    executor = RecordingExecutor()
    state = flow.run(executor=executor)
    assert type(state) is Running
    assert type(state.result[p]) is Paused
    assert type(state.result[b]) is Pending
    assert type(state.result[c]) is Pending
    assert type(state.result[other]) is Success
    assert sorted(names(executor)) == ["other"]  # a paused task's code never ran
    assert (p.calls, b.calls, c.calls) == (0, 0, 0)
    assert fake_clock.sleeps == []


def test_pause_raised_in_run_returns_promptly(fake_clock: FakeClock) -> None:
    @task
    def wants_approval() -> int:
        raise signals.PAUSE("approve me")

    @task
    def after(x: int) -> int:
        return x

    with Flow("pause-run") as flow:
        w = wants_approval()
        a = after(w)
    state = flow.run()
    assert type(state) is Running
    assert type(state.result[w]) is Paused
    assert type(state.result[a]) is Pending
    assert fake_clock.sleeps == []


def test_paused_task_next_to_a_retrying_task(fake_clock: FakeClock) -> None:
    attempts = {"n": 0}

    @task(max_retries=1, retry_delay=DELAY)
    def flaky() -> int:
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise ValueError("first")
        return 1

    with Flow("pause-retry") as flow:
        f = flaky()
        p = task(lambda: 1, name="p", trigger=triggers.manual_only)()
    state = flow.run()
    assert type(state.result[f]) is Success
    assert type(state.result[p]) is Paused
    assert fake_clock.sleeps == [DELAY.total_seconds()]  # only the retry waited


def test_edges_are_keyed_by_edge_objects_in_upstream_states() -> None:
    seen: list[Any] = []

    def trigger(upstream_states: Any) -> bool:
        seen.append(dict(upstream_states.by_edge))
        return True

    a = Counted(1, name="a")
    b = Add(name="b", trigger=trigger)
    flow = chain(a, b)
    flow.run()
    (by_edge,) = seen
    (e,) = by_edge
    assert isinstance(e, Edge)
    assert e.upstream_task is a and e.downstream_task is b and e.key == "x"
