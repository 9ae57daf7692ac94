"""Debugging helpers: re-raise task errors, and check that an object travels."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from lockgate.utilities.context import context

__all__ = ["is_serializable", "raise_on_exception"]

_LOAD_SCRIPT = (
    "import sys, cloudpickle\nwith open(sys.argv[1], 'rb') as f:\n    cloudpickle.load(f)\n"
)


def is_serializable(obj: Any, raise_on_error: bool = False) -> bool:
    """Check that ``obj`` pickles here and unpickles in a fresh Python process.

    That is what a task, its inputs and its result need to run on
    :class:`~lockgate.engine.executors.ProcessExecutor` or ``DaskExecutor`` workers:
    an object can pickle fine here and still fail there, e.g. a function pickled by
    reference to a module the fresh process cannot import. The object is pickled
    with cloudpickle and loaded by this interpreter (``sys.executable``) in a child
    process.

    Args:
        obj: the object to check.
        raise_on_error: raise instead of returning False, to see why.

    Returns:
        True when the object made the trip, else False.

    Raises:
        subprocess.CalledProcessError: with ``raise_on_error``, when the fresh process
            could not load it; its ``output`` holds that process's traceback.
        Exception: with ``raise_on_error``, whatever pickling raised here.
    """
    import cloudpickle

    handle, path = tempfile.mkstemp(suffix=".pickle")
    try:
        with os.fdopen(handle, "wb") as file:
            cloudpickle.dump(obj, file)
        subprocess.run(
            [sys.executable, "-c", _LOAD_SCRIPT, path],
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    except Exception:
        if raise_on_error:
            raise
        return False
    finally:
        os.unlink(path)
    return True


@contextmanager
def raise_on_exception() -> Iterator[None]:
    """Inside this block, an exception from task code propagates to the caller.

    Signals (FAIL, SKIP, ...) still set states as usual; only unexpected exceptions are
    re-raised, so you can land in a debugger at the failing line::

        with raise_on_exception():
            flow.run()
    """
    with context(raise_on_exception=True):
        yield
