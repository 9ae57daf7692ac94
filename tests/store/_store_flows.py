"""Flows shared by the store tests and the child processes they start.

Run as a script it is the child: ``python _store_flows.py MODE URL HOME [ARGS]``.

* ``wide URL HOME N``: open the store, print ``ready <run id>``, wait for a line on
  stdin, run a flow of N tasks (a root, N-2 mapped-free middle tasks, a reducer),
  print ``done <run id> <state>``.
* ``crash URL HOME FIFO``: run :func:`crash_flow`; its ``wait`` task flushes the
  recorder, prints ``waiting <run id>`` and blocks reading FIFO (the test kills the
  process with SIGKILL while it blocks).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lockgate import Flow, Task, task

CALLS: dict[str, int] = {}
"""Calls per task name in this process (tests check what ran again)."""


def hit(name: str) -> None:
    CALLS[name] = CALLS.get(name, 0) + 1


class Inc(Task):
    def run(self, x: int) -> int:
        return x + 1


class Zero(Task):
    def run(self) -> int:
        return 0


class SumAll(Task):
    def run(self, **values: int) -> int:
        return sum(values.values())


def wide_flow(n: int) -> Flow:
    """A root, ``n`` middle tasks and a reducer (W2 of bench_core, smaller)."""
    flow = Flow("wide")
    root = Zero(slug="root")
    reducer = SumAll(slug="reduce")
    flow.add_task(root)
    for i in range(n):
        middle = Inc(slug=f"inc-{i}")
        flow.add_edge(root, middle, key="x")
        flow.add_edge(middle, reducer, key=f"v{i}")
    return flow


def crash_flow(wait_for: Any) -> tuple[Flow, dict[str, Task]]:
    """``numbers`` -> ``double`` mapped over 3 items -> ``total`` -> ``wait``.

    ``wait_for(total)`` is the body of the last task (blocks in the child; returns at
    once in the test that restarts the run).
    """

    @task
    def numbers() -> list[int]:
        hit("numbers")
        return [1, 2, 3]

    @task
    def double(x: int) -> int:
        hit("double")
        return 2 * x

    @task
    def total(xs: list[int]) -> int:
        hit("total")
        return sum(xs)

    @task
    def wait(t: int) -> int:
        hit("wait")
        return int(wait_for(t))

    with Flow("crashy") as flow:
        n = numbers()
        d = double.map(n)
        t = total(d)
        w = wait(t)
    return flow, {"numbers": n, "double": d, "total": t, "wait": w}


def _child(argv: list[str]) -> None:
    from lockgate.store import RunStore

    mode, url, home = argv[0], argv[1], Path(argv[2])
    store = RunStore.open(url, home=home)
    if mode == "wide":
        flow = wide_flow(int(argv[3]))
        recorder = store.recorder(source="_store_flows.py:wide")
        print("ready", recorder.flow_run_id, flush=True)
        sys.stdin.readline()
        state = flow.run(store=recorder)
        print("done", recorder.flow_run_id, type(state).__name__, recorder.error, flush=True)
    elif mode == "crash":
        fifo = argv[3]
        recorder = store.recorder(source="_store_flows.py:crash")

        def block(t: int) -> int:
            assert recorder.flush(timeout=60), "the writer did not commit in time"
            print("waiting", recorder.flow_run_id, flush=True)
            with open(fifo) as f:  # blocks until the test opens the FIFO (it never does)
                f.read()
            return t

        flow, _ = crash_flow(block)
        flow.run(store=recorder)
        print("finished (the test should have killed this process)", flush=True)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    store.close()


if __name__ == "__main__":
    _child(sys.argv[1:])
