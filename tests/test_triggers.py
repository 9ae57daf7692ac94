"""Triggers: the full truth table, the accepted input shapes, and the trigger factories.

The table below mirrors the truth table in the docs: one row per trigger, one column per
kind of upstream situation. Every cell is a separate test, run once for every input shape
a trigger accepts (UpstreamStates, plain set, list, ``{edge: state}`` dict).
"""

from __future__ import annotations

import collections.abc
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from lockgate import triggers
from lockgate.engine import signals
from lockgate.engine.state import (
    Failed,
    Mapped,
    Paused,
    Pending,
    Running,
    Skipped,
    State,
    Success,
    TimedOut,
    TriggerFailed,
)
from lockgate.triggers import UpstreamStates
from lockgate.utilities.context import context

# -- the upstream situations (the columns of the truth table) ------------------------------
# Each is a factory so every test gets fresh state objects.
SITUATIONS: dict[str, Callable[[], list[State]]] = {
    "no upstreams": lambda: [],
    "all Success": lambda: [Success(), Success()],
    "all Failed": lambda: [Failed(), Failed()],
    "Success+Failed": lambda: [Success(), Failed()],
    "Success+Skipped": lambda: [Success(), Skipped()],
    "Failed+Skipped": lambda: [Failed(), Skipped()],
    "Success+TriggerFailed": lambda: [Success(), TriggerFailed()],
    "Failed+TriggerFailed+TimedOut": lambda: [Failed(), TriggerFailed(), TimedOut()],
    "Success+Pending+Running": lambda: [Success(), Pending(), Running()],
    "Mapped(Success,Failed)": lambda: [Mapped(map_states=[Success(), Failed()])],
    "all Skipped": lambda: [Skipped(), Skipped()],
}

# -- the triggers (the rows of the truth table) --------------------------------------------
TRIGGERS: dict[str, Callable[[Any], bool]] = {
    "all_finished": triggers.all_finished,
    "always_run": triggers.always_run,
    "manual_only": triggers.manual_only,
    "never_run": triggers.never_run,
    "all_successful": triggers.all_successful,
    "all_failed": triggers.all_failed,
    "any_successful": triggers.any_successful,
    "any_failed": triggers.any_failed,
    "not_all_skipped": triggers.not_all_skipped,
    "some_successful(at_least=1)": triggers.some_successful(at_least=1),
    "some_successful(at_most=0.5)": triggers.some_successful(at_most=0.5),
    "some_failed(at_least=2)": triggers.some_failed(at_least=2),
    "some_failed(at_most=0.5)": triggers.some_failed(at_most=0.5),
    "some_failed(at_least=1, at_most=1)": triggers.some_failed(at_least=1, at_most=1),
}

# Outcomes: PASS means the trigger returns True; the others name the signal it raises.
PASS = "pass"
TFAIL = "TRIGGERFAIL"
PAUSE = "PAUSE"
SKIP = "SKIP"
SIGNALS = {TFAIL: signals.TRIGGERFAIL, PAUSE: signals.PAUSE, SKIP: signals.SKIP}

