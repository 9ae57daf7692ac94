"""States: hierarchy, predicates, equality, hashing, repr, results, times, pickling, colors."""

from __future__ import annotations

import pickle
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import cloudpickle
import pytest

import lockgate
from lockgate.engine import state as state_module
from lockgate.engine.executors.remote import RemoteValue, fetch_remote_results
from lockgate.engine.result import NoResult, Result
from lockgate.engine.state import (
    Cached,
    Failed,
    Finished,
    Mapped,
    MetaState,
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
from lockgate.utilities import clock

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

# -- hierarchy -----------------------------------------------------------------------------
PARENTS: list[tuple[type[State], type[State]]] = [
    (Pending, State),
    (Paused, Pending),
    (Scheduled, Pending),
    (Resume, Scheduled),
    (Retrying, Scheduled),
    (Running, State),
    (Finished, State),
    (Success, Finished),
    (Cached, Success),
    (Mapped, Success),
    (Skipped, Success),
    (Failed, Finished),
    (TimedOut, Failed),
    (TriggerFailed, Failed),
    (MetaState, State),
    (Submitted, MetaState),
    (Queued, MetaState),
]

ALL_CLASSES: list[type[State]] = [State] + [cls for cls, _ in PARENTS]


@pytest.mark.parametrize(("cls", "parent"), PARENTS, ids=[c.__name__ for c, _ in PARENTS])
def test_hierarchy(cls: type[State], parent: type[State]) -> None:
    assert cls.__bases__ == (parent,)


def test_public_names() -> None:
    for cls in ALL_CLASSES:
        assert cls.__name__ in state_module.__all__
        assert getattr(state_module, cls.__name__) is cls


# -- predicates: each class x each predicate -----------------------------------------------
PREDICATES = [
    "is_pending",
    "is_paused",
    "is_scheduled",
    "is_retrying",
    "is_running",
    "is_finished",
    "is_successful",
    "is_failed",
    "is_skipped",
    "is_cached",
    "is_mapped",
    "is_meta_state",
]

# The predicates that are true for each class; every other predicate is false.
TRUE_PREDICATES: dict[type[State], set[str]] = {
    State: set(),
    Pending: {"is_pending"},
    Paused: {"is_pending", "is_paused"},
    Scheduled: {"is_pending", "is_scheduled"},
    Resume: {"is_pending", "is_scheduled"},
    Retrying: {"is_pending", "is_scheduled", "is_retrying"},
    Running: {"is_running"},
    Finished: {"is_finished"},
    Success: {"is_finished", "is_successful"},
    Cached: {"is_finished", "is_successful", "is_cached"},
    Mapped: {"is_finished", "is_successful", "is_mapped"},
    Skipped: {"is_finished", "is_successful", "is_skipped"},
    Failed: {"is_finished", "is_failed"},
    TimedOut: {"is_finished", "is_failed"},
    TriggerFailed: {"is_finished", "is_failed"},
    MetaState: {"is_meta_state"},
    Submitted: {"is_meta_state"},
    Queued: {"is_meta_state"},
}

PREDICATE_CELLS = [
    (cls, predicate, predicate in TRUE_PREDICATES[cls])
    for cls in ALL_CLASSES
    for predicate in PREDICATES
]


def test_predicate_table_covers_every_class() -> None:
    assert set(TRUE_PREDICATES) == set(ALL_CLASSES)


@pytest.mark.parametrize(
    ("cls", "predicate", "expected"),
    PREDICATE_CELLS,
    ids=[f"{c.__name__}-{p}-{e}" for c, p, e in PREDICATE_CELLS],
)
def test_predicate(cls: type[State], predicate: str, expected: bool) -> None:
    assert getattr(cls(), predicate)() is expected


def test_meta_state_predicates_do_not_look_inside() -> None:
    wrapped = Submitted(state=Success())
    assert wrapped.is_meta_state()
    assert not wrapped.is_successful()
    assert not wrapped.is_finished()


# -- construction defaults -----------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_defaults(cls: type[State]) -> None:
    st = cls()
    assert st.message is None
    assert st.result is NoResult


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_message_and_result_are_kept(cls: type[State]) -> None:
    st = cls("hello", result=[1, 2])
    assert st.message == "hello"
    assert st.result == [1, 2]


def test_none_is_a_real_result() -> None:
    st = Success(result=None)
    assert st.result is None
    assert st.result is not NoResult
    assert st != Success()


def test_result_wrapper_is_unwrapped_to_its_value() -> None:
    st = Success(result=Result(5))
    assert st.result == 5
    assert st == Success(result=5)


def test_cached_inputs() -> None:
    assert Pending().cached_inputs is None
    assert Pending(cached_inputs={"x": 1}).cached_inputs == {"x": 1}
    assert Retrying(cached_inputs={"x": 1}, run_count=2).cached_inputs == {"x": 1}


def test_retrying_fields() -> None:
    st = Retrying("again", start_time=T0, run_count=3)
    assert st.run_count == 3
    assert st.start_time == T0
    assert Retrying().run_count == 1  # outside a task run: the first attempt
    with lockgate.context(task_run_count=4):
        assert Retrying().run_count == 4  # inside one: the run's attempt


def test_cached_fields() -> None:
    st = Cached(
        result=7,
        cached_inputs={"x": 1},
        cached_parameters={"p": 2},
        cached_result_expiration=T0,
    )
    assert st.result == 7
    assert st.cached_inputs == {"x": 1}
    assert st.cached_parameters == {"p": 2}
    assert st.cached_result_expiration == T0
    assert Cached().cached_result_expiration is None
    assert Cached().cached_parameters is None


def test_meta_states_wrap_a_state() -> None:
    inner = Retrying(run_count=1)
    assert Submitted(state=inner).state is inner
    queued = Queued(state=inner)
    assert queued.state is inner
    assert not hasattr(queued, "start_time")  # as in Prefect 0.5.1: only Scheduled has one
    assert Submitted().state is None


# -- Mapped --------------------------------------------------------------------------------
def test_mapped_result_defaults_to_children_results() -> None:
    err = ValueError("x")
    st = Mapped(map_states=[Success(result=1), Failed(result=err), Skipped(result=None)])
    assert st.result == [1, err, None]


def test_mapped_explicit_result_wins() -> None:
    st = Mapped(result="mine", map_states=[Success(result=1)])
    assert st.result == "mine"


def test_mapped_with_zero_children_has_empty_list_result() -> None:
    st = Mapped(map_states=[])
    assert st.map_states == []
    assert st.result == []


def test_mapped_without_children() -> None:
    st = Mapped()
    assert st.map_states == []
    assert st.result is NoResult


def test_mapped_keeps_its_own_copy_of_the_children_list() -> None:
    children = [Success(result=1)]
    st = Mapped(map_states=children)
    children.append(Success(result=2))
    assert len(st.map_states) == 1
    assert st.result == [1]


# -- equality and hashing ------------------------------------------------------------------
def test_equality_ignores_message() -> None:
    assert Success("one", result=1) == Success("two", result=1)
    assert Failed("x") == Failed(None)


def test_equality_compares_result() -> None:
    assert Success(result=1) != Success(result=2)
    assert Success(result=[1, 2]) == Success(result=[1, 2])
    assert Success(result=1) != Success()


def test_equality_needs_the_same_class() -> None:
    assert Success(result=1) != Failed(result=1)
    assert Success() != Skipped()
    assert Skipped() != Success()
    assert Failed() != TriggerFailed()
    assert Pending() != Paused()
    assert Success() != "Success"
    assert Success() != None  # noqa: E711


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (Pending(cached_inputs={"x": 1}), Pending(cached_inputs={"x": 2})),
        (Scheduled(start_time=T0), Scheduled(start_time=T0 + timedelta(seconds=1))),
        (Retrying(start_time=T0, run_count=1), Retrying(start_time=T0, run_count=2)),
        (Cached(cached_parameters={"p": 1}), Cached(cached_parameters={"p": 2})),
        (Cached(cached_result_expiration=T0), Cached(cached_result_expiration=None)),
        (Mapped(map_states=[Success()]), Mapped(map_states=[Failed()], result=[NoResult])),
        (Submitted(state=Success()), Submitted(state=Failed())),
        (Queued(state=Pending()), Queued(state=Running())),
    ],
    ids=lambda s: type(s).__name__,
)
def test_equality_compares_data(left: State, right: State) -> None:
    assert left != right


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (Pending("a", cached_inputs={"x": 1}), Pending("b", cached_inputs={"x": 1})),
        (Retrying("a", start_time=T0, run_count=1), Retrying("b", start_time=T0, run_count=1)),
        (
            Cached("a", result=1, cached_result_expiration=T0),
            Cached(result=1, cached_result_expiration=T0),
        ),
        (Mapped("a", map_states=[Success(result=1)]), Mapped("b", map_states=[Success(result=1)])),
        (Queued("a", state=Pending()), Queued("b", state=Pending())),
    ],
    ids=lambda s: type(s).__name__,
)
def test_equal_data_gives_equal_states(left: State, right: State) -> None:
    assert left == right


