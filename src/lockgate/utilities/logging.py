"""lockgate's loggers, and an opt-in way to see them.

Everything lockgate logs goes to standard-library loggers under ``lockgate``:
``lockgate.flow.<flow name>`` for a flow run, ``lockgate.task.<task name>`` for each
task (``lockgate.context.logger`` inside a task is that task's logger), and other
children for the engine's parts. Importing lockgate configures nothing: records go
wherever your application's logging sends them. To print them with lockgate's level
and format (the ``[logging]`` settings), call :func:`configure_logging` once::

    from lockgate.utilities.logging import configure_logging, get_logger

    configure_logging()                  # a stderr handler on the "lockgate" logger
    get_logger("my_module").info("hi")   # logged as "lockgate.my_module"
"""

from __future__ import annotations

import logging
import time

__all__ = ["ROOT_LOGGER_NAME", "configure_logging", "get_logger"]

ROOT_LOGGER_NAME = "lockgate"
"""The name of the logger every lockgate logger descends from."""

_TEST_LOGGER_NAME = "lockgate-test-logger"


class _LockgateHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler :func:`configure_logging` adds (so calling it again replaces it)."""


def configure_logging(testing: bool = False) -> logging.Logger:
    """Give the ``lockgate`` logger a stderr handler with the configured level and format.

    Reads ``lockgate.config.logging.level`` and ``lockgate.config.logging.format``
    (times in the format are UTC). Calling it again replaces the handler it added
    before, so records are never printed twice; handlers you added yourself are kept.

    Args:
        testing: configure a separate logger (``lockgate-test-logger``) instead, so a
            test can inspect the result without touching the real one.

    Returns:
        The configured logger.

    Raises:
        ValueError: when ``logging.level`` is not a logging level name.
    """
    from lockgate.configuration import config

    logger = logging.getLogger(_TEST_LOGGER_NAME if testing else ROOT_LOGGER_NAME)
    for old in [h for h in logger.handlers if isinstance(h, _LockgateHandler)]:
        logger.removeHandler(old)
    handler = _LockgateHandler()
    formatter = logging.Formatter(config.logging.format)
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    level = config.logging.level
    logger.setLevel(level.upper() if isinstance(level, str) else level)
    return logger


def get_logger(name: str | None = None) -> logging.Logger:
    """Return the ``lockgate`` logger, or its child ``lockgate.<name>``.

    This only looks loggers up; it configures nothing (see :func:`configure_logging`).

    Args:
        name: the child's name; ``None`` returns the ``lockgate`` logger itself.

    Returns:
        The logger.
    """
    root = logging.getLogger(ROOT_LOGGER_NAME)
    return root if name is None else root.getChild(name)