# fmt: off
COLUMNS = [
    "no upstreams", "all Success", "all Failed", "Success+Failed", "Success+Skipped",
    "Failed+Skipped", "Success+TriggerFailed", "Failed+TriggerFailed+TimedOut",
    "Success+Pending+Running", "Mapped(Success,Failed)", "all Skipped",
]
TRUTH_TABLE = {
    #                                      none   all_ok all_fl ok+fl  ok+sk  fl+sk  ok+tf  fails  unfin  mapped all_sk
    "all_finished":                       (PASS,  PASS,  PASS,  PASS,  PASS,  PASS,  PASS,  PASS,  TFAIL, PASS,  PASS),
    "always_run":                         (PASS,  PASS,  PASS,  PASS,  PASS,  PASS,  PASS,  PASS,  TFAIL, PASS,  PASS),
    "manual_only":                        (PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE),
    "never_run":                          (PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE, PAUSE),
    "all_successful":                     (PASS,  PASS,  TFAIL, TFAIL, PASS,  TFAIL, TFAIL, TFAIL, TFAIL, TFAIL, PASS),
    "all_failed":                         (PASS,  TFAIL, PASS,  TFAIL, TFAIL, TFAIL, TFAIL, PASS,  TFAIL, TFAIL, TFAIL),
    "any_successful":                     (PASS,  PASS,  TFAIL, PASS,  PASS,  PASS,  PASS,  TFAIL, PASS,  PASS,  PASS),
    "any_failed":                         (PASS,  TFAIL, PASS,  PASS,  TFAIL, PASS,  PASS,  PASS,  TFAIL, PASS,  TFAIL),
    "not_all_skipped":                    (PASS,  PASS,  PASS,  PASS,  PASS,  PASS,  PASS,  PASS,  PASS,  PASS,  SKIP),
    "some_successful(at_least=1)":        (TFAIL, PASS,  TFAIL, PASS,  PASS,  PASS,  PASS,  TFAIL, PASS,  PASS,  PASS),
    "some_successful(at_most=0.5)":       (PASS,  TFAIL, PASS,  PASS,  TFAIL, PASS,  PASS,  PASS,  PASS,  PASS,  TFAIL),
    "some_failed(at_least=2)":            (TFAIL, TFAIL, PASS,  TFAIL, TFAIL, TFAIL, TFAIL, PASS,  TFAIL, TFAIL, TFAIL),
    "some_failed(at_most=0.5)":           (PASS,  PASS,  TFAIL, PASS,  PASS,  PASS,  PASS,  TFAIL, PASS,  PASS,  PASS),
    "some_failed(at_least=1, at_most=1)": (TFAIL, TFAIL, TFAIL, PASS,  TFAIL, PASS,  PASS,  TFAIL, TFAIL, PASS,  TFAIL),
}
# fmt: on

# The flat list of rows (trigger, upstream situation, expected outcome), one test each.
ROWS = [
    (trigger, situation, outcome)
    for trigger, outcomes in TRUTH_TABLE.items()
    for situation, outcome in zip(COLUMNS, outcomes, strict=True)
]


def as_upstream_states(states: list[State]) -> UpstreamStates:
    return UpstreamStates({f"edge{i}": s for i, s in enumerate(states)})


def as_set(states: list[State]) -> set[State]:
    return set(states)


def as_list(states: list[State]) -> list[State]:
    return list(states)


def as_dict(states: list[State]) -> dict[str, State]:
    return {f"edge{i}": s for i, s in enumerate(states)}


INPUT_SHAPES: dict[str, Callable[[list[State]], Iterable[State]]] = {
    "UpstreamStates": as_upstream_states,
    "set": as_set,
    "list": as_list,
    "dict": as_dict,
}


def check(trigger: Callable[[Any], bool], upstream: Any, expected: str) -> None:
    if expected == PASS:
        assert trigger(upstream) is True
    else:
        with pytest.raises(signals.PrefectStateSignal) as info:
            trigger(upstream)
        assert type(info.value) is SIGNALS[expected]


def test_truth_table_is_complete() -> None:
    assert set(COLUMNS) == set(SITUATIONS)
    assert set(TRUTH_TABLE) == set(TRIGGERS)
    assert len(ROWS) == len(TRIGGERS) * len(SITUATIONS)


@pytest.mark.parametrize("shape", list(INPUT_SHAPES))
@pytest.mark.parametrize(("trigger", "situation", "expected"), ROWS)
def test_truth_table(trigger: str, situation: str, expected: str, shape: str) -> None:
    upstream = INPUT_SHAPES[shape](SITUATIONS[situation]())
    check(TRIGGERS[trigger], upstream, expected)


# -- signals raised by triggers carry the right state --------------------------------------
def test_trigger_failure_becomes_a_trigger_failed_state() -> None:
    with pytest.raises(signals.TRIGGERFAIL) as info:
        triggers.all_successful([Success(), Failed()])
    assert type(info.value.state) is TriggerFailed
    assert "all_successful" in info.value.state.message


