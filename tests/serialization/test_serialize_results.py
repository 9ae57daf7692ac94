"""Results and result handlers: what is written and what loads back."""

from __future__ import annotations

import json
from pathlib import Path

import marshmallow
import pytest

import lockgate
from lockgate.engine.cloud.result_handler import CloudResultHandler
from lockgate.engine.result import NoResult, Result, SafeResult
from lockgate.engine.result_handlers import (
    GCSResultHandler,
    LocalResultHandler,
    S3ResultHandler,
)
from lockgate.serialization.result import SafeResultSchema, StateResultSchema
from lockgate.serialization.result_handlers import ResultHandlerSchema
from lockgate.utilities.exceptions import CloudUnavailableError


def test_local_handler_keeps_its_directory(tmp_path: Path) -> None:
    schema = ResultHandlerSchema()
    data = schema.dump(LocalResultHandler(tmp_path))
    assert data == {
        "type": "LocalResultHandler",
        "dir": str(tmp_path),
        "__version__": lockgate.__version__,
    }
    assert schema.load(data) == LocalResultHandler(tmp_path)
    assert schema.load({"type": "LocalResultHandler"}).dir is None


def test_a_safe_result_round_trips_and_reads_its_file(tmp_path: Path) -> None:
    result = Result(["a", "b"], LocalResultHandler(tmp_path))
    result.store_safe_value()
    data = json.loads(json.dumps(SafeResultSchema().dump(result.safe_value)))
    loaded = SafeResultSchema().load(data)
    assert loaded == result.safe_value
    assert loaded.to_result().value == ["a", "b"]


def test_no_result_round_trips_to_the_singleton() -> None:
    schema = StateResultSchema()
    assert schema.load(schema.dump(NoResult)) is NoResult


def test_an_in_memory_result_is_refused_with_a_clear_error() -> None:
    with pytest.raises(marshmallow.ValidationError, match="Unsupported type 'Result'"):
        StateResultSchema().dump(Result(3))


def test_a_safe_result_needs_a_handler_to_load() -> None:
    data = SafeResultSchema().dump(SafeResult("x", None))  # type: ignore[arg-type]
    with pytest.raises(marshmallow.ValidationError, match="result_handler"):
        SafeResultSchema().load(data)


def test_the_cloud_handler_loads_but_cannot_be_used() -> None:
    schema = ResultHandlerSchema()
    handler = schema.load(schema.dump(CloudResultHandler("https://results.example")))
    assert isinstance(handler, CloudResultHandler)
    assert handler.result_handler_service == "https://results.example"
    with pytest.raises(CloudUnavailableError, match="no Prefect Cloud"):
        handler.write(1)
    with pytest.raises(CloudUnavailableError, match="LocalResultHandler"):
        handler.read("anything")


@pytest.mark.parametrize("cls", [GCSResultHandler, S3ResultHandler])
def test_third_party_handlers_say_they_are_not_included(cls: type) -> None:
    with pytest.raises(ImportError, match="not part of lockgate"):
        cls(bucket="b")
    with pytest.raises(ImportError, match="LocalResultHandler"):
        ResultHandlerSchema().load({"type": cls.__name__, "bucket": "b"})
