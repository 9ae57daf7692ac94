"""lockgate.utilities.debug.is_serializable: a real round trip through a fresh process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lockgate.utilities.debug import is_serializable


@pytest.mark.parametrize("obj", [42, "text", lambda a, b: a + b, {"rows": [1, 2]}, ValueError])
def test_values_that_travel_are_serializable(obj: Any) -> None:
    assert is_serializable(obj) is True


@pytest.fixture
def local_only_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An instance of a class from a module only this process can import."""
    (tmp_path / "only_here_module.py").write_text("class Settings:\n    level = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import only_here_module

    yield only_here_module.Settings()
    sys.modules.pop("only_here_module", None)


def test_an_object_the_fresh_process_cannot_import_is_not(local_only_object: Any) -> None:
    assert is_serializable(local_only_object) is False


def test_raise_on_error_shows_why(local_only_object: Any) -> None:
    with pytest.raises(subprocess.CalledProcessError) as caught:
        is_serializable(local_only_object, raise_on_error=True)
    assert b"only_here_module" in caught.value.output


def test_an_object_that_does_not_pickle_here_is_not() -> None:
    import threading

    lock = threading.Lock()
    assert is_serializable(lock) is False
    with pytest.raises(TypeError):
        is_serializable(lock, raise_on_error=True)