def test_manual_only_pauses_without_failing() -> None:
    with pytest.raises(signals.PAUSE) as info:
        triggers.manual_only([Success()])
    state = info.value.state
    assert type(state) is Paused
    assert not state.is_failed()
    assert "manual_only" in state.message


def test_not_all_skipped_skips_with_a_skipped_state() -> None:
    with pytest.raises(signals.SKIP) as info:
        triggers.not_all_skipped([Skipped(), Skipped()])
    assert type(info.value.state) is Skipped


def test_not_all_skipped_skips_when_every_mapped_child_was_skipped() -> None:
    with pytest.raises(signals.SKIP):
        triggers.not_all_skipped([Mapped(map_states=[Skipped(), Skipped()])])


def test_counting_trigger_message_names_trigger_and_count() -> None:
    with pytest.raises(signals.TRIGGERFAIL) as info:
        triggers.some_failed(at_least=2)([Failed(), Success(), Success()])
    message = info.value.state.message
    assert "some_failed" in message
    assert "1 of 3" in message


# -- manual_only and resuming --------------------------------------------------------------
@pytest.mark.parametrize("trigger", [triggers.manual_only, triggers.never_run])
@pytest.mark.parametrize("situation", list(SITUATIONS))
def test_manual_only_passes_when_resuming(trigger: Callable[[Any], bool], situation: str) -> None:
    with context(resume=True):
        assert trigger(SITUATIONS[situation]()) is True


def test_manual_only_pauses_again_after_the_resume_block() -> None:
    with context(resume=True):
        assert triggers.manual_only([]) is True
    with pytest.raises(signals.PAUSE):
        triggers.manual_only([])


def test_manual_only_pauses_when_resume_is_false() -> None:
    with context(resume=False), pytest.raises(signals.PAUSE):
        triggers.manual_only([])


# -- aliases -------------------------------------------------------------------------------
def test_always_run_is_all_finished() -> None:
    assert triggers.always_run is triggers.all_finished


def test_never_run_is_manual_only() -> None:
    assert triggers.never_run is triggers.manual_only


def test_public_names() -> None:
    for name in [
        "all_finished",
        "always_run",
        "manual_only",
        "never_run",
        "all_successful",
        "all_failed",
        "any_successful",
        "any_failed",
        "not_all_skipped",
        "some_successful",
        "some_failed",
        "UpstreamStates",
    ]:
        assert name in triggers.__all__
        assert callable(getattr(triggers, name))


# -- input shapes --------------------------------------------------------------------------
def test_triggers_accept_a_tuple_and_a_generator() -> None:
    assert triggers.all_successful((Success(), Skipped())) is True
    assert triggers.any_failed(s for s in [Success(), Failed()]) is True


def test_dict_input_uses_the_states_not_the_keys() -> None:
    # The keys are edges; a trigger must look at the values.
    assert triggers.all_failed({"e1": Failed(), "e2": TriggerFailed()}) is True
    with pytest.raises(signals.TRIGGERFAIL):
        triggers.all_failed({"e1": Failed(), "e2": Success()})


def test_mapped_upstream_contributes_each_child() -> None:
    mapped = Mapped(map_states=[Success(), Success(), Failed()])
    assert triggers.some_successful(at_least=2, at_most=2)([mapped]) is True
    assert triggers.some_failed(at_least=1, at_most=1)({"e": mapped}) is True
    with pytest.raises(signals.TRIGGERFAIL):
        triggers.all_successful(as_upstream_states([mapped]))


def test_mapped_upstream_with_all_children_successful_passes_all_successful() -> None:
    mapped = Mapped(map_states=[Success(), Skipped()])
    assert triggers.all_successful({"e": mapped, "f": Success()}) is True


def test_custom_trigger_written_for_the_seed_contract_works() -> None:
    def my_trigger(upstream_states: Iterable[State]) -> bool:
        return all(s.is_successful() for s in upstream_states)

    assert my_trigger(as_upstream_states([Success(), Skipped()])) is True
    assert my_trigger(as_upstream_states([Success(), Failed()])) is False