class _AmbiguousEq:
    """A value like a numpy array: == does not give a plain bool."""

    def __eq__(self, other: object) -> bool:
        raise ValueError("truth value is ambiguous")

    __hash__ = object.__hash__


def test_equality_survives_results_with_odd_eq() -> None:
    a, b = _AmbiguousEq(), _AmbiguousEq()
    same = Success(result=a)
    assert same == same
    assert Success(result=a) == Success(result=a)
    assert (Success(result=a) == Success(result=b)) is False


def test_equality_with_odd_eq_fields_is_false_unless_identical() -> None:
    a, b, c = _AmbiguousEq(), _AmbiguousEq(), _AmbiguousEq()
    assert Success(result=a, cached_inputs={"x": b}) == Success(result=a, cached_inputs={"x": b})
    assert (
        Success(result=a, cached_inputs={"x": b}) == Success(result=a, cached_inputs={"x": c})
    ) is False


def test_hashing_is_by_identity() -> None:
    a, b = Success(result=1), Success(result=1)
    assert a == b
    assert len({a, b}) == 2
    assert hash(a) == object.__hash__(a)
    assert {a: "a", b: "b"}[b] == "b"


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_every_state_is_hashable_by_identity(cls: type[State]) -> None:
    a, b = cls(), cls()
    assert len({a, b}) == 2


