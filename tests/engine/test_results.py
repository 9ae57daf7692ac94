"""Results (Result, SafeResult, NoResult), result handlers and checkpointing."""

from __future__ import annotations

import json
import os
import pickle
import tempfile
import threading
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from lockgate import Flow, task
from lockgate.engine.result import NoResult, NoResultType, Result, SafeResult
from lockgate.engine.result_handlers import JSONResultHandler, LocalResultHandler, ResultHandler
from lockgate.engine.state import Failed, Success
from lockgate.engine.task_runner import TaskRunner


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


class MemoryHandler(ResultHandler):
    """A handler that keeps values in a dict and counts its writes."""

    def __init__(self) -> None:
        self.store: dict[str, Any] = {}
        self.writes = 0

    def write(self, result: Any) -> str:
        self.writes += 1
        key = f"key-{self.writes}"
        self.store[key] = result
        return key

    def read(self, loc: str) -> Any:
        return self.store[loc]


# -- NoResult -----------------------------------------------------------------------------------


def test_no_result_is_a_falsy_singleton_distinct_from_none() -> None:
    assert NoResultType() is NoResult
    assert not NoResult
    assert NoResult is not None
    assert NoResult != None  # noqa: E711 - the point is that it is not None
    assert NoResult == NoResult
    assert NoResult != SafeResult(None, JSONResultHandler())
    assert repr(NoResult) == "<No result>"
    assert str(NoResult) == "NoResult"
    assert NoResult.value is NoResult
    with pytest.raises(AttributeError, match="no result_handler"):
        NoResult.result_handler  # noqa: B018 - reading it is the point


def test_no_result_survives_pickling_as_the_singleton() -> None:
    assert pickle.loads(pickle.dumps(NoResult)) is NoResult
    assert cloudpickle.loads(cloudpickle.dumps(NoResult)) is NoResult


def test_no_result_is_already_safe_and_its_own_result() -> None:
    assert NoResult.to_result() is NoResult
    assert NoResult.safe_value is NoResult
    NoResult.store_safe_value()  # nothing to store, nothing happens
    assert isinstance(NoResult, SafeResult)


def test_states_default_to_no_result() -> None:
    assert Success().result is NoResult
    assert Success(result=None).result is None


# -- Result / SafeResult ---------------------------------------------------------------------------


def test_result_holds_a_value_and_stores_it_once() -> None:
    handler = MemoryHandler()
    result = Result({"a": 1}, handler)
    assert result.value == {"a": 1}
    assert result.safe_value is NoResult
    assert result.to_result() is result

    result.store_safe_value()
    safe = result.safe_value
    assert isinstance(safe, SafeResult)
    assert safe.value == "key-1"
    assert safe.result_handler is handler
    result.store_safe_value()  # written once only
    assert result.safe_value is safe
    assert handler.writes == 1


def test_result_without_handler_cannot_be_stored() -> None:
    with pytest.raises(ValueError, match="no result_handler"):
        Result(1).store_safe_value()
    # Prefect 0.5.1 code catches an AssertionError here; the same error is one.
    with pytest.raises(AssertionError):
        Result(1).store_safe_value()


def test_safe_result_reads_back_and_is_already_safe() -> None:
    handler = MemoryHandler()
    location = handler.write([1, 2])
    safe = SafeResult(location, handler)
    assert safe.safe_value is safe

    result = safe.to_result()
    assert isinstance(result, Result)
    assert result.value == [1, 2]
    assert result.result_handler is handler
    assert result.safe_value is safe
    assert handler.writes == 1  # reading does not write again


def test_result_equality_and_hashing() -> None:
    handler = JSONResultHandler()
    assert Result(1, handler) == Result(1, JSONResultHandler())
    assert Result(1) != Result(2)
    assert Result(1, handler) != Result(1, LocalResultHandler("/tmp/a"))
    assert Result("x", handler) != SafeResult("x", handler)  # different classes
    stored = Result(1, handler)
    stored.store_safe_value()
    assert stored != Result(1, handler)  # one was written, the other not
    assert SafeResult("loc", handler) == SafeResult("loc", handler)
    # hashing is by identity: a set keeps equal-looking results apart
    assert len({Result(1), Result(1)}) == 2


def test_reprs() -> None:
    assert repr(Result(5)) == "<Result: 5>"
    assert repr(SafeResult("/x", JSONResultHandler())) == "<SafeResult: '/x'>"


def test_state_unwraps_a_result_and_keeps_it_in_private_result() -> None:
    result = Result(5, MemoryHandler())
    state = Success(result=result)
    assert state.result == 5
    assert state._result is result
    plain = Success(result=5)._result  # Prefect's form: a Result wrapping the value
    assert isinstance(plain, Result) and plain.value == 5 and plain.result_handler is None
    assert Success()._result is NoResult


def test_results_pickle() -> None:
    handler = JSONResultHandler()
    result = Result([1, 2], handler)
    result.store_safe_value()
    again = pickle.loads(pickle.dumps(result))
    assert again == result
    assert again.safe_value == result.safe_value


# -- LocalResultHandler ----------------------------------------------------------------------------