# -- UpstreamStates is set-like ------------------------------------------------------------
def test_upstream_states_len_and_iteration() -> None:
    a, b, c = Success(), Failed(), Skipped()
    upstream = as_upstream_states([a, b, c])
    assert len(upstream) == 3
    assert {id(s) for s in upstream} == {id(a), id(b), id(c)}


def test_upstream_states_keeps_several_equal_states() -> None:
    a, b = Success(), Success()
    assert a == b
    upstream = as_upstream_states([a, b])
    assert len(upstream) == 2
    assert a in upstream
    assert b in upstream


def test_upstream_states_membership_is_by_identity() -> None:
    a = Success("one", result=1)
    upstream = as_upstream_states([a])
    assert a in upstream
    equal_but_other = Success("two", result=1)
    assert equal_but_other == a
    assert equal_but_other not in upstream


def test_upstream_states_expands_mapped_children() -> None:
    child1, child2 = Success(result=1), Failed()
    mapped = Mapped(map_states=[child1, child2])
    upstream = UpstreamStates({"mapped": mapped, "plain": Skipped()})
    assert len(upstream) == 3
    assert child1 in upstream
    assert child2 in upstream
    assert mapped not in upstream
    # by_edge still shows the parent state for its edge
    assert upstream.by_edge["mapped"] is mapped


def test_upstream_states_empty() -> None:
    upstream = UpstreamStates({})
    assert len(upstream) == 0
    assert list(upstream) == []
    assert dict(upstream.by_edge) == {}


def test_upstream_states_compares_and_converts_like_a_set() -> None:
    a, b = Success(), Failed()
    upstream = as_upstream_states([a, b])
    assert upstream == {a, b}
    assert upstream <= {a, b, Skipped()}
    assert not upstream.isdisjoint({a})
    assert set(upstream) == {a, b}
    assert isinstance(upstream, collections.abc.Set)


@pytest.mark.parametrize("op", ["&", "|", "-", "^"])
def test_upstream_states_set_operators(op: str) -> None:
    a, b, c = Success(), Failed(), Skipped()
    upstream = as_upstream_states([a, b])
    other = {b, c}
    expected = {"&": {b}, "|": {a, b, c}, "-": {a}, "^": {a, c}}[op]
    result = {
        "&": lambda: upstream & other,
        "|": lambda: upstream | other,
        "-": lambda: upstream - other,
        "^": lambda: upstream ^ other,
    }[op]()
    assert set(result) == expected


def test_by_edge_maps_each_edge_to_its_state() -> None:
    a, b = Success(), Failed()
    upstream = UpstreamStates({"x": a, "y": b})
    assert set(upstream.by_edge) == {"x", "y"}
    assert upstream.by_edge["x"] is a
    assert upstream.by_edge["y"] is b


def test_by_edge_is_read_only() -> None:
    upstream = UpstreamStates({"x": Success()})
    view = upstream.by_edge
    with pytest.raises(TypeError):
        view["y"] = Failed()  # type: ignore[index]
    with pytest.raises(TypeError):
        del view["x"]  # type: ignore[attr-defined]
    assert set(upstream.by_edge) == {"x"}