# -- repr ----------------------------------------------------------------------------------
def test_repr_with_message() -> None:
    assert repr(Success("Task run succeeded.")) == 'Success("Task run succeeded.")'
    assert repr(Failed("Some reference tasks failed.")) == 'Failed("Some reference tasks failed.")'


def test_repr_without_message() -> None:
    assert repr(Pending()) == "Pending()"


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_repr_uses_the_class_name(cls: type[State]) -> None:
    assert repr(cls("hi")) == f'{cls.__name__}("hi")'


# -- times ---------------------------------------------------------------------------------
class _FixedClock(clock.Clock):
    def now(self) -> datetime:
        return T0

    def sleep(self, seconds: float) -> None:
        raise AssertionError("states must not sleep")


@pytest.fixture
def fixed_clock() -> Iterator[None]:
    token = clock.install(_FixedClock())
    try:
        yield
    finally:
        clock.uninstall(token)


@pytest.mark.parametrize("cls", [Scheduled, Resume, Retrying], ids=lambda c: c.__name__)
def test_start_time_defaults_to_now(cls: type[Any], fixed_clock: None) -> None:
    assert cls().start_time == T0


def test_default_start_time_is_timezone_aware_utc() -> None:
    start = Scheduled().start_time
    assert start.tzinfo is not None
    assert start.utcoffset() == timedelta(0)


