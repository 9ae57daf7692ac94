"""lockgate.utilities.executors: calls with a time limit, and heartbeats.

No sleeps: slow calls block on an Event (or a file that never appears) and the limits
are a few hundredths of a second.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from lockgate.engine.executors import LocalExecutor, TaskTimeoutError
from lockgate.utilities.executors import (
    Heartbeat,
    main_thread_timeout,
    multiprocessing_timeout,
    run_with_heartbeat,
    thread_timeout,
)

SAFETY = 30.0
HELPERS = [thread_timeout, main_thread_timeout, multiprocessing_timeout]


def divide(a: int, b: int = 1) -> float:
    return a / b


@pytest.mark.parametrize("limit", HELPERS)
def test_every_helper_returns_the_result_and_passes_arguments(limit: Any) -> None:
    assert limit(divide, 9, timeout=SAFETY, b=3) == 3.0
    assert limit(divide, 9, b=3) == 3.0  # no timeout: a plain call


@pytest.mark.parametrize("limit", HELPERS)
def test_every_helper_raises_the_calls_own_exception(limit: Any) -> None:
    with pytest.raises(ZeroDivisionError):
        limit(divide, 1, timeout=SAFETY, b=0)
    with pytest.raises(TypeError):
        limit(divide, timeout=SAFETY)  # a missing argument is the call's error too


def test_without_a_timeout_the_call_runs_right_here() -> None:
    here = threading.get_ident(), os.getpid()
    for limit in HELPERS:
        assert limit(lambda: (threading.get_ident(), os.getpid())) == here


def test_thread_timeout_gives_up_on_a_late_call_and_leaves_it_running() -> None:
    release, finished = threading.Event(), threading.Event()

    def late() -> None:
        release.wait(SAFETY)
        finished.set()

    with pytest.raises(TaskTimeoutError, match=r"0\.02 s"):
        thread_timeout(late, timeout=0.02)
    assert isinstance(TaskTimeoutError(), TimeoutError)
    release.set()
    assert finished.wait(SAFETY)  # soft: the abandoned call ran on to its end


def test_main_thread_timeout_interrupts_the_call_and_restores_the_alarm_handler() -> None:
    def mine(signum: int, frame: Any) -> None:
        raise AssertionError("the previous handler must not fire")

    before = signal.signal(signal.SIGALRM, mine)
    try:
        reached_the_end = []

        def late() -> None:
            threading.Event().wait(SAFETY)  # interrupted by SIGALRM
            reached_the_end.append(True)

        with pytest.raises(TaskTimeoutError):
            main_thread_timeout(late, timeout=0.02)
        assert reached_the_end == []
        assert signal.getsignal(signal.SIGALRM) is mine
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    finally:
        signal.signal(signal.SIGALRM, before)


def test_main_thread_timeout_outside_the_main_thread_falls_back_to_a_thread() -> None:
    outcome: list[Any] = []

    def in_a_thread() -> None:
        try:
            main_thread_timeout(threading.Event().wait, SAFETY, timeout=0.02)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=in_a_thread)
    worker.start()
    worker.join(SAFETY)
    assert len(outcome) == 1 and isinstance(outcome[0], TaskTimeoutError)


def _write_pid_then_wait(path: str) -> None:
    Path(path).write_text(str(os.getpid()))
    threading.Event().wait(SAFETY)


def test_multiprocessing_timeout_kills_the_child_at_the_deadline(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    with pytest.raises(TaskTimeoutError):
        multiprocessing_timeout(_write_pid_then_wait, str(pid_file), timeout=2.0)
    pid = int(pid_file.read_text())
    assert pid != os.getpid()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # reaped: it no longer exists


def test_multiprocessing_timeout_runs_lambdas_in_another_process() -> None:
    assert multiprocessing_timeout(lambda: os.getpid(), timeout=SAFETY) != os.getpid()


def test_executor_timeout_handler_is_the_thread_timeout() -> None:
    assert LocalExecutor().timeout_handler(divide, 8, timeout=SAFETY, b=2) == 4.0
    with pytest.raises(TaskTimeoutError):
        LocalExecutor().timeout_handler(threading.Event().wait, SAFETY, timeout=0.02)


def test_heartbeat_repeats_until_cancelled() -> None:
    beats: list[int] = []
    third = threading.Event()

    def beat(label: str) -> None:
        beats.append(len(beats))
        if len(beats) == 3:
            third.set()

    timer = Heartbeat(0.001, beat, args=("x",))
    timer.start()
    assert third.wait(SAFETY)
    timer.cancel()
    timer.join(SAFETY)
    count = len(beats)
    assert count >= 3 and not timer.is_alive()


class Runner:
    def __init__(self, broken: bool = False) -> None:
        self.beats = 0
        self.broken = broken

    def _heartbeat(self) -> None:
        self.beats += 1
        if self.broken:
            raise OSError("the heartbeat endpoint is down")

    @run_with_heartbeat
    def run(self, value: int) -> int:
        """Run it."""
        return value * 2


def test_run_with_heartbeat_beats_at_the_start_and_survives_a_broken_heartbeat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runner = Runner()
    assert runner.run(21) == 42
    assert runner.beats >= 1
    assert Runner.run.__doc__ == "Run it."
    broken = Runner(broken=True)
    assert broken.run(1) == 2
    assert "Heartbeat" in caplog.text and "endpoint is down" in caplog.text
