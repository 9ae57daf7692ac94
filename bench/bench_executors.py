"""Executor benchmark: parallel speed-up, and lockgate's overhead over Dask on the same graphs.

Three parts, all in one run (``--parts a,b,c``), reported as ratios because the machine is noisy:

(a) **Speed-up** over the LocalExecutor for independent tasks: ``--sleep-tasks`` (64) tasks that
    each ``time.sleep(0.1)`` and ``--cpu-tasks`` (16) CPU-bound tasks of ~0.2 s each (a pure-Python
    loop calibrated at start). Executors: ``ThreadExecutor`` (8 workers for sleep, 2 for CPU),
    ``ProcessExecutor(max_workers=2)``, ``DaskExecutor`` on a ``LocalCluster`` of 2 worker
    processes x 1 thread (and, for sleep, 2 x 4 threads). The ideal speed-up is printed next to
    the measured one: the number of task slots for sleeping tasks, and for CPU-bound ones the
    slots that can use a core at once (1 for threads: the GIL; at most the number of cores).

    ``FlowRunner`` enters ``executor.start()`` itself, inside ``flow.run()``. The Dask cluster is
    started outside the timed run (``DaskExecutor(address=...)``), and its start-up is reported
    on its own. The process pool can only be started by the run, so each executor's *per-run*
    fixed cost is measured separately as a one-task flow run (pool / client start, one trivial
    task, tear-down) and the speed-up is given both including and excluding it.

(b) **Per-task overhead on Dask**: W2 (fan-out/fan-in) and W3 (map + reduce) of
    ``bench_core.py``, built the same way, run with ``DaskExecutor`` against the same graph
    submitted by hand to the *same* ``LocalCluster`` with ``client.submit`` / ``client.map``
    (futures as arguments, then the sink's result), in the same process. Target: lockgate time /
    raw time <= 1.1 at N = 10,000.

(c) **Thread executor overhead**: the same W2/W3 graphs on ``ThreadExecutor(max_workers=K)``
    against ``dask.threaded.get(dsk, keys, num_workers=K)``. Target: ratio <= 1.0.

(b) and (c) also report the CPU time the run used (for (b): the client + scheduler process and
the worker processes), and its ratio: unlike wall time it barely moves when other programs load
the machine, so it shows lockgate's own overhead when the wall-time ratio is noise. The
PASS/FAIL verdicts use wall time, as the issue states them, at N = 10,000 only (INFO elsewhere).
The lockgate tasks are module-level classes, pickled by reference like the raw side's functions.

Each measurement runs in a fresh child process (this script with the hidden ``--child`` flag);
a Dask child starts its own cluster. The best of ``--repeat`` runs is reported; repeats are
interleaved across configurations so a burst of noise does not hit one configuration only.
Every run is checked (all tasks successful, the right values), so a broken run is never timed.
Executors that do not import yet are reported ``SKIP (not available)``.

    python bench/bench_executors.py                          # everything, best of 3
    python bench/bench_executors.py --quick                  # smoke run (make bench-smoke)
    python bench/bench_executors.py --parts b --sizes 2000 --repeat 1 --json out.json

dask, distributed and psutil are bench-only dependencies (``pip install -e '.[bench,dask]'``).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import subprocess
import sys
import time
from typing import Any

import bench_core as core

from lockgate import Task

RESULT_MARK = "@@BENCH-RESULT "

# Targets from the issue.
DASK_RATIO_TARGET = 1.1  # (b) lockgate on DaskExecutor / raw distributed (issue 14; was 1.25)
THREAD_RATIO_TARGET = 1.0  # (c) lockgate on ThreadExecutor / dask.threaded.get
TARGET_N = 10_000
OVERHEAD_WORKLOADS = ("W2", "W3")

# (a) configurations: (name, executor kind, parallel slots, settings).
CORES = os.cpu_count() or 1
DASK_WORKERS = 2
SLEEP_CONFIGS: list[tuple[str, str, dict[str, Any]]] = [
    ("local", "local", {}),
    ("threads", "threads", {"max_workers": 8}),
    ("processes", "processes", {"max_workers": 2}),
    ("dask", "dask", {"n_workers": DASK_WORKERS, "threads_per_worker": 1}),
    ("dask-4t", "dask", {"n_workers": DASK_WORKERS, "threads_per_worker": 4}),
]
CPU_CONFIGS: list[tuple[str, str, dict[str, Any]]] = [
    ("local", "local", {}),
    ("threads", "threads", {"max_workers": 2}),
    ("processes", "processes", {"max_workers": 2}),
    ("dask", "dask", {"n_workers": DASK_WORKERS, "threads_per_worker": 1}),
]
EXECUTOR_KINDS = ("local", "threads", "processes", "dask")
NOOP_RUNS = 3  # the per-run start-up is the best of this many one-task flow runs
WARMUP_N = 200  # (b): a small run of each engine on the fresh cluster before timing


# ---------------------------------------------------------------------------------------------
# Task code.
# ---------------------------------------------------------------------------------------------


def spin(iters: int) -> int:
    """Pure-Python CPU work (holds the GIL the whole time)."""
    total = 0
    for i in range(iters):
        total += i * i % 7
    return total


def calibrate(seconds: float) -> tuple[int, float, float, int]:
    """Loop count for ``spin`` to use about ``seconds`` of CPU time in this process.

    CPU time, not wall time: on a busy machine the wall time of the same loop varies with
    the other processes' load, its CPU time hardly. A short probe gives a first estimate and a
    full-length run corrects it. Returns (iterations, CPU seconds and wall seconds of the last
    run, spin's result).
    """
    iters = 500_000
    for _ in range(3):
        c0, t0 = time.process_time(), time.perf_counter()
        value = spin(iters)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        if abs(cpu - seconds) <= 0.05 * seconds:
            break
        iters = max(1, int(iters * seconds / max(cpu, 1e-6)))
    return iters, cpu, wall, value


def executor_label(kind: str, settings: dict[str, Any]) -> str:
    if kind == "local":
        return "LocalExecutor()"
    if kind == "threads":
        return f"ThreadExecutor({settings['max_workers']})"
    if kind == "processes":
        return f"ProcessExecutor({settings['max_workers']})"
    return f"DaskExecutor {settings['n_workers']}w x {settings['threads_per_worker']}t"


def slots(kind: str, settings: dict[str, Any]) -> int:
    if kind == "local":
        return 1
    if kind == "dask":
        return int(settings["n_workers"] * settings["threads_per_worker"])
    return int(settings["max_workers"])


def ideal_speedup(workload: str, kind: str, settings: dict[str, Any], tasks: int) -> float:
    """Best possible speed-up: tasks run in waves of the slots that can make progress at once."""
    parallel = slots(kind, settings)
    if workload == "cpu":
        if kind in ("local", "threads"):
            parallel = 1  # the GIL: one pure-Python loop at a time in one process
        elif kind == "dask":
            # One process per worker; a worker's threads share its GIL.
            parallel = min(int(settings["n_workers"]), CORES)
        else:
            parallel = min(parallel, CORES)
    waves = math.ceil(tasks / parallel)
    return tasks / waves


# ---------------------------------------------------------------------------------------------
# lockgate tasks. Module-level classes of an importable module, so that cloudpickle sends them
# by reference (as it does the raw side's functions from bench_core) and not by value with every
# call: children run this file as the module ``bench_executors``, not as ``__main__`` (see
# main()). The overhead graphs use the same classes as bench_core's ``lockgate_classes``.
# ---------------------------------------------------------------------------------------------


class Zero(Task):
    def run(self) -> int:
        return 0


class Inc(Task):
    def run(self, x: int) -> int:
        return x + 1


class Range(Task):
    def __init__(self, n: int, **kwargs: Any) -> None:
        self.n = n
        super().__init__(**kwargs)

    def run(self) -> list[int]:
        return list(range(self.n))


class SumList(Task):
    def run(self, values: list[int]) -> int:
        return sum(values)


class SumAll(Task):
    def run(self, **values: int) -> int:
        return sum(values.values())


class SumPlusOne(Task):
    def run(self, **values: int) -> int:
        return sum(values.values()) + 1


class Sleep(Task):
    def __init__(self, seconds: float, index: int, **kwargs: Any) -> None:
        self.seconds = seconds
        self.index = index
        super().__init__(**kwargs)

    def run(self) -> int:
        time.sleep(self.seconds)
        return self.index


class Spin(Task):
    def __init__(self, iters: int, **kwargs: Any) -> None:
        self.iters = iters
        super().__init__(**kwargs)

    def run(self) -> int:
        return spin(self.iters)


class Noop(Task):
    def run(self) -> int:
        return 1


def core_classes() -> dict[str, Any]:
    """The classes ``bench_core.lockgate_build`` expects, by reference (see above)."""
    classes = (Zero, Inc, Range, SumList, SumAll, SumPlusOne)
    return {c.__name__: c for c in classes}


# ---------------------------------------------------------------------------------------------
# Executors (imported lazily: some may not exist yet).
# ---------------------------------------------------------------------------------------------


class NotAvailable(Exception):
    """The executor's module does not import (yet)."""


def make_executor(kind: str, settings: dict[str, Any], address: str | None = None) -> Any:
    try:
        if kind == "local":
            from lockgate.engine.executors import LocalExecutor

            return LocalExecutor()
        if kind == "threads":
            from lockgate.engine.executors.threads import ThreadExecutor

            return ThreadExecutor(max_workers=settings["max_workers"])
        if kind == "processes":
            from lockgate.engine.executors.processes import ProcessExecutor

            return ProcessExecutor(max_workers=settings["max_workers"])
        if kind == "dask":
            from lockgate.engine.executors.dask import DaskExecutor

            # Results straight from the workers (reachable on loopback), as DaskExecutor
            # does by default on a LocalCluster of its own.
            return DaskExecutor(address=address, client_kwargs={"direct_to_workers": True})
    except ImportError as exc:
        raise NotAvailable(f"{type(exc).__name__}: {exc}") from None
    raise ValueError(kind)


def executor_available(kind: str) -> str | None:
    """None if the executor's module imports, else why not (checked in a child: no side effects)."""
    module, name = {
        "local": ("lockgate.engine.executors", "LocalExecutor"),
        "threads": ("lockgate.engine.executors.threads", "ThreadExecutor"),
        "processes": ("lockgate.engine.executors.processes", "ProcessExecutor"),
        "dask": ("lockgate.engine.executors.dask", "DaskExecutor"),
    }[kind]
    proc = subprocess.run(
        [sys.executable, "-c", f"from {module} import {name}"], capture_output=True, text=True
    )
    if proc.returncode == 0:
        return None
    lines = proc.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit {proc.returncode}"


def start_cluster(n_workers: int, threads_per_worker: int) -> tuple[Any, float]:
    """A LocalCluster of worker processes on loopback, and how long it took to start."""
    from distributed import LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    return cluster, time.perf_counter() - t0


def cpu_now() -> float:
    """CPU seconds used so far by this process and its live child processes.

    A LocalCluster runs its scheduler in this process (with the client) and its workers as
    child processes, so the difference over a run is the whole cluster's CPU for it: a figure
    that, unlike wall time, hardly moves when other programs load the machine.
    """
    import psutil

    me = psutil.Process()
    total = float(sum(me.cpu_times()[:2]))
    for child in me.children(recursive=True):
        try:
            total += float(sum(child.cpu_times()[:2]))
        except psutil.Error:
            pass
    return total


def wait_scheduler_idle(client: Any, timeout: float = 30.0) -> None:
    """Wait until the scheduler has forgotten every task (released futures are gone)."""

    def count(dask_scheduler: Any) -> int:
        return len(dask_scheduler.tasks)

    deadline = time.monotonic() + timeout
    while client.run_on_scheduler(count) and time.monotonic() < deadline:
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# (a) speed-up: independent tasks.
# ---------------------------------------------------------------------------------------------


def speedup_classes() -> dict[str, Any]:
    return {"Sleep": Sleep, "Spin": Spin, "Noop": Noop}


def independent_flow(spec: dict[str, Any], classes: dict[str, Any]) -> tuple[Any, list[Any]]:
    from lockgate import Flow

    flow = Flow(f"bench-{spec['workload']}")
    tasks = []
    for i in range(spec["tasks"]):
        if spec["workload"] == "sleep":
            t = classes["Sleep"](spec["seconds"], i, name=f"sleep-{i}")
        else:
            t = classes["Spin"](spec["iters"], name=f"spin-{i}")
        flow.add_task(t)
        tasks.append(t)
    return flow, tasks


def check_independent(spec: dict[str, Any], state: Any, tasks: list[Any]) -> str | None:
    if not state.is_successful():
        return f"flow state is {state!r}, not successful"
    states = state.result
    for i, t in enumerate(tasks):
        st = states.get(t)
        if st is None or not st.is_successful():
            return f"{t!r} ended {st!r}"
        want = i if spec["workload"] == "sleep" else spec["expected"]
        if st.result != want:
            return f"{t!r} returned {st.result!r}, not {want!r}"
    return None


def noop_run(executor: Any, classes: dict[str, Any]) -> float:
    """Time of a one-task flow run: the executor's per-run fixed cost (start, 1 call, stop)."""
    from lockgate import Flow

    flow = Flow("bench-noop")
    flow.add_task(classes["Noop"]())
    t0 = time.perf_counter()
    state = flow.run(executor=executor)
    elapsed = time.perf_counter() - t0
    if not state.is_successful():
        raise RuntimeError(f"the one-task flow run ended {state!r}")
    return elapsed


def measure_speedup(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    classes = speedup_classes()
    kind, settings = spec["kind"], spec["settings"]
    cluster = None
    try:
        address = None
        if kind == "dask":
            cluster, out["cluster_start_s"] = start_cluster(
                settings["n_workers"], settings["threads_per_worker"]
            )
            address = cluster.scheduler_address
        executor = make_executor(kind, settings, address)
        out["executor"] = repr(executor)
        noop_run(executor, classes)  # warm-up: imports on workers, the fork server
        out["startup_s"] = min(noop_run(executor, classes) for _ in range(NOOP_RUNS))
        flow, tasks = independent_flow(spec, classes)
        t0 = time.perf_counter()
        state = flow.run(executor=executor)
        out["run_s"] = time.perf_counter() - t0
        out["error"] = check_independent(spec, state, tasks)
    finally:
        if cluster is not None:
            cluster.close()
    return out


# ---------------------------------------------------------------------------------------------
# (b) DaskExecutor against raw distributed on the same LocalCluster.
# ---------------------------------------------------------------------------------------------


def raw_distributed(client: Any, workload: str, n: int) -> tuple[float, float, Any, Any]:
    """Submit W2/W3 with futures as arguments; time until the sink's result is back.

    Returns (seconds, CPU seconds, sink value, the middle futures) -- the middle results are
    checked after the clock stops.
    """
    c0 = cpu_now()
    t0 = time.perf_counter()
    if workload == "W2":
        root = client.submit(core.zero, pure=False)
        middle = client.map(core.inc, [root] * n, pure=False)
    elif workload == "W3":
        root = client.submit(core.make_range, n, pure=False)
        middle = client.map(core.inc_item, [root] * n, range(n), pure=False)
    else:
        raise ValueError(workload)
    sink = client.submit(core.sum_list, middle, pure=False)
    value = sink.result()
    elapsed = time.perf_counter() - t0
    return elapsed, cpu_now() - c0, value, middle


def check_raw(workload: str, n: int, client: Any, value: Any, middle: Any) -> str | None:
    ref = core.reference(workload, n)
    if value != ref["final"]:
        return f"final value {value!r} != {ref['final']!r}"
    got = client.gather(middle)
    want = [ref["middle"]] * n if workload == "W2" else ref["children"]
    return None if got == want else f"{workload} middle results differ from the reference"


def measure_dask_overhead(spec: dict[str, Any]) -> dict[str, Any]:
    from distributed import Client

    workload, n = spec["workload"], spec["n"]
    out: dict[str, Any] = {"tasks": core.task_count(workload, n)}
    cluster, out["cluster_start_s"] = start_cluster(DASK_WORKERS, 1)
    client = Client(cluster.scheduler_address, set_as_default=False)  # type: ignore[no-untyped-call]
    try:
        try:
            executor = make_executor("dask", {}, cluster.scheduler_address)
        except NotAvailable as exc:
            executor = None
            out["lockgate_error"] = f"SKIP (not available): {exc}"
        classes = core_classes()

        def run_raw(size: int) -> tuple[float, float, str | None]:
            elapsed, cpu, value, middle = raw_distributed(client, workload, size)
            error = check_raw(workload, size, client, value, middle)
            del middle
            wait_scheduler_idle(client)
            return elapsed, cpu, error

        def run_lockgate(size: int) -> tuple[float, float, float, str | None]:
            t0 = time.perf_counter()
            flow, handles = core.lockgate_build(workload, size, None, classes)
            c1 = cpu_now()
            t1 = time.perf_counter()
            state = flow.run(executor=executor)
            t2 = time.perf_counter()
            cpu = cpu_now() - c1
            error = core.lockgate_check(
                workload, size, state, handles, core.reference(workload, size)
            )
            wait_scheduler_idle(client)
            return t1 - t0, t2 - t1, cpu, error

        # Warm up both engines on this fresh cluster (worker imports, cloudpickle caches).
        run_raw(WARMUP_N)
        if executor is not None:
            run_lockgate(WARMUP_N)
            noop_classes = speedup_classes()
            out["lockgate_startup_s"] = min(
                noop_run(executor, noop_classes) for _ in range(NOOP_RUNS)
            )
            wait_scheduler_idle(client)

        engines = ["raw", "lockgate"] if spec["order"] == 0 else ["lockgate", "raw"]
        for engine in engines:
            if engine == "raw":
                out["raw_run_s"], out["raw_cpu_s"], out["raw_error"] = run_raw(n)
            elif executor is not None:
                (
                    out["lockgate_build_s"],
                    out["lockgate_run_s"],
                    out["lockgate_cpu_s"],
                    out["lockgate_error"],
                ) = run_lockgate(n)
    finally:
        client.close()  # type: ignore[no-untyped-call]
        cluster.close()
    return out


# ---------------------------------------------------------------------------------------------
# (c) ThreadExecutor against dask.threaded.get.
# ---------------------------------------------------------------------------------------------


def measure_thread_overhead(spec: dict[str, Any]) -> dict[str, Any]:
    workload, n, engine, workers = spec["workload"], spec["n"], spec["engine"], spec["workers"]
    out: dict[str, Any] = {"tasks": core.task_count(workload, n)}
    ref = core.reference(workload, n)
    if engine == "lockgate":
        classes = core_classes()
        executor = make_executor("threads", {"max_workers": workers})
        t0 = time.perf_counter()
        flow, handles = core.lockgate_build(workload, n, None, classes)
        c1, t1 = time.process_time(), time.perf_counter()
        state = flow.run(executor=executor)
        c2, t2 = time.process_time(), time.perf_counter()
        out["error"] = core.lockgate_check(workload, n, state, handles, ref)
    else:
        import dask.threaded

        t0 = time.perf_counter()
        dsk, keys = core.dask_build(workload, n, None)
        c1, t1 = time.process_time(), time.perf_counter()
        result = dask.threaded.get(dsk, keys, num_workers=workers)
        c2, t2 = time.process_time(), time.perf_counter()
        out["error"] = core.dask_check(workload, n, result, ref)
    out["build_s"] = t1 - t0
    out["run_s"] = t2 - t1
    out["cpu_s"] = c2 - c1
    return out


# ---------------------------------------------------------------------------------------------
# The child: one measurement in a fresh process, printed as one JSON line.
# ---------------------------------------------------------------------------------------------


def child_main(spec: dict[str, Any]) -> None:
    measure = {
        "speedup": measure_speedup,
        "dask-overhead": measure_dask_overhead,
        "thread-overhead": measure_thread_overhead,
    }[spec["part"]]
    try:
        out = measure(spec)
    except NotAvailable as exc:
        out = {"skip": f"SKIP (not available): {exc}"}
    except Exception as exc:  # report, never crash silently: the parent marks the row ERROR
        import traceback

        traceback.print_exc()
        out = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(RESULT_MARK + json.dumps({**spec, **out}) + "\n")
    sys.stdout.flush()


def run_child(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**spec, "error": f"timed out after {timeout:g} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            out: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
            if any(out.get(k) for k in ("error", "raw_error")) and proc.stderr.strip():
                out["stderr_tail"] = proc.stderr.strip().splitlines()[-5:]
            return out
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {**spec, "error": f"child exited {proc.returncode}: {tail}"}


# ---------------------------------------------------------------------------------------------
# The parent: schedule the children, keep the best runs, print tables and verdicts.
# ---------------------------------------------------------------------------------------------


def best(samples: list[dict[str, Any]], key: str, error_key: str = "error") -> dict[str, Any]:
    """The fastest sample by ``key`` (an errored one, if any, wins: it must be seen)."""
    for s in samples:
        if s.get("skip"):
            return s
    for s in samples:
        if s.get(error_key):
            return s
    timed = [s for s in samples if s.get(key) is not None]
    return min(timed, key=lambda s: s[key]) if timed else samples[0]


def fmt_table(header: list[str], rows: list[list[str]], left: int) -> list[str]:
    widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def speedup_report(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of part (a) with speed-ups computed against the local baseline."""
    rows: list[dict[str, Any]] = []
    for workload in ("sleep", "cpu"):
        group = [r for r in results["speedup"] if r["workload"] == workload]
        base = next((r for r in group if r["kind"] == "local"), None)
        base_s = base.get("run_s") if base and not base.get("error") else None
        for r in group:
            row = dict(r)
            ok = not r.get("error") and not r.get("skip") and r.get("run_s")
            if ok and base_s:
                row["speedup"] = base_s / r["run_s"]
                net = r["run_s"] - r.get("startup_s", 0.0)
                row["speedup_excl_startup"] = base_s / net if net > 0 else None
                row["efficiency"] = (row["speedup_excl_startup"] or 0.0) / row["ideal"]
            rows.append(row)
    return rows


def print_speedup(rows: list[dict[str, Any]], opts: argparse.Namespace) -> None:
    header = [
        "workload",
        "executor",
        "run s",
        "per-run start-up s",
        "speed-up",
        "excl. start-up",
        "ideal",
        "of ideal",
    ]
    table: list[list[str]] = []
    for r in rows:
        name = (
            f"sleep {r['tasks']} x {r['seconds']:g} s"
            if r["workload"] == "sleep"
            else f"cpu {r['tasks']} x ~{opts.cpu_seconds:g} s"
        )
        label = executor_label(r["kind"], r["settings"])
        if r.get("skip"):
            table.append([name, label, r["skip"], "", "", "", f"{r['ideal']:.2f}", ""])
            continue
        if r.get("error"):
            table.append([name, label, "ERROR", "", "", "", f"{r['ideal']:.2f}", ""])
            continue
        sp, ex = r.get("speedup"), r.get("speedup_excl_startup")
        table.append(
            [
                name,
                label,
                f"{r['run_s']:.3f}",
                f"{r.get('startup_s', 0.0):.3f}",
                f"{sp:.2f}x" if sp else "",
                f"{ex:.2f}x" if ex else "",
                f"{r['ideal']:.2f}x",
                f"{r['efficiency']:.0%}" if r.get("efficiency") is not None else "",
            ]
        )
    print("(a) speed-up over LocalExecutor, independent tasks (best run time of the repeats)")
    for i in range(len(table) - 1, 0, -1):  # name each workload once
        if table[i][0] == table[i - 1][0]:
            table[i][0] = ""
    prev = None
    for i, line in enumerate(fmt_table(header, table, left=2)):
        if i >= 2:
            workload = rows[i - 2]["workload"]
            if prev is not None and workload != prev:
                print()
            prev = workload
        print(line)
    starts = [
        f"{executor_label(r['kind'], r['settings'])}: {r['cluster_start_s']:.2f} s"
        for r in rows
        if r.get("cluster_start_s") is not None
    ]
    if starts:
        print("LocalCluster start-up, outside the timed runs: " + "; ".join(starts))
    print(
        "per-run start-up = a one-task flow run on the executor (start(), one call, tear-down);\n"
        "'excl. start-up' subtracts it. 'of ideal' = excl. start-up / ideal."
    )
    for r in rows:
        if r.get("error"):
            print(f"ERROR {r['workload']} {executor_label(r['kind'], r['settings'])}: {r['error']}")
            for line in r.get("stderr_tail", []):
                print(f"    {line}")


def ratio_text(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}" if a and b else ""


def print_dask_overhead(rows: list[dict[str, Any]]) -> None:
    header = ["workload", "N", "engine", "run s", "µs/task", "lockgate/raw", "CPU s", "CPU ratio"]
    table: list[list[str]] = []
    notes: list[str] = []
    for r in rows:
        n = f"{r['n']:,}"
        if r.get("error"):
            table.append([r["workload"], n, "(child)", "ERROR", "", "", "", ""])
            table.append([r["workload"], n, "", "", "", "", "", ""])
            continue
        raw_s = r.get("raw_run_s") if not r.get("raw_error") else None
        raw_cpu = r.get("raw_cpu_s") if raw_s else None
        cells = [f"{raw_s:.3f}", f"{raw_s / r['tasks'] * 1e6:.0f}"] if raw_s else ["ERROR", ""]
        cpu = [f"{raw_cpu:.2f}" if raw_cpu else "", ""]
        table.append([r["workload"], n, "distributed client.submit/map", *cells, "", *cpu])
        lg_s, lg_cpu = r.get("lockgate_run_s"), r.get("lockgate_cpu_s")
        err = r.get("lockgate_error")
        name = "lockgate DaskExecutor"
        if err and err.startswith("SKIP"):
            table.append([r["workload"], n, name, "SKIP (not available)", "", "", "", ""])
        elif err or lg_s is None:
            table.append([r["workload"], n, name, "ERROR", "", "", "", ""])
        else:
            table.append(
                [
                    r["workload"],
                    n,
                    name,
                    f"{lg_s:.3f}",
                    f"{lg_s / r['tasks'] * 1e6:.0f}",
                    ratio_text(lg_s, raw_s),
                    f"{lg_cpu:.2f}" if lg_cpu else "",
                    ratio_text(lg_cpu, raw_cpu),
                ]
            )
            paired = ", ".join(f"{x:.2f}" for x in r.get("paired_ratios", []))
            notes.append(
                f"{r['workload']} N={n}: lockgate/raw per repeat (same cluster, same child) "
                f"{paired}; DaskExecutor per-run start-up (client connect + 1 call) "
                f"{r.get('lockgate_startup_s', 0.0):.3f} s, included in its run time"
            )
    print(
        f"(b) DaskExecutor(address, direct_to_workers) vs raw distributed on the same LocalCluster, "
        f"{DASK_WORKERS} worker processes x 1 thread (best of the repeats)"
    )
    for i, line in enumerate(fmt_table(header, table, left=3)):
        if i >= 3 and i % 2 == 0:
            print()
        print(line)
    print(
        "CPU s: CPU time of the client + scheduler process and the worker processes during the "
        "run (least of the repeats);\n      unlike wall time it barely depends on the machine's "
        "other load."
    )
    for note in notes:
        print(note)
    for r in rows:
        for key in ("error", "raw_error", "lockgate_error"):
            if r.get(key) and not str(r[key]).startswith("SKIP"):
                print(f"ERROR (b) {r['workload']} N={r['n']:,} {key}: {r[key]}")
                for line in r.get("stderr_tail", []):
                    print(f"    {line}")


def print_thread_overhead(rows: list[dict[str, Any]]) -> None:
    header = [
        "workload",
        "N",
        "engine",
        "build s",
        "run s",
        "µs/task",
        "lockgate/dask",
        "CPU s",
        "CPU ratio",
    ]
    table: list[list[str]] = []
    by_key = {(r["workload"], r["n"], r["engine"]): r for r in rows}
    for r in rows:
        name = (
            f"lockgate ThreadExecutor({r['workers']})"
            if r["engine"] == "lockgate"
            else f"dask.threaded.get(num_workers={r['workers']})"
        )
        cells = [r["workload"], f"{r['n']:,}", name]
        if r.get("skip") or r.get("error"):
            table.append([*cells, "SKIP" if r.get("skip") else "ERROR", "", "", "", "", ""])
            continue
        ratio = cpu_ratio = ""
        if r["engine"] == "lockgate":
            d = by_key.get((r["workload"], r["n"], "dask"))
            if d and not d.get("error"):
                ratio = ratio_text(r["run_s"], d.get("run_s"))
                cpu_ratio = ratio_text(r.get("cpu_s"), d.get("cpu_s"))
        table.append(
            [
                *cells,
                f"{r['build_s']:.3f}",
                f"{r['run_s']:.3f}",
                f"{r['run_s'] / r['tasks'] * 1e6:.1f}",
                ratio,
                f"{r['cpu_s']:.2f}" if r.get("cpu_s") is not None else "",
                cpu_ratio,
            ]
        )
    print("(c) ThreadExecutor vs dask.threaded.get on the same graph (best of the repeats)")
    for i, line in enumerate(fmt_table(header, table, left=3)):
        if i >= 3 and i % 2 == 0:
            print()
        print(line)
    print("CPU s: CPU time of the process during the run (least of the repeats)")
    for r in rows:
        if r.get("error"):
            print(f"ERROR (c) {r['workload']} N={r['n']:,} {r['engine']}: {r['error']}")
            for line in r.get("stderr_tail", []):
                print(f"    {line}")


def judge(ok: bool, n: int) -> str:
    """PASS / FAIL at the N the issue sets the targets for; INFO at other sizes, where fixed
    costs (connecting a client, starting a pool) weigh more and nothing is promised."""
    if n != TARGET_N:
        return "INFO"
    return "PASS" if ok else "FAIL"


def verdicts(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(status, target, detail) per target: PASS / FAIL at N = 10,000, INFO at other sizes."""
    out: list[tuple[str, str, str]] = []
    for r in results.get("dask_overhead", []):
        name = (
            f"(b) {r['workload']} N={r['n']:,}: DaskExecutor / raw distributed "
            f"<= {DASK_RATIO_TARGET:.2f}"
        )
        lg_err = r.get("lockgate_error") or r.get("error")
        if lg_err and str(lg_err).startswith("SKIP"):
            out.append(("SKIP", name, "DaskExecutor not available"))
        elif lg_err or r.get("raw_error") or not r.get("raw_run_s"):
            out.append(("FAIL", name, f"error: {lg_err or r.get('raw_error')}"))
        else:
            ratio = r["lockgate_run_s"] / r["raw_run_s"]
            status = judge(ratio <= DASK_RATIO_TARGET, r["n"])
            detail = f"ratio {ratio:.2f}"
            cpu = ratio_text(r.get("lockgate_cpu_s"), r.get("raw_cpu_s"))
            if cpu:
                detail += f" (CPU time ratio {cpu})"
            out.append((status, name, detail))
    by_key = {(r["workload"], r["n"], r["engine"]): r for r in results.get("thread_overhead", [])}
    for (workload, n, engine), lg in by_key.items():
        if engine != "lockgate":
            continue
        dk = by_key.get((workload, n, "dask"))
        name = (
            f"(c) {workload} N={n:,}: ThreadExecutor({lg['workers']}) / dask.threaded.get "
            f"<= {THREAD_RATIO_TARGET:.1f}"
        )
        if lg.get("skip"):
            out.append(("SKIP", name, "ThreadExecutor not available"))
        elif lg.get("error") or dk is None or dk.get("error"):
            out.append(("FAIL", name, f"error: {lg.get('error') or (dk or {}).get('error')}"))
        else:
            ratio = lg["run_s"] / dk["run_s"]
            status = judge(ratio <= THREAD_RATIO_TARGET, n)
            detail = f"ratio {ratio:.2f}"
            cpu = ratio_text(lg.get("cpu_s"), dk.get("cpu_s"))
            if cpu:
                detail += f" (CPU time ratio {cpu})"
            out.append((status, name, detail))
    return out


def busy_warning() -> str | None:
    """A warning when other programs keep the CPUs busy (the 1-minute load average)."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return None
    if load < 0.5 * CORES:
        return None
    return (
        f"WARNING: the machine is busy (load average {load:.1f} on {CORES} CPUs): wall times "
        "are noisy, and CPU-bound\n  speed-ups are capped by the CPU share this benchmark gets "
        "(Linux shares CPU fairly between sessions).\n  Compare the CPU-time ratios of (b) "
        "and (c), which hardly depend on the load."
    )


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: how busy the machine was (2 CPUs: 2.0 is full)."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def parse_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--parts", default="a,b,c", help="subset of a,b,c (see the docstring)")
    parser.add_argument(
        "--executors",
        default=",".join(EXECUTOR_KINDS),
        help="(a): subset of local,threads,processes,dask (local is always run: the baseline)",
    )
    parser.add_argument("--sizes", default=str(TARGET_N), help="(b), (c): comma-separated N")
    parser.add_argument(
        "--workloads", default=",".join(OVERHEAD_WORKLOADS), help="(b), (c): subset of W2,W3"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; best kept")
    parser.add_argument("--sleep-tasks", type=int, default=64, help="(a): sleeping tasks")
    parser.add_argument("--sleep-seconds", type=float, default=0.1, help="(a): sleep per task")
    parser.add_argument("--cpu-tasks", type=int, default=16, help="(a): CPU-bound tasks")
    parser.add_argument("--cpu-seconds", type=float, default=0.2, help="(a): CPU per task")
    parser.add_argument(
        "--thread-workers", type=int, default=2, help="(c): max_workers = num_workers"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: --repeat 1, 16 sleeping and 4 CPU-bound tasks, no 2w x 4t Dask "
        "configuration, N = 1,000 (ratios reported as INFO: the targets are at N = 10,000)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per child run")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target FAILs")
    parser.add_argument("--child", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        # Run the child from the module `bench_executors`, not `__main__`: its tasks and
        # functions then pickle by reference (workers import this file from bench/).
        import bench_executors

        bench_executors.child_main(json.loads(args.child))
        return 0

    if args.quick:
        args.repeat = 1
        args.sleep_tasks, args.cpu_tasks = 16, 4
        args.sizes = "1000"
    parts = set(parse_list(args.parts.lower()))
    kinds = set(parse_list(args.executors.lower())) | {"local"}
    workloads = [w.upper() for w in parse_list(args.workloads)]
    sizes = [int(s.replace("_", "")) for s in parse_list(args.sizes)]
    for p in parts:
        if p not in ("a", "b", "c"):
            parser.error(f"unknown part {p!r}; choose from a, b, c")
    for k in kinds:
        if k not in EXECUTOR_KINDS:
            parser.error(f"unknown executor {k!r}; choose from {', '.join(EXECUTOR_KINDS)}")
    for w in workloads:
        if w not in OVERHEAD_WORKLOADS:
            parser.error(f"unknown workload {w!r}; choose from {', '.join(OVERHEAD_WORKLOADS)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    print(
        f"lockgate executor benchmark -- Python {platform.python_version()} on "
        f"{platform.platform()}, {CORES} CPUs"
    )
    print(f"load average at start: {load_average()}")
    busy = busy_warning()
    if busy:
        print(busy)
    print(f"one fresh process per measurement; best of {args.repeat}; repeats interleaved\n")

    missing = {k: executor_available(k) for k in EXECUTOR_KINDS}
    for k, why in missing.items():
        if why:
            print(f"{k}: SKIP (not available): {why}")

    results: dict[str, Any] = {}
    started = time.perf_counter()

    # -- schedule the children --
    plans: list[tuple[str, list[dict[str, Any]]]] = []  # (part, specs of one repeat)
    if "a" in parts:
        iters, cpu_s, wall_s, expected = calibrate(args.cpu_seconds)
        print(
            f"calibrated CPU task: spin({iters:,}) uses {cpu_s:.3f} s of CPU "
            f"(target {args.cpu_seconds:g} s; {wall_s:.3f} s wall just now)"
        )
        specs = []
        for workload, configs, tasks in (
            ("sleep", SLEEP_CONFIGS, args.sleep_tasks),
            ("cpu", CPU_CONFIGS, args.cpu_tasks),
        ):
            for name, kind, settings in configs:
                if kind not in kinds or (args.quick and name == "dask-4t"):
                    continue
                specs.append(
                    {
                        "part": "speedup",
                        "workload": workload,
                        "config": name,
                        "kind": kind,
                        "settings": settings,
                        "tasks": tasks,
                        "seconds": args.sleep_seconds,
                        "iters": iters,
                        "expected": expected,
                        "ideal": ideal_speedup(workload, kind, settings, tasks),
                    }
                )
        plans.append(("speedup", specs))
    if "b" in parts:
        specs = [{"part": "dask-overhead", "workload": w, "n": n} for w in workloads for n in sizes]
        plans.append(("dask_overhead", specs))
    if "c" in parts:
        specs = [
            {
                "part": "thread-overhead",
                "workload": w,
                "n": n,
                "engine": e,
                "workers": args.thread_workers,
            }
            for w in workloads
            for n in sizes
            for e in ("dask", "lockgate")
        ]
        plans.append(("thread_overhead", specs))

    for part, specs in plans:
        samples: list[list[dict[str, Any]]] = [[] for _ in specs]
        for rep in range(args.repeat):
            for i, spec in enumerate(specs):
                if samples[i] and (samples[i][-1].get("error") or samples[i][-1].get("skip")):
                    continue
                kind = spec.get("kind", "dask" if part == "dask_overhead" else "threads")
                if part != "dask_overhead" and missing.get(kind):
                    samples[i].append({**spec, "skip": f"SKIP (not available): {missing[kind]}"})
                    continue
                sample = run_child({**spec, "order": rep % 2}, args.timeout)
                samples[i].append(sample)
                label = " ".join(
                    str(spec[k]) for k in ("workload", "config", "n", "engine") if k in spec
                )
                status = (
                    sample.get("skip")
                    or (sample.get("error") and "ERROR")
                    or " ".join(
                        f"{k[:-2]} {sample[k]:.3f} s"
                        for k in ("run_s", "raw_run_s", "lockgate_run_s")
                        if isinstance(sample.get(k), float)
                    )
                )
                print(f"  [{part} {rep + 1}/{args.repeat}] {label}: {status}", file=sys.stderr)
        if part == "speedup":
            results[part] = [best(group, "run_s") for group in samples]
        elif part == "thread_overhead":
            rows = []
            for group in samples:
                row = dict(best(group, "run_s"))
                cpus = [x["cpu_s"] for x in group if isinstance(x.get("cpu_s"), float)]
                row["cpu_s"] = min(cpus) if cpus else None
                row["run_s_all"] = [x.get("run_s") for x in group]
                rows.append(row)
            results[part] = rows
        else:
            merged = []
            for group in samples:
                row = dict(best(group, "lockgate_run_s", "lockgate_error"))
                raw = best(group, "raw_run_s", "raw_error")
                for key in ("raw_run_s", "raw_cpu_s", "raw_error"):
                    row[key] = raw.get(key)
                for key in ("raw_run_s", "lockgate_run_s", "raw_cpu_s", "lockgate_cpu_s"):
                    row[key + "_all"] = [x.get(key) for x in group]
                # CPU time hardly depends on the machine's load: the least of the repeats.
                for key in ("raw_cpu_s", "lockgate_cpu_s"):
                    values = [v for v in row[key + "_all"] if isinstance(v, float)]
                    row[key] = min(values) if values else None
                row["paired_ratios"] = [
                    x["lockgate_run_s"] / x["raw_run_s"]
                    for x in group
                    if x.get("lockgate_run_s") and x.get("raw_run_s")
                ]
                merged.append(row)
            results[part] = merged
    elapsed = time.perf_counter() - started

    print()
    if "speedup" in results:
        results["speedup"] = speedup_report(results)
        print_speedup(results["speedup"], args)
        print()
    if "dask_overhead" in results:
        print_dask_overhead(results["dask_overhead"])
        print()
    if "thread_overhead" in results:
        print_thread_overhead(results["thread_overhead"])
        print()
    print(
        f"(total benchmark wall time {elapsed:.1f} s; load average at the end: {load_average()})\n"
    )
    checks = verdicts(results)
    for status, name, detail in checks:
        print(f"{status}  {name}: {detail}")
    if any(status == "INFO" for status, _, _ in checks):
        print(f"(INFO: the targets are set at N = {TARGET_N:,}; other sizes are not judged)")

    if args.json:
        payload = {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": CORES,
            "repeat": args.repeat,
            "results": results,
            "targets": [{"status": s, "target": t, "detail": d} for s, t, d in checks],
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
        print(f"\nwrote {args.json}")
    broken = any(
        r.get("error") or r.get("raw_error") for rows in results.values() for r in rows
    ) or any(
        r.get("lockgate_error") and not str(r["lockgate_error"]).startswith("SKIP")
        for r in results.get("dask_overhead", [])
    )
    if broken:
        return 1  # a broken run is never a benchmark result
    return 1 if args.strict and any(s == "FAIL" for s, _, _ in checks) else 0


if __name__ == "__main__":
    raise SystemExit(main())
