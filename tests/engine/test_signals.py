"""Signals (exceptions carrying a state) and the engine.result types."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import cloudpickle
import pytest

import lockgate
from lockgate.engine import signals
from lockgate.engine.result import NoResult, NoResultType, Result, SafeResult
from lockgate.engine.state import (
    Failed,
    Paused,
    Retrying,
    Skipped,
    State,
    Success,
    TriggerFailed,
)

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

SIGNAL_STATES: list[tuple[type[signals.PrefectStateSignal], type[State]]] = [
    (signals.FAIL, Failed),
    (signals.TRIGGERFAIL, TriggerFailed),
    (signals.SUCCESS, Success),
    (signals.RETRY, Retrying),
    (signals.SKIP, Skipped),
    (signals.PAUSE, Paused),
]
SIGNALS = [sig for sig, _ in SIGNAL_STATES]


def by_name(value: Any) -> str:
    return str(value.__name__)


PICKLERS: list[Callable[[Any], bytes]] = [pickle.dumps, cloudpickle.dumps]
PICKLER_IDS = ["pickle", "cloudpickle"]


# -- each signal carries its state ----------------------------------------------------------
@pytest.mark.parametrize(("signal", "state_cls"), SIGNAL_STATES, ids=by_name)
def test_signal_builds_its_state(signal: type[signals.PrefectStateSignal], state_cls: type) -> None:
    sig = signal("a message")
    assert type(sig.state) is state_cls
    assert sig.state.message == "a message"
    assert str(sig) == "a message"


@pytest.mark.parametrize("signal", SIGNALS, ids=by_name)
def test_message_as_keyword(signal: type[signals.PrefectStateSignal]) -> None:
    sig = signal(message="by keyword")
    assert sig.state.message == "by keyword"


@pytest.mark.parametrize("signal", SIGNALS, ids=by_name)
def test_message_defaults_to_none(signal: type[signals.PrefectStateSignal]) -> None:
    assert signal().state.message is None


@pytest.mark.parametrize("signal", SIGNALS, ids=by_name)
def test_default_result_is_the_signal_itself(signal: type[signals.PrefectStateSignal]) -> None:
    sig = signal("m")
    assert sig.state.result is sig


@pytest.mark.parametrize("signal", SIGNALS, ids=by_name)
def test_result_override(signal: type[signals.PrefectStateSignal]) -> None:
    sig = signal("m", result={"value": 42})
    assert sig.state.result == {"value": 42}


@pytest.mark.parametrize("signal", SIGNALS, ids=by_name)
def test_result_override_with_none(signal: type[signals.PrefectStateSignal]) -> None:
    # None is a real value: it must not fall back to the signal.
    assert signal("m", result=None).state.result is None


def test_success_with_result_is_a_plain_success() -> None:
    sig = signals.SUCCESS("Done early.", result=42)
    assert sig.state == Success(result=42)
    assert sig.state.is_successful()


def test_signals_raise_and_catch_with_their_state() -> None:
    with pytest.raises(signals.SKIP) as info:
        raise signals.SKIP("not today")
    assert type(info.value.state) is Skipped
    assert info.value.state.message == "not today"


# -- RETRY ----------------------------------------------------------------------------------
def test_retry_start_time_and_run_count() -> None:
    sig = signals.RETRY("again", start_time=T0, run_count=3)
    assert sig.state.start_time == T0
    assert sig.state.run_count == 3
    assert sig.state.is_retrying()


def test_retry_without_arguments_takes_run_count_from_the_run() -> None:
    assert signals.RETRY("again").state.run_count == 1
    with lockgate.context(task_run_count=3):
        sig = signals.RETRY("again")
    assert sig.state.run_count == 3
    assert sig.state.start_time.tzinfo is not None


def test_retry_converts_start_time_to_utc() -> None:
    local = datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5)))
    sig = signals.RETRY(start_time=local)
    assert sig.state.start_time == datetime(2030, 1, 1, 17, 0, tzinfo=timezone.utc)
    assert sig.state.start_time.utcoffset() == timedelta(0)


def test_retry_reads_a_naive_start_time_as_utc() -> None:
    sig = signals.RETRY(start_time=datetime(2030, 1, 1, 9, 30))
    assert sig.state.start_time == datetime(2030, 1, 1, 9, 30, tzinfo=timezone.utc)


# -- unknown arguments ----------------------------------------------------------------------
@pytest.mark.parametrize(("signal", "state_cls"), SIGNAL_STATES, ids=by_name)
def test_unknown_kwargs_raise_type_error_naming_the_state(
    signal: type[signals.PrefectStateSignal], state_cls: type
) -> None:
    with pytest.raises(TypeError) as info:
        signal("m", no_such_argument=1)
    message = str(info.value)
    assert state_cls.__name__ in message
    assert signal.__name__ in message
    assert "no_such_argument" in message


@pytest.mark.parametrize("signal", [signals.FAIL, signals.SUCCESS, signals.SKIP], ids=by_name)
def test_retry_only_arguments_are_refused_by_other_signals(
    signal: type[signals.PrefectStateSignal],
) -> None:
    with pytest.raises(TypeError, match="run_count"):
        signal("m", run_count=1)


# -- the class tree -------------------------------------------------------------------------
def test_triggerfail_is_a_fail() -> None:
    assert issubclass(signals.TRIGGERFAIL, signals.FAIL)
    with pytest.raises(signals.FAIL):
        raise signals.TRIGGERFAIL("trigger said no")


def test_triggerfail_state_is_failed() -> None:
    state = signals.TRIGGERFAIL("no").state
    assert state.is_failed()
    assert isinstance(state, Failed)


@pytest.mark.parametrize("signal", SIGNALS, ids=by_name)
def test_every_signal_is_a_state_signal_and_an_exception(
    signal: type[signals.PrefectStateSignal],
) -> None:
    assert issubclass(signal, signals.PrefectStateSignal)
    assert issubclass(signal, Exception)


@pytest.mark.parametrize(
    "other", [signals.SUCCESS, signals.RETRY, signals.SKIP, signals.PAUSE], ids=by_name
)
def test_only_triggerfail_is_a_fail(other: type[signals.PrefectStateSignal]) -> None:
    assert not issubclass(other, signals.FAIL)


def test_state_signal_alias() -> None:
    assert signals.StateSignal is signals.PrefectStateSignal


def test_public_names() -> None:
    for name in [
        "PrefectStateSignal",
        "StateSignal",
        "FAIL",
        "TRIGGERFAIL",
        "SUCCESS",
        "RETRY",
        "SKIP",
        "PAUSE",
    ]:
        assert name in signals.__all__
        assert hasattr(signals, name)


def test_endrun_carries_a_state_and_is_not_an_exception() -> None:
    state = Success("done")
    end = signals.ENDRUN(state)
    assert end.state is state
    # user code catching Exception must not swallow the runner's control flow
    assert not isinstance(end, Exception)


# -- pickling -------------------------------------------------------------------------------
@pytest.mark.parametrize("dumps", PICKLERS, ids=PICKLER_IDS)
@pytest.mark.parametrize(("signal", "state_cls"), SIGNAL_STATES, ids=by_name)
def test_signal_pickles_and_keeps_the_cycle(
    signal: type[signals.PrefectStateSignal],
    state_cls: type,
    dumps: Callable[[Any], bytes],
) -> None:
    copy = pickle.loads(dumps(signal("pickled")))
    assert type(copy) is signal
    assert str(copy) == "pickled"
    assert type(copy.state) is state_cls
    assert copy.state.message == "pickled"
    assert copy.state.result is copy


@pytest.mark.parametrize("dumps", PICKLERS, ids=PICKLER_IDS)
@pytest.mark.parametrize("signal", SIGNALS, ids=by_name)
def test_signal_state_pickles_and_keeps_the_cycle(
    signal: type[signals.PrefectStateSignal], dumps: Callable[[Any], bytes]
) -> None:
    copy = pickle.loads(dumps(signal("pickled").state))
    assert type(copy.result) is signal
    assert copy.result.state is copy
    assert copy.message == "pickled"


@pytest.mark.parametrize("dumps", PICKLERS, ids=PICKLER_IDS)
def test_signal_with_result_override_pickles(dumps: Callable[[Any], bytes]) -> None:
    copy = pickle.loads(dumps(signals.SUCCESS("done", result=[1, 2])))
    assert copy.state.result == [1, 2]
    assert copy.state == Success(result=[1, 2])


def test_raised_signal_pickles() -> None:
    try:
        raise signals.FAIL("raised")
    except signals.FAIL as exc:
        caught = exc
    copy = pickle.loads(pickle.dumps(caught))
    assert type(copy) is signals.FAIL
    assert copy.state.result is copy


def test_retry_pickles_with_its_fields() -> None:
    copy = pickle.loads(pickle.dumps(signals.RETRY("r", start_time=T0, run_count=2)))
    assert copy.state.start_time == T0
    assert copy.state.run_count == 2
    assert copy.state.result is copy


def test_pickled_state_inside_a_container() -> None:
    # States travel inside the flow's {task: state} dict; the cycle must survive there too.
    sig = signals.PAUSE("wait")
    states = pickle.loads(pickle.dumps({"task": sig.state, "other": Success(result=1)}))
    assert states["task"].result.state is states["task"]
    assert states["other"] == Success(result=1)


# -- NoResult -------------------------------------------------------------------------------
@pytest.mark.parametrize("dumps", PICKLERS, ids=PICKLER_IDS)
def test_no_result_pickles_to_the_same_singleton(dumps: Callable[[Any], bytes]) -> None:
    assert pickle.loads(dumps(NoResult)) is NoResult


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_no_result_singleton_every_protocol(protocol: int) -> None:
    assert pickle.loads(pickle.dumps(NoResult, protocol=protocol)) is NoResult


def test_no_result_is_a_singleton() -> None:
    assert NoResultType() is NoResult
    assert type(NoResult) is NoResultType


def test_no_result_is_not_none() -> None:
    assert NoResult is not None
    assert NoResult != None  # noqa: E711
    assert not NoResult
    assert NoResult == NoResult
    assert NoResult != SafeResult(None, None)  # type: ignore[arg-type]
    assert str(NoResult) == "NoResult"


def test_no_result_is_already_safe() -> None:
    assert NoResult.value is NoResult
    assert NoResult.to_result() is NoResult
    assert NoResult.safe_value is NoResult


# -- Result and SafeResult ------------------------------------------------------------------
class MemoryHandler:
    """A stand-in result handler that stores values in a dict."""

    def __init__(self) -> None:
        self.store: dict[str, Any] = {}
        self.writes = 0

    def write(self, value: Any) -> str:
        self.writes += 1
        location = f"mem://{self.writes}"
        self.store[location] = value
        return location

    def read(self, location: str) -> Any:
        return self.store[location]


def test_result_holds_value_and_handler() -> None:
    handler = MemoryHandler()
    result = Result(5, handler)  # type: ignore[arg-type]
    assert result.value == 5
    assert result.result_handler is handler
    assert result.safe_value is NoResult
    assert result.to_result() is result
    assert repr(result) == "<Result: 5>"


def test_result_equality() -> None:
    assert Result(5) == Result(5)
    assert Result(5) != Result(6)
    handler = MemoryHandler()
    assert Result(5, handler) != Result(5)  # type: ignore[arg-type]
    assert Result(5) != SafeResult(5, handler)  # type: ignore[arg-type]
    assert Result(5) != 5


def test_results_hash_by_identity() -> None:
    assert len({Result(5), Result(5)}) == 2


def test_store_safe_value_without_handler_raises_helpful_error() -> None:
    with pytest.raises(ValueError) as info:
        Result(5).store_safe_value()
    message = str(info.value)
    assert "result_handler" in message
    assert "LocalResultHandler" in message


def test_store_safe_value_writes_once() -> None:
    handler = MemoryHandler()
    result = Result({"a": 1}, handler)  # type: ignore[arg-type]
    result.store_safe_value()
    safe = result.safe_value
    assert isinstance(safe, SafeResult)
    assert safe.result_handler is handler
    assert handler.read(safe.value) == {"a": 1}
    result.store_safe_value()
    assert result.safe_value is safe
    assert handler.writes == 1


def test_safe_result_reads_back() -> None:
    handler = MemoryHandler()
    result = Result([1, 2], handler)  # type: ignore[arg-type]
    result.store_safe_value()
    safe = result.safe_value
    again = safe.to_result()
    assert isinstance(again, Result)
    assert again.value == [1, 2]
    assert again.safe_value is safe
    again.store_safe_value()
    assert again.safe_value is safe
    assert handler.writes == 1


def test_safe_result_is_already_safe() -> None:
    safe = SafeResult("mem://1", MemoryHandler())  # type: ignore[arg-type]
    assert safe.safe_value is safe
    assert repr(safe) == "<SafeResult: 'mem://1'>"


def test_result_pickles() -> None:
    copy = pickle.loads(pickle.dumps(Result(5)))
    assert copy == Result(5)