NAIVE = datetime(2030, 1, 1, 12, 0)


@pytest.mark.parametrize(
    ("make", "attribute"),
    [
        (lambda: Scheduled(start_time=NAIVE), "start_time"),
        (lambda: Resume(start_time=NAIVE), "start_time"),
        (lambda: Retrying(start_time=NAIVE, run_count=1), "start_time"),
        (lambda: Cached(cached_result_expiration=NAIVE), "cached_result_expiration"),
    ],
    ids=["Scheduled", "Resume", "Retrying", "Cached"],
)
def test_naive_datetimes_are_read_as_utc(make: Callable[[], State], attribute: str) -> None:
    # As in Prefect 0.5.1 and lockgate.schedules: datetime.utcnow() names the right instant.
    value = getattr(make(), attribute)
    assert value == datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert value.utcoffset() == timedelta(0)


def test_aware_datetimes_are_converted_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    st = Scheduled(start_time=datetime(2030, 1, 1, 12, 0, tzinfo=plus_two))
    assert st.start_time == datetime(2030, 1, 1, 10, 0, tzinfo=timezone.utc)
    assert st.start_time.utcoffset() == timedelta(0)
    cached = Cached(cached_result_expiration=datetime(2030, 1, 1, 12, 0, tzinfo=plus_two))
    assert cached.cached_result_expiration is not None
    assert cached.cached_result_expiration.utcoffset() == timedelta(0)
    assert cached.cached_result_expiration.hour == 10


# -- pickling ------------------------------------------------------------------------------
def _examples() -> list[State]:
    return [
        State("base", result=1),
        Pending("waiting", cached_inputs={"x": 1}),
        Paused("paused", cached_inputs={"x": [1, 2]}),
        Scheduled("scheduled", start_time=T0, cached_inputs={"y": "z"}),
        Resume("resume", start_time=T0),
        Retrying("retry", result=ValueError("boom"), start_time=T0, run_count=2),
        Running("running"),
        Finished("finished", result={"a": 1}),
        Success("Task run succeeded.", result=42),
        Cached(
            "cached",
            result=[1, 2, 3],
            cached_inputs={"x": 1},
            cached_parameters={"p": "v"},
            cached_result_expiration=T0,
        ),
        Mapped("mapped", map_states=[Success(result=1), Failed("f", result=2), Skipped()]),
        Skipped("skipped"),
        Failed("failed", result=RuntimeError("bad")),
        TimedOut("timed out", cached_inputs={"x": 1}),
        TriggerFailed("trigger failed"),
        MetaState("meta", state=Pending()),
        Submitted("submitted", state=Retrying(start_time=T0, run_count=1)),
        Queued("queued", state=Scheduled(start_time=T0)),
    ]


