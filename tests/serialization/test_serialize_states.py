"""Every state class, lockgate's own included, survives a JSON round trip."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import marshmallow
import pytest

import lockgate
from lockgate.engine import state as states
from lockgate.engine.result import NoResult, Result, SafeResult
from lockgate.engine.result_handlers import JSONResultHandler, LocalResultHandler
from lockgate.serialization.state import StateSchema

STATE_CLASSES = sorted(
    (
        cls
        for cls in vars(states).values()
        if isinstance(cls, type)
        and issubclass(cls, states.State)
        and cls not in (states.State, states.MetaState)
    ),
    key=lambda cls: cls.__name__,
)
PLAIN_CLASSES = [cls for cls in STATE_CLASSES if cls is not states.Mapped]
NOON = datetime(2031, 5, 17, 12, 30, tzinfo=timezone.utc)


def round_trip(state: states.State) -> Any:
    """Through JSON text, as a file or a database column would carry it."""
    return StateSchema().load(json.loads(json.dumps(state.serialize())))


def test_every_state_class_has_a_schema_including_lockgates_own() -> None:
    assert set(StateSchema.type_schemas) == {cls.__name__ for cls in STATE_CLASSES}
    assert "Cancelled" in StateSchema.type_schemas


@pytest.mark.parametrize("cls", PLAIN_CLASSES, ids=lambda c: c.__name__)
def test_each_state_round_trips_with_its_class_and_message(cls: type[states.State]) -> None:
    original = cls(message="halfway through the batch")
    data = original.serialize()
    assert data["type"] == cls.__name__
    assert data["__version__"] == lockgate.__version__
    loaded = round_trip(original)
    assert type(loaded) is cls
    assert loaded.message == "halfway through the batch"
    assert loaded == original


@pytest.mark.parametrize("cls", PLAIN_CLASSES, ids=lambda c: c.__name__)
def test_a_value_never_stored_is_written_as_no_result(cls: type[states.State]) -> None:
    data = cls(message="m", result={"rows": 3}).serialize()
    assert data["_result"]["type"] == "NoResultType"
    assert round_trip(cls(result={"rows": 3})).result is NoResult


@pytest.mark.parametrize("cls", PLAIN_CLASSES, ids=lambda c: c.__name__)
def test_a_stored_result_keeps_its_location_and_handler(cls: type[states.State]) -> None:
    result = Result([1, 2, 3], JSONResultHandler())
    result.store_safe_value()
    data = cls(result=result).serialize()
    assert data["_result"] == {
        "type": "SafeResult",
        "value": "[1, 2, 3]",
        "result_handler": {"type": "JSONResultHandler", "__version__": lockgate.__version__},
        "__version__": lockgate.__version__,
    }
    loaded = round_trip(cls(result=result))
    assert loaded._result == SafeResult("[1, 2, 3]", JSONResultHandler())
    assert loaded._result.to_result().value == [1, 2, 3]


def test_a_local_file_result_reads_back_after_loading(tmp_path: Any) -> None:
    result = Result({"total": 42}, LocalResultHandler(tmp_path))
    result.store_safe_value()
    loaded = round_trip(states.Success(result=result))
    assert loaded._result.result_handler == LocalResultHandler(tmp_path)
    assert loaded._result.to_result().value == {"total": 42}


def test_scheduled_and_retrying_keep_their_times_and_counts() -> None:
    retrying = states.Retrying(start_time=NOON, run_count=4)
    loaded = round_trip(retrying)
    assert loaded.start_time == NOON
    assert loaded.run_count == 4
    assert round_trip(states.Resume(start_time=NOON)).start_time == NOON


def test_cached_keeps_parameters_expiry_and_stored_inputs() -> None:
    handler = JSONResultHandler()
    cached = states.Cached(
        result=SafeResult('"abc"', handler),
        cached_inputs={"x": SafeResult("1", handler)},
        cached_parameters={"region": "eu", "limit": [1, 2]},
        cached_result_expiration=NOON + timedelta(hours=1),
    )
    loaded = round_trip(cached)
    assert loaded == cached
    assert loaded.cached_inputs == {"x": SafeResult("1", handler)}
    assert loaded.cached_result_expiration == NOON + timedelta(hours=1)


def test_inputs_that_were_never_stored_keep_their_name_as_no_result() -> None:
    handler = JSONResultHandler()
    failed = states.Failed(cached_inputs={"kept": SafeResult("7", handler), "plain": object()})
    assert round_trip(failed).cached_inputs == {"kept": SafeResult("7", handler), "plain": NoResult}


def test_meta_states_carry_the_wrapped_state() -> None:
    queued = states.Queued(state=states.Retrying(start_time=NOON, run_count=2))
    loaded = round_trip(queued)
    assert type(loaded.state) is states.Retrying
    assert loaded.state.run_count == 2
    assert loaded.state.start_time == NOON
    assert type(round_trip(states.Submitted(state=states.Pending())).state) is states.Pending


def test_mapped_is_written_with_its_child_count_only() -> None:
    mapped = states.Mapped(
        message="3 children", map_states=[states.Success(result=i) for i in range(3)]
    )
    data = mapped.serialize()
    assert data["n_map_states"] == 3
    assert "map_states" not in data and "_result" not in data
    loaded = round_trip(mapped)
    assert type(loaded) is states.Mapped
    assert loaded.map_states == [None, None, None]


def test_a_document_without_type_or_with_an_unknown_type_is_refused() -> None:
    with pytest.raises(marshmallow.ValidationError, match="type"):
        StateSchema().load({"message": "no type"})
    with pytest.raises(marshmallow.ValidationError, match="Exploded"):
        StateSchema().load({"type": "Exploded"})


def test_unknown_fields_from_a_newer_version_are_ignored() -> None:
    loaded = StateSchema().load({"type": "Running", "message": "m", "progress": 0.5})
    assert type(loaded) is states.Running
    assert loaded.message == "m"


def test_a_stored_result_that_is_not_json_is_refused() -> None:
    bad = states.Success(result=SafeResult({"when": NOON}, JSONResultHandler()))
    with pytest.raises(marshmallow.ValidationError, match="JSON-compatible"):
        bad.serialize()
