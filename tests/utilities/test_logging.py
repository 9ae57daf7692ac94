"""lockgate.utilities.logging: loggers under "lockgate", configured only on request."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from lockgate import Flow, context, task
from lockgate.utilities.configuration import set_temporary_config
from lockgate.utilities.logging import configure_logging, get_logger


@pytest.fixture
def test_logger() -> Iterator[None]:
    yield
    logging.getLogger("lockgate-test-logger").handlers = []


def test_importing_lockgate_configures_no_logging() -> None:
    probe = (
        "import json, logging, lockgate\n"
        "root, ours = logging.getLogger(), logging.getLogger('lockgate')\n"
        "print(json.dumps([len(root.handlers), len(ours.handlers), ours.level]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == [0, 0, logging.NOTSET]


def test_get_logger_names() -> None:
    assert get_logger() is logging.getLogger("lockgate")
    assert get_logger("reports") is logging.getLogger("lockgate.reports")
    assert not get_logger("reports").handlers  # looking up configures nothing


@pytest.mark.usefixtures("test_logger")
def test_configure_logging_uses_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    with set_temporary_config(
        {"logging.level": "warning", "logging.format": "%(asctime)s|%(levelname)s|%(message)s"}
    ):
        logger = configure_logging(testing=True)
    assert logger.name == "lockgate-test-logger"
    assert logger.level == logging.WARNING
    logger.info("hidden")
    logger.warning("shown")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\|WARNING\|shown", lines[0])
    formatter = logger.handlers[0].formatter
    assert formatter is not None
    assert formatter.converter is time.gmtime  # times are UTC


@pytest.mark.usefixtures("test_logger")
def test_configuring_again_replaces_its_own_handler_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logger = logging.getLogger("lockgate-test-logger")
    mine = logging.NullHandler()
    logger.addHandler(mine)
    configure_logging(testing=True)
    configure_logging(testing=True)
    assert len(logger.handlers) == 2
    assert mine in logger.handlers
    logger.warning("once")
    assert capsys.readouterr().err.count("once") == 1


def test_task_records_go_to_per_task_children(caplog: pytest.LogCaptureFixture) -> None:
    @task
    def greet() -> None:
        context.logger.info("hello")

    caplog.set_level(logging.INFO, logger="lockgate")
    with Flow("greeting") as flow:
        greet()
    flow.run()
    names = {r.name for r in caplog.records if r.getMessage() == "hello"}
    assert names == {"lockgate.task.greet"}
