"""lockgate.context: the mapping itself, `with` blocks, threads, and what tasks see during a run."""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import lockgate
from lockgate import Flow, Parameter, context, task
from lockgate.engine.state import Scheduled
from lockgate.testing import FakeClock
from lockgate.utilities.context import Context

# -- the mapping ---------------------------------------------------------------------------------


class TestMapping:
    def test_is_a_mapping(self) -> None:
        assert isinstance(context, Mapping)
        assert isinstance(context, Context)
        assert lockgate.context is context

    def test_empty_outside_blocks(self) -> None:
        assert dict(context) == {}
        assert len(context) == 0
        assert "a" not in context
        assert context.get("a") is None
        assert context.get("a", 5) == 5

    def test_values_by_key_and_attribute(self) -> None:
        with context(a=1, b="two"):
            assert context["a"] == 1
            assert context.a == 1
            assert context.b == "two"
            assert dict(context) == {"a": 1, "b": "two"}
            assert sorted(context) == ["a", "b"]
            assert len(context) == 2
            assert "a" in context
            assert context.to_dict() == {"a": 1, "b": "two"}
            assert dict(context.items()) == {"a": 1, "b": "two"}

    def test_block_accepts_mappings_and_keywords(self) -> None:
        with context({"a": 1, "b": 1}, {"b": 2}, c=3):
            assert dict(context) == {"a": 1, "b": 2, "c": 3}

    def test_nesting_and_restore(self) -> None:
        with context(a=1, b=1):
            with context(a=2, c=3):
                assert dict(context) == {"a": 2, "b": 1, "c": 3}
                with context(a=4):
                    assert context.a == 4
                assert context.a == 2
            assert dict(context) == {"a": 1, "b": 1}
        assert dict(context) == {}

    def test_restore_after_an_exception(self) -> None:
        with pytest.raises(RuntimeError), context(a=1):
            raise RuntimeError("x")
        assert "a" not in context

    def test_to_dict_is_a_copy(self) -> None:
        with context(a=1):
            snapshot = context.to_dict()
            snapshot["a"] = 2
            assert context.a == 1

    def test_assignments_last_until_the_enclosing_block_ends(self) -> None:
        with context(a=1):
            context.a = 2
            context["b"] = 3
            context.update(c=4)
            assert context.setdefault("d", 5) == 5
            assert context.setdefault("d", 6) == 5
            del context.b
            assert dict(context) == {"a": 2, "c": 4, "d": 5}
            with context(e=7):
                context.a = 8
            assert context.a == 2  # the inner block's assignment ended with it
            assert "e" not in context
        assert dict(context) == {}

    def test_assignment_does_not_reach_a_thread_already_holding_the_context(self) -> None:
        with context(a=1):
            ctx = contextvars.copy_context()
            context.a = 2
            assert ctx.run(lambda: context.a) == 1

    def test_clear_inside_a_block(self) -> None:
        with context(a=1, b=2):
            context.clear()
            assert len(context) == 0
        with context(a=1):
            assert dict(context) == {"a": 1}

    def test_a_new_context_starts_from_the_context_settings(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from lockgate.utilities import context as context_module
        from lockgate.utilities.collections import DotDict

        settings = DotDict(context=DotDict(secrets=DotDict(TOKEN="t0k"), region="eu"))
        monkeypatch.setattr(context_module, "config", settings)
        fresh = Context(extra=1)
        assert fresh.region == "eu"
        assert fresh.secrets.TOKEN == "t0k"
        assert fresh.extra == 1
        assert "region" not in context  # the shared instance is untouched

    def test_pickles_as_the_same_context(self) -> None:
        import pickle

        assert pickle.loads(pickle.dumps(context)) is context
        other = Context(a=1)
        assert pickle.loads(pickle.dumps(other)).to_dict() == {"a": 1}

    def test_missing_attribute_says_how_to_get_none(self) -> None:
        with pytest.raises(AttributeError) as info:
            context.flow_nmae  # noqa: B018
        message = str(info.value)
        assert "'flow_nmae'" in message
        assert "lockgate.context.get('flow_nmae')" in message

    def test_missing_key(self) -> None:
        with pytest.raises(KeyError):
            context["missing"]

    def test_dunder_lookups_are_not_values(self) -> None:
        with context(__weird__=1):
            assert not hasattr(context, "__weird__")

    def test_default_logger_outside_a_run(self) -> None:
        logger = context.logger
        assert isinstance(logger, logging.Logger)
        assert logger.name == "lockgate" or logger.name.startswith("lockgate.")


# -- threads ---------------------------------------------------------------------------------------
class TestThreads:
    def test_follows_into_a_thread_with_copy_context(self) -> None:
        seen: list[Any] = []
        with context(a=1, who="main"):
            ctx = contextvars.copy_context()
        thread = threading.Thread(target=ctx.run, args=(lambda: seen.append(dict(context)),))
        thread.start()
        thread.join()
        assert seen == [{"a": 1, "who": "main"}]
        assert dict(context) == {}

    def test_blocks_inside_the_thread_do_not_leak_out(self) -> None:
        seen: list[Any] = []

        def worker() -> None:
            with context(a=2):
                seen.append(context.a)
            seen.append(context.a)

        with context(a=1):
            ctx = contextvars.copy_context()
            thread = threading.Thread(target=ctx.run, args=(worker,))
            thread.start()
            thread.join()
            assert context.a == 1
        assert seen == [2, 1]


# -- during a flow run ---------------------------------------------------------------------------
KEYS = (
    "flow_name",
    "parameters",
    "scheduled_start_time",
    "date",
    "today",
    "yesterday",
    "tomorrow",
    "today_nodash",
    "yesterday_nodash",
    "tomorrow_nodash",
    "task_name",
    "task_slug",
    "task_full_name",
    "map_index",
    "task_run_count",
    "resume",
    "user",
    "per_task",
)

START = datetime(2024, 3, 1, 23, 30, tzinfo=timezone.utc)  # leap year: yesterday is Feb 29


@task
def snapshot(x: Any = None) -> dict[str, Any]:
    seen = {key: context.get(key) for key in KEYS}
    seen["logger"] = context.logger
    seen["x"] = x
    return seen


@pytest.fixture
def run_snapshots() -> dict[str, Any]:
    """One run of a flow with a plain, a mapped and a parameter-fed snapshot task."""
    with Flow("context-flow") as flow:
        p = Parameter("p", default=1)
        plain = snapshot(p)
        mapped = snapshot.map([10, 20, 30])
        other = snapshot.copy(name="other")()
    with FakeClock(START):
        state = flow.run(
            parameters={"p": 7},
            context={"user": "alice"},
            task_contexts={plain: {"per_task": "only plain"}},
        )
    assert state.is_successful(), state.result
    return {
        "flow": flow,
        "plain": state.result[plain].result,
        "children": state.result[mapped].result,
        "other": state.result[other].result,
        "slugs": flow.slugs(),
        "tasks": {"plain": plain, "mapped": mapped},
    }


class TestDuringARun:
    def test_flow_values(self, run_snapshots: dict[str, Any]) -> None:
        seen = run_snapshots["plain"]
        assert seen["flow_name"] == "context-flow"
        assert seen["parameters"] == {"p": 7}
        assert seen["x"] == 7

    def test_dates_follow_the_clock(self, run_snapshots: dict[str, Any]) -> None:
        seen = run_snapshots["plain"]
        assert seen["scheduled_start_time"] == START
        assert seen["date"] == START
        assert seen["today"] == "2024-03-01"
        assert seen["yesterday"] == "2024-02-29"
        assert seen["tomorrow"] == "2024-03-02"
        assert seen["today_nodash"] == "20240301"
        assert seen["yesterday_nodash"] == "20240229"
        assert seen["tomorrow_nodash"] == "20240302"

    def test_dates_match_scheduled_start_time(self, run_snapshots: dict[str, Any]) -> None:
        seen = run_snapshots["plain"]
        start = seen["scheduled_start_time"]
        assert seen["today"] == start.strftime("%Y-%m-%d")
        assert seen["yesterday"] == (start - timedelta(days=1)).strftime("%Y-%m-%d")
        assert seen["tomorrow"] == (start + timedelta(days=1)).strftime("%Y-%m-%d")
        assert seen["today_nodash"] == seen["today"].replace("-", "")

    def test_task_values(self, run_snapshots: dict[str, Any]) -> None:
        seen = run_snapshots["plain"]
        plain = run_snapshots["tasks"]["plain"]
        assert seen["task_name"] == "snapshot"
        assert seen["task_full_name"] == "snapshot"
        assert seen["task_slug"] == run_snapshots["slugs"][plain]
        assert seen["map_index"] is None
        assert seen["task_run_count"] == 1
        assert seen["resume"] is None

    def test_mapped_children(self, run_snapshots: dict[str, Any]) -> None:
        children = run_snapshots["children"]
        assert [c["x"] for c in children] == [10, 20, 30]
        assert [c["map_index"] for c in children] == [0, 1, 2]
        assert [c["task_full_name"] for c in children] == [
            "snapshot[0]",
            "snapshot[1]",
            "snapshot[2]",
        ]
        assert {c["task_name"] for c in children} == {"snapshot"}

    def test_user_context_and_task_contexts(self, run_snapshots: dict[str, Any]) -> None:
        assert run_snapshots["plain"]["user"] == "alice"
        assert run_snapshots["other"]["user"] == "alice"
        assert all(c["user"] == "alice" for c in run_snapshots["children"])
        assert run_snapshots["plain"]["per_task"] == "only plain"
        assert run_snapshots["other"]["per_task"] is None
        assert all(c["per_task"] is None for c in run_snapshots["children"])

    def test_loggers(self, run_snapshots: dict[str, Any]) -> None:
        plain, other = run_snapshots["plain"]["logger"], run_snapshots["other"]["logger"]
        for logger in (plain, other):
            assert isinstance(logger, logging.Logger)
            assert logger.name.startswith("lockgate.")
        assert plain is not other  # each task gets its own

    def test_run_values_do_not_leak_out(self, run_snapshots: dict[str, Any]) -> None:
        assert dict(context) == {}

    def test_enclosing_block_reaches_tasks(self) -> None:
        with Flow("f") as flow:
            s = snapshot()
        with context(user="from-block"):
            state = flow.run()
        assert state.result[s].result["user"] == "from-block"

    def test_run_context_overrides_enclosing_block(self) -> None:
        with Flow("f") as flow:
            s = snapshot()
        with context(user="outer"):
            state = flow.run(context={"user": "inner"})
            assert context.user == "outer"
        assert state.result[s].result["user"] == "inner"

    def test_scheduled_flow_state_sets_the_dates(self) -> None:
        with Flow("f") as flow:
            s = snapshot()
        scheduled = datetime(2023, 12, 31, 6, 0, tzinfo=timezone.utc)
        with FakeClock(START):
            state = flow.run(state=Scheduled(start_time=scheduled))
        seen = state.result[s].result
        assert seen["scheduled_start_time"] == scheduled
        assert (seen["yesterday"], seen["today"], seen["tomorrow"]) == (
            "2023-12-30",
            "2023-12-31",
            "2024-01-01",
        )

    def test_task_run_count_on_retry(self) -> None:
        counts: list[int] = []

        @task(max_retries=2, retry_delay=timedelta(minutes=5))
        def flaky() -> int:
            counts.append(context.task_run_count)
            if len(counts) == 1:
                raise RuntimeError("first attempt fails")
            return context.task_run_count

        with Flow("f") as flow:
            f = flaky()
        with FakeClock(START) as clock:
            state = flow.run()
        assert state.is_successful()
        assert counts == [1, 2]
        assert state.result[f].result == 2
        assert clock.sleeps == [300.0]

    def test_mapped_child_retry_counts(self) -> None:
        attempts: dict[int, list[int]] = {}

        @task(max_retries=1, retry_delay=timedelta(seconds=1))
        def flaky_child(x: int) -> str:
            attempts.setdefault(context.map_index, []).append(context.task_run_count)
            if x == 2 and context.task_run_count == 1:
                raise RuntimeError("once")
            return context.task_full_name

        with Flow("f") as flow:
            m = flaky_child.map([1, 2])
        with FakeClock(START):
            state = flow.run()
        assert state.result[m].result == ["flaky_child[0]", "flaky_child[1]"]
        assert attempts == {0: [1], 1: [1, 2]}

    def test_resume_is_set_for_a_resumed_start_task(self) -> None:
        @task
        def gate() -> Any:
            if not context.get("resume"):
                raise lockgate.signals.PAUSE("wait")
            return context.resume

        with Flow("f") as flow:
            g = gate()
            after = snapshot(g)
        first = flow.run()
        second = flow.run(task_states=first.result, start_tasks=[g])
        assert second.result[g].result is True
        assert second.result[after].result["resume"] is None  # not inherited downstream
