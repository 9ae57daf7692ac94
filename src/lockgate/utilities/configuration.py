"""Change settings for a block of code: :func:`set_temporary_config`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from lockgate.configuration import Config

__all__ = ["set_temporary_config"]


@contextmanager
def set_temporary_config(temp_config: Mapping[str, Any]) -> Iterator[Config]:
    """Set some of ``lockgate.config`` for the ``with`` block, then restore all of it.

    Keys are dotted paths; sections are created as needed, so new settings can be
    invented too. Everything in ``lockgate.config`` (including changes made inside
    the block) is put back as it was when the block ends, even after an exception::

        from datetime import timedelta
        from lockgate.utilities.configuration import set_temporary_config

        with set_temporary_config({"tasks.defaults.max_retries": 2,
                                   "tasks.defaults.retry_delay": timedelta(seconds=5)}):
            flaky = FlakyTask()      # max_retries=2 unless it says otherwise

    The settings are process-wide, not per thread: use this in tests and scripts,
    not to give concurrent runs different settings.

    Args:
        temp_config: dotted setting paths and the values to give them.

    Returns:
        A context manager; entering it returns ``lockgate.config``.
    """
    from lockgate.configuration import config

    saved = config.copy()
    try:
        for key, value in temp_config.items():
            config.set_nested(key, value)
        yield config
    finally:
        # Restore in place: modules hold references to this very object.
        config.__dict__.clear()
        config.__dict__.update(saved.__dict__)