def test_local_handler_round_trip(tmp_path: Path) -> None:
    handler = LocalResultHandler(tmp_path)
    value = {"rows": [1, 2, 3], "name": "x", "nested": (1, {"a": None})}
    location = handler.write(value)
    assert isinstance(location, str)
    assert Path(location).parent == tmp_path
    assert Path(location).exists()
    assert handler.read(location) == value


def test_local_handler_writes_a_new_file_each_time(tmp_path: Path) -> None:
    handler = LocalResultHandler(tmp_path)
    first = handler.write(1)
    second = handler.write(1)
    assert first != second
    assert handler.read(first) == handler.read(second) == 1
    assert len(files_in(tmp_path)) == 2


def test_local_handler_uses_cloudpickle_for_local_functions(tmp_path: Path) -> None:
    handler = LocalResultHandler(tmp_path)
    offset = 10
    location = handler.write(lambda x: x + offset)
    assert handler.read(location)(1) == 11


def test_local_handler_creates_its_directory_on_first_write(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "results"
    handler = LocalResultHandler(target)
    assert not target.exists()
    location = handler.write("v")
    assert target.is_dir()
    assert handler.read(location) == "v"


def test_local_handler_without_dir_writes_to_the_temporary_directory() -> None:
    handler = LocalResultHandler()
    assert handler.dir is None  # nothing chosen: it serializes as such
    location = handler.write(3)
    try:
        assert Path(location).parent == Path(tempfile.gettempdir()) / "lockgate-results"
        assert handler.read(location) == 3
    finally:
        os.remove(location)


def test_local_handler_atomic_write_leaves_no_tmp_files(tmp_path: Path) -> None:
    handler = LocalResultHandler(tmp_path)
    for i in range(5):
        handler.write(list(range(i)))
    names = files_in(tmp_path)
    assert len(names) == 5
    assert not [n for n in names if n.endswith(".tmp")]
    assert all(n.startswith("lockgate-") and n.endswith(".pickle") for n in names)


def test_local_handler_never_exposes_a_half_written_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = LocalResultHandler(tmp_path)

    def disk_full(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="disk full"):
        handler.write("value")
    assert not [n for n in files_in(tmp_path) if n.endswith(".pickle")]


def test_local_handler_failed_write_leaves_no_tmp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = LocalResultHandler(tmp_path)

    def disk_full(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        handler.write("value")
    assert files_in(tmp_path) == []


def test_local_handler_refuses_an_unpicklable_value_naming_its_type(tmp_path: Path) -> None:
    handler = LocalResultHandler(tmp_path)
    with pytest.raises(TypeError, match="lock") as info:
        handler.write(threading.Lock())
    assert "LocalResultHandler cannot store a result of type" in str(info.value)
    assert files_in(tmp_path) == []  # nothing written


def test_local_handler_read_of_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        LocalResultHandler(tmp_path).read(str(tmp_path / "gone.pickle"))


def test_handlers_compare_by_settings(tmp_path: Path) -> None:
    assert LocalResultHandler(tmp_path) == LocalResultHandler(tmp_path)
    assert LocalResultHandler(tmp_path) != LocalResultHandler(tmp_path / "other")
    assert JSONResultHandler() == JSONResultHandler()
    assert JSONResultHandler() != LocalResultHandler(tmp_path)


def test_handlers_pickle(tmp_path: Path) -> None:
    handler = LocalResultHandler(tmp_path)
    again = pickle.loads(pickle.dumps(handler))
    assert again == handler
    assert again.read(handler.write(7)) == 7


def test_result_handler_base_is_an_interface() -> None:
    with pytest.raises(TypeError, match="abstract"):
        ResultHandler()  # type: ignore[abstract]

    class WritesOnly(ResultHandler):
        def write(self, result: Any) -> str:
            return "x"

    with pytest.raises(TypeError, match="read"):
        WritesOnly()  # type: ignore[abstract]


def test_handlers_log_under_their_class_name() -> None:
    assert JSONResultHandler().logger.name == "lockgate.JSONResultHandler"


# -- JSONResultHandler --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 2.5, "text", None, True, [1, "a"], {"a": [1, {"b": 2}]}])
def test_json_handler_round_trip(value: Any) -> None:
    handler = JSONResultHandler()
    location = handler.write(value)
    assert isinstance(location, str)
    assert json.loads(location) == value
    assert handler.read(location) == value


def test_json_handler_location_is_the_json_text() -> None:
    assert JSONResultHandler().write({"a": 1}) == '{"a": 1}'
    assert JSONResultHandler().read("[1, 2]") == [1, 2]


def test_json_handler_turns_tuples_into_lists() -> None:
    handler = JSONResultHandler()
    assert handler.read(handler.write((1, 2))) == [1, 2]


def test_json_handler_refuses_a_non_json_value_naming_its_type() -> None:
    class Custom:
        pass

    with pytest.raises(TypeError, match="JSONResultHandler cannot store a result of type Custom"):
        JSONResultHandler().write(Custom())
    with pytest.raises(TypeError, match="type set"):
        JSONResultHandler().write({1, 2})


# -- checkpointing ----------------------------------------------------------------------------------


def test_checkpoint_stores_the_result_through_the_task_handler(tmp_path: Path) -> None:
    handler = LocalResultHandler(tmp_path)

    @task(checkpoint=True, result_handler=handler)
    def produce() -> dict[str, int]:
        return {"a": 1}

    with Flow("checkpoint") as flow:
        p = produce()

    state = flow.run().result[p]
    assert type(state) is Success
    assert state.result == {"a": 1}
    assert isinstance(state._result, Result)
    assert state._result.value == {"a": 1}
    safe = state._result.safe_value
    assert isinstance(safe, SafeResult)
    assert safe.result_handler is handler
    assert os.path.exists(safe.value)
    assert Path(safe.value).parent == tmp_path
    assert handler.read(safe.value) == {"a": 1}
    assert safe.to_result().value == {"a": 1}
    assert len(files_in(tmp_path)) == 1


def test_checkpointed_result_still_reaches_downstream_as_the_plain_value(
    tmp_path: Path,
) -> None:
    @task(checkpoint=True, result_handler=LocalResultHandler(tmp_path))
    def produce() -> list[int]:
        return [1, 2, 3]

    @task
    def total(xs: list[int]) -> int:
        return sum(xs)

    with Flow("downstream") as flow:
        t = total(produce())

    assert flow.run().result[t].result == 6


def test_flow_result_handler_is_used_for_tasks_without_one(tmp_path: Path) -> None:
    flow_dir = tmp_path / "flow"
    task_dir = tmp_path / "task"

    @task(checkpoint=True)
    def uses_flow_handler() -> int:
        return 1

    @task(checkpoint=True, result_handler=LocalResultHandler(task_dir))
    def has_own_handler() -> int:
        return 2

    with Flow("flow-handler", result_handler=LocalResultHandler(flow_dir)) as flow:
        a = uses_flow_handler()
        b = has_own_handler()

    state = flow.run()
    a_state, b_state = state.result[a], state.result[b]
    assert isinstance(a_state._result, Result)
    assert isinstance(b_state._result, Result)
    assert a_state._result.safe_value is not None
    assert b_state._result.safe_value is not None
    assert Path(a_state._result.safe_value.value).parent == flow_dir
    assert Path(b_state._result.safe_value.value).parent == task_dir  # the task's own wins
    assert len(files_in(flow_dir)) == 1
    assert len(files_in(task_dir)) == 1


def test_task_runner_result_handler_is_the_fallback() -> None:
    handler = MemoryHandler()

    @task(checkpoint=True)
    def produce() -> str:
        return "v"

    state = TaskRunner(produce, result_handler=handler).run()
    assert type(state) is Success
    assert handler.store == {"key-1": "v"}
    assert state._result is not None
    assert state._result.safe_value == SafeResult("key-1", handler)


def test_checkpoint_without_any_handler_does_not_fail_the_task() -> None:
    @task(checkpoint=True)
    def produce() -> int:
        return 3

    with Flow("no-handler") as flow:
        p = produce()

    state = flow.run()
    assert type(state.result[p]) is Success
    assert state.result[p].result == 3
    assert isinstance(state, Success)


@pytest.mark.parametrize("checkpoint", [None, False])
def test_no_checkpoint_means_nothing_is_written(checkpoint: Any) -> None:
    handler = MemoryHandler()

    @task(checkpoint=checkpoint, result_handler=handler)
    def produce() -> int:
        return 3

    with Flow("no-checkpoint", result_handler=MemoryHandler()) as flow:
        p = produce()

    state = flow.run()
    assert state.result[p].result == 3
    assert not state.result[p]._result.safe_value  # a plain Result, never stored
    assert handler.writes == 0


def test_failed_and_skipped_states_are_not_checkpointed() -> None:
    from lockgate.engine import signals
    from lockgate.engine.state import Skipped

    handler = MemoryHandler()

    @task(checkpoint=True, result_handler=handler)
    def broken() -> None:
        raise ValueError("no")

    @task(checkpoint=True, result_handler=handler)
    def skipper() -> None:
        raise signals.SKIP("not today")

    assert type(TaskRunner(broken).run()) is Failed
    assert type(TaskRunner(skipper).run()) is Skipped
    assert handler.writes == 0


def test_checkpoint_of_an_unpicklable_value_fails_the_task_with_a_clear_message(
    tmp_path: Path,
) -> None:
    @task(checkpoint=True, result_handler=LocalResultHandler(tmp_path))
    def produce() -> Any:
        return threading.Lock()

    state = TaskRunner(produce).run()
    assert isinstance(state, Failed)
    assert isinstance(state.result, TypeError)
    assert "cannot store a result of type lock" in str(state.result)
    assert files_in(tmp_path) == []


def test_checkpointed_state_pickles_with_its_result(tmp_path: Path) -> None:
    @task(checkpoint=True, result_handler=LocalResultHandler(tmp_path))
    def produce() -> int:
        return 5

    state = TaskRunner(produce).run()
    again = pickle.loads(pickle.dumps(state))
    assert again == state
    assert again.result == 5
    assert again._result is not None
    assert again._result.safe_value is not None
    assert again._result.safe_value.to_result().value == 5