# -- some_successful / some_failed bounds --------------------------------------------------
@pytest.mark.parametrize(
    ("at_least", "at_most", "states", "expected"),
    [
        # int bounds are counts
        (2, None, [Success(), Success(), Failed()], PASS),
        (3, None, [Success(), Success(), Failed()], TFAIL),
        (None, 1, [Success(), Failed(), Failed()], PASS),
        (None, 1, [Success(), Success(), Failed()], TFAIL),
        (0, 0, [Failed(), Failed()], PASS),
        (0, 0, [Success(), Failed()], TFAIL),
        # float bounds are fractions of the upstream states
        (0.5, None, [Success(), Failed()], PASS),
        (0.5, None, [Success(), Failed(), Failed()], TFAIL),
        (1.0, None, [Success(), Skipped()], PASS),
        (1.0, None, [Success(), Failed()], TFAIL),
        (None, 0.0, [Failed(), Failed()], PASS),
        (None, 0.0, [Success(), Failed()], TFAIL),
        (0.25, 0.75, [Success(), Success(), Failed(), Failed()], PASS),
        (0.25, 0.75, [Success(), Success(), Success(), Success()], TFAIL),
        # a count and a fraction together
        (1, 0.5, [Success(), Failed(), Failed()], PASS),
        (1, 0.5, [Success(), Success(), Failed()], TFAIL),
        # no bounds: always passes
        (None, None, [], PASS),
        (None, None, [Failed()], PASS),
    ],
)
def test_some_successful_bounds(
    at_least: float | None, at_most: float | None, states: list[State], expected: str
) -> None:
    check(triggers.some_successful(at_least=at_least, at_most=at_most), states, expected)


@pytest.mark.parametrize(
    ("at_least", "at_most", "states", "expected"),
    [
        (1, None, [Success(), TriggerFailed()], PASS),
        (1, None, [Success(), Skipped()], TFAIL),
        (None, 1, [Failed(), TimedOut(), Success()], TFAIL),
        (0.5, None, [Failed(), Success()], PASS),
        (0.6, None, [Failed(), Success()], TFAIL),
        (None, 0.5, [Failed(), Success()], PASS),
        (None, 0.4, [Failed(), Success()], TFAIL),
    ],
)
def test_some_failed_bounds(
    at_least: float | None, at_most: float | None, states: list[State], expected: str
) -> None:
    check(triggers.some_failed(at_least=at_least, at_most=at_most), states, expected)


def test_counting_triggers_have_their_names() -> None:
    assert triggers.some_successful(at_least=1).__name__ == "some_successful"
    assert triggers.some_failed(at_least=1).__name__ == "some_failed"


def test_counting_triggers_accept_positional_bounds() -> None:
    assert triggers.some_successful(1, 2)([Success(), Failed()]) is True
    with pytest.raises(signals.TRIGGERFAIL):
        triggers.some_failed(2, 3)([Success(), Failed()])


@pytest.mark.parametrize("factory", [triggers.some_successful, triggers.some_failed])
@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"at_least": True}, TypeError, ["at_least"]),
        ({"at_most": False}, TypeError, ["at_most"]),
        ({"at_least": "1"}, TypeError, ["at_least"]),
        ({"at_most": [1]}, TypeError, ["at_most"]),
        ({"at_least": 1.5}, ValueError, ["at_least"]),
        ({"at_most": 2.0}, ValueError, ["at_most"]),
        ({"at_least": -0.5}, ValueError, ["at_least"]),
        ({"at_least": float("nan")}, ValueError, ["at_least"]),
        ({"at_least": -1}, ValueError, ["at_least"]),
        ({"at_most": -3}, ValueError, ["at_most"]),
        ({"at_least": 3, "at_most": 1}, ValueError, ["at_least", "at_most"]),
        ({"at_least": 0.9, "at_most": 0.1}, ValueError, ["at_least", "at_most"]),
    ],
)
def test_bound_validation(
    factory: Callable[..., Any],
    kwargs: dict[str, Any],
    error: type[Exception],
    names: list[str],
) -> None:
    with pytest.raises(error) as info:
        factory(**kwargs)
    message = str(info.value)
    assert factory.__name__ in message
    for name in names:
        assert name in message


def test_bound_validation_happens_when_the_trigger_is_built() -> None:
    # A bad bound is an error at flow-building time, not when the task runs.
    with pytest.raises(ValueError):
        triggers.some_successful(at_least=5, at_most=2)


@pytest.mark.parametrize("bounds", [{"at_least": 0}, {"at_least": 0.0}, {"at_most": 1.0}])
def test_edge_bounds_are_allowed(bounds: dict[str, float]) -> None:
    assert triggers.some_successful(**bounds)([Success(), Failed()]) is True