def _same_exception(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a.args == b.args


def _assert_round_trip(original: State, copy: State) -> None:
    assert type(copy) is type(original)
    assert copy.message == original.message
    assert copy.cached_inputs == original.cached_inputs
    if isinstance(original.result, Exception):
        assert _same_exception(copy.result, original.result)
    else:
        assert copy == original


def test_examples_cover_every_class() -> None:
    assert {type(s) for s in _examples()} == set(ALL_CLASSES)


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
@pytest.mark.parametrize("original", _examples(), ids=lambda s: type(s).__name__)
def test_pickle_round_trip(original: State, dumps: Callable[[Any], bytes]) -> None:
    _assert_round_trip(original, pickle.loads(dumps(original)))


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_every_protocol(protocol: int) -> None:
    for original in _examples():
        _assert_round_trip(original, pickle.loads(pickle.dumps(original, protocol=protocol)))


def test_pickle_keeps_retrying_fields() -> None:
    copy = pickle.loads(pickle.dumps(Retrying("r", start_time=T0, run_count=4)))
    assert copy.run_count == 4
    assert copy.start_time == T0
    assert copy.start_time.utcoffset() == timedelta(0)


def test_pickle_keeps_cached_fields() -> None:
    original = Cached(
        result="v",
        cached_inputs={"x": 1},
        cached_parameters={"p": 2},
        cached_result_expiration=T0,
    )
    copy = pickle.loads(pickle.dumps(original))
    assert copy.result == "v"
    assert copy.cached_inputs == {"x": 1}
    assert copy.cached_parameters == {"p": 2}
    assert copy.cached_result_expiration == T0


def test_pickle_keeps_mapped_children() -> None:
    original = Mapped(map_states=[Success(result=1), Failed(result=2), Skipped()])
    copy = pickle.loads(pickle.dumps(original))
    assert [type(s) for s in copy.map_states] == [Success, Failed, Skipped]
    assert [s.result for s in copy.map_states] == [1, 2, NoResult]
    assert copy.result == [1, 2, NoResult]
    assert copy.map_states[2].result is NoResult


def test_pickle_keeps_the_wrapped_state_of_meta_states() -> None:
    original = Queued("q", state=Retrying(start_time=T0, run_count=3))
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy.state) is Retrying
    assert copy.state.run_count == 3
    assert copy.state.start_time == T0


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_no_result_stays_the_singleton_after_pickling(cls: type[State]) -> None:
    assert pickle.loads(pickle.dumps(cls())).result is NoResult


def test_pickled_states_keep_hashing_by_identity() -> None:
    a, b = pickle.loads(pickle.dumps([Success(result=1), Success(result=1)]))
    assert a == b
    assert len({a, b}) == 2


# -- unpicklable results -------------------------------------------------------------------
class _LockedError(Exception):
    """An exception that carries something unpicklable."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_unpicklable_result_falls_back_to_text(dumps: Callable[[Any], bytes]) -> None:
    lock = threading.Lock()
    original = Success("Task run succeeded.", result=lock)
    copy = pickle.loads(dumps(original))
    assert type(copy) is Success
    assert isinstance(copy.result, str)
    assert copy.result == repr(lock)
    assert copy.message.startswith("Task run succeeded.")
    assert "could not be pickled" in copy.message
    assert "lock" in copy.message


def test_unpicklable_result_without_message_still_says_so() -> None:
    copy = pickle.loads(pickle.dumps(Success(result=threading.Lock())))
    assert copy.message is not None
    assert "could not be pickled" in copy.message


def test_unpicklable_exception_result_falls_back_to_text() -> None:
    original = Failed("Unexpected error: boom", result=_LockedError("boom"))
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is Failed
    assert copy.result == repr(_LockedError("boom"))
    assert "_LockedError" in copy.message
    assert "could not be pickled" in copy.message


def test_pickling_does_not_change_the_original_state() -> None:
    lock = threading.Lock()
    original = Success("ok", result=lock)
    pickle.dumps(original)
    assert original.result is lock
    assert original.message == "ok"


def test_unpicklable_cached_inputs_fall_back_to_text() -> None:
    lock = threading.Lock()
    original = Paused("paused", cached_inputs={"x": 1, "lock": lock})
    copy = pickle.loads(pickle.dumps(original))
    assert copy.cached_inputs == {"x": 1, "lock": repr(lock)}
    assert original.cached_inputs == {"x": 1, "lock": lock}


def test_unpicklable_child_result_of_mapped_state() -> None:
    lock = threading.Lock()
    original = Mapped(map_states=[Success(result=1), Success(result=lock)])
    copy = pickle.loads(pickle.dumps(original))
    assert copy.map_states[0].result == 1
    assert copy.map_states[1].result == repr(lock)
    assert "could not be pickled" in copy.map_states[1].message


# -- colors --------------------------------------------------------------------------------
HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_color_is_a_hex_string(cls: type[State]) -> None:
    assert isinstance(cls.color, str)
    assert HEX_COLOR.match(cls.color)
    assert cls().color == cls.color


def test_colors_are_distinct() -> None:
    classes = [cls for cls in ALL_CLASSES if cls not in (MetaState, Submitted, Queued)]
    colors = [cls.color for cls in classes]
    assert len(set(colors)) == len(colors)


def test_meta_state_colors_are_distinct() -> None:
    colors = [cls.color for cls in ALL_CLASSES]
    assert len(set(colors)) == len(colors)


# -- values still held remotely (RemoteValue) ---------------------------------------------
class CountingRemote(RemoteValue):
    """A RemoteValue held in memory that counts how it is fetched."""

    __slots__ = ("value",)
    fetches: list[int] = []  # the size of each fetch

    def __init__(self, value: Any) -> None:
        self.value = value

    def get(self) -> Any:
        return CountingRemote.get_many([self])[0]

    @classmethod
    def get_many(cls, values: Sequence[RemoteValue]) -> list[Any]:
        cls.fetches.append(len(values))
        return [v.value for v in values if isinstance(v, CountingRemote)]


@pytest.fixture
def fetches() -> list[int]:
    CountingRemote.fetches = []
    return CountingRemote.fetches


def test_a_remote_result_is_fetched_on_first_read_and_kept(fetches: list[int]) -> None:
    state = Success(result=CountingRemote(5))
    assert fetches == []
    assert state.result == 5 and state.result == 5
    assert fetches == [1]


def test_a_mapped_result_fetches_its_remote_children_in_one_batch(fetches: list[int]) -> None:
    children = [Success(result=CountingRemote(i)) for i in range(4)] + [Success(result=9)]
    mapped = Mapped(map_states=children)
    assert fetches == []
    assert mapped.result == [0, 1, 2, 3, 9] and type(mapped.result) is list
    assert fetches == [4]


def test_fetch_remote_results_replaces_values_in_results_inputs_and_children(
    fetches: list[int],
) -> None:
    child = Success(result=CountingRemote("c"))
    failed = Failed(cached_inputs={"x": CountingRemote(1), "xs": [CountingRemote(2), 3]})
    mapped = Mapped(map_states=[child])
    fetch_remote_results([failed, mapped])
    assert fetches == [4]
    assert failed.cached_inputs == {"x": 1, "xs": [2, 3]}
    assert child._value == "c" and mapped._value == ["c"]


def test_equality_and_pickling_use_the_fetched_value(fetches: list[int]) -> None:
    assert Success(result=CountingRemote(2)) == Success(result=2)
    copy = pickle.loads(pickle.dumps(Success(result=CountingRemote([1, 2]))))
    assert copy == Success(result=[1, 2]) and copy._value == [1, 2]


# -- State.deserialize ------------------------------------------------------------------------
def test_deserialize_rebuilds_what_serialize_wrote() -> None:
    from lockgate.engine.result import SafeResult
    from lockgate.engine.result_handlers import JSONResultHandler

    stored = SafeResult('{"rows": 3}', JSONResultHandler())
    original = Cached(
        "from cache",
        result=stored,
        cached_inputs={"table": SafeResult('"orders"', JSONResultHandler()), "raw": 7},
        cached_result_expiration=datetime(2031, 5, 1, 8, 0, tzinfo=timezone.utc),
    )
    loaded = State.deserialize(original.serialize())
    assert type(loaded) is Cached and loaded.message == "from cache"
    assert loaded._result == stored  # the stored form; the handler reads it back
    assert loaded._result.to_result().value == {"rows": 3}
    assert loaded.cached_result_expiration == original.cached_result_expiration
    assert loaded.cached_inputs == {"table": original.cached_inputs["table"], "raw": NoResult}


def test_deserialize_keeps_the_class_of_a_retry() -> None:
    loaded = State.deserialize(Retrying(start_time=T0, run_count=2).serialize())
    assert type(loaded) is Retrying and loaded.run_count == 2 and loaded.start_time == T0
