"""Per-task overhead benchmark: lockgate's LocalExecutor against dask's synchronous scheduler.

Workloads (every task is tiny: it returns ``x + 1`` or a sum):

- W1  a linear chain of N tasks;
- W2  fan-out / fan-in: one root, N middle tasks, one reducer of all N results;
- W3  one task mapped over N items, then reduced (the reducer receives the list);
- W4  a random DAG of N tasks (seeded), about three upstream edges per task.

Each workload runs on four engines, on the same graph:

- ``lockgate``      built with the functional API as users write flows (``@task`` functions
                    called inside ``with Flow(...)``), run with ``flow.run()`` (LocalExecutor);
- ``lockgate-imp``  the same graph built imperatively (Task subclasses, ``flow.add_edge``);
- ``dask``          a raw dask graph (a dict) run by ``dask.get`` (the synchronous scheduler);
- ``python``        the same functions called in topological order.

Two parts:

- **Ratios** (``--sizes``, default N = 1,000 and 10,000): one child process per (workload, N)
  measures every engine in turn, interleaved, ``--repeat`` times (the engine order rotates),
  so the machine's load falls on all of them alike. Times are CPU time (``time.process_time``),
  best of the repeats, for build, run and build + run separately; the lockgate/dask ratios are
  of build + run (dask's includes building its graph dict) and of the run alone.
- **Scale** (``--scale-sizes``, default 1,000 to 1,000,000, W1 and W2): lockgate alone, built
  with the functional API and run, in a fresh process per size, so the peak RSS is that size's
  own; µs/task per N shows whether anything grows faster than N.

Every row also shows the garbage collector's share of the time (``gc.callbacks``): the
collector stays on, as it is in users' programs. Every run is checked against the
plain-Python answer, so a broken run cannot be timed silently.

    python bench/bench_core.py                                  # the whole benchmark
    python bench/bench_core.py --sizes 1000 --repeat 1 --scale-sizes 1000,10000   # smoke run
    python bench/bench_core.py --workloads W1,W4 --engines lockgate,dask --json out.json

dask and psutil are bench-only dependencies (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

WORKLOADS = ("W1", "W2", "W3", "W4")
ENGINES = ("lockgate", "lockgate-imp", "dask", "python")
DESCRIPTIONS = {
    "W1": "linear chain",
    "W2": "fan-out/fan-in",
    "W3": "map + reduce",
    "W4": "random DAG, ~3 upstreams",
}
W4_SEED = 42
W4_ROOTS = 3  # the first few tasks of W4 have no upstream
W4_FAN_IN = 3
RESULT_MARK = "@@BENCH-RESULT "

# Targets from issue 14 (functional build + run, as users pay for it).
TOTAL_RATIO_TARGET = 0.5  # lockgate build + run / dask dict build + dask.get
RUN_RATIO_TARGET = 0.25  # lockgate run / dask.get
RATIO_WORKLOADS = ("W1", "W2", "W4")
RATIO_N = 10_000
SCALE_WORKLOADS = ("W1", "W2")
BIG_N = 1_000_000
BIG_SECONDS = 15.0  # build + run at BIG_N, each of SCALE_WORKLOADS
RSS_LIMIT_MIB = 2048.0
IMPORT_LIMIT_MS = 150.0
# "Nothing super-linear": build + run µs/task at the largest N at most this multiple of the
# smallest N's (cache misses and the collector add some; O(N log N) over 1k -> 1M is ~2x,
# O(N^2) ~1000x).
GROWTH_LIMIT = 3.0


# ---------------------------------------------------------------------------------------------
# The task functions shared by the dask and plain-Python engines.
# ---------------------------------------------------------------------------------------------


def zero() -> int:
    return 0


def inc(x: int) -> int:
    return x + 1


def make_range(n: int) -> list[int]:
    return list(range(n))


def inc_item(xs: list[int], i: int) -> int:
    return xs[i] + 1


def sum_list(values: list[int]) -> int:
    return sum(values)


def sum_plus_one(values: list[int]) -> int:
    return sum(values) + 1


# ---------------------------------------------------------------------------------------------
# Graph shapes. A workload is described once (upstream indices per task), then built per engine.
# ---------------------------------------------------------------------------------------------


def w4_upstreams(n: int) -> list[list[int]]:
    """For each task of W4, the indices of its upstream tasks (all earlier, so in topo order)."""
    rng = random.Random(W4_SEED)
    deps: list[list[int]] = []
    for i in range(n):
        if i < W4_ROOTS:
            deps.append([])
        else:
            deps.append(sorted(rng.sample(range(i), W4_FAN_IN)))
    return deps


def task_count(workload: str, n: int) -> int:
    """Task runs per workload (the dask graph's key count; the same denominator for every engine)."""
    return n if workload in ("W1", "W4") else n + 2


def reference(workload: str, n: int, deps: list[list[int]] | None = None) -> dict[str, Any]:
    """The plain-Python answer, computed directly (not timed): values to check a run against."""
    if workload == "W1":
        return {"final": n - 1}
    if workload == "W2":
        return {"middle": 1, "final": n}
    if workload == "W3":
        return {"children": list(range(1, n + 1)), "final": n * (n + 1) // 2}
    if workload == "W4":
        assert deps is not None
        values: list[int] = []
        for up in deps:
            values.append(sum(values[j] for j in up) + 1)
        return {"values": values}
    raise ValueError(workload)


# ---------------------------------------------------------------------------------------------
# Engine: plain Python. "Build" makes a plan of (function, upstream indices / constants);
# "run" evaluates it in topological order.
# ---------------------------------------------------------------------------------------------


def python_build(workload: str, n: int, deps: list[list[int]] | None) -> list[tuple[Any, ...]]:
    plan: list[tuple[Any, ...]] = []
    if workload == "W1":
        plan.append((zero, ()))
        for i in range(1, n):
            plan.append((inc, (i - 1,)))
    elif workload == "W2":
        plan.append((zero, ()))
        for _ in range(n):
            plan.append((inc, (0,)))
        plan.append((sum_list, tuple(range(1, n + 1))))
    elif workload == "W3":
        # (function, upstream indices, extra constant args); the list upstream is passed whole.
        plan.append((make_range, (), (n,)))
        for i in range(n):
            plan.append((inc_item, (0,), (i,)))
        plan.append((sum_list, tuple(range(1, n + 1))))
    elif workload == "W4":
        assert deps is not None
        for up in deps:
            plan.append((sum_plus_one, tuple(up)))
    return plan


def python_run(workload: str, plan: list[tuple[Any, ...]]) -> list[Any]:
    values: list[Any] = []
    append = values.append
    if workload == "W1":
        for fn, up in plan:
            append(fn(*[values[j] for j in up]))
    elif workload == "W3":
        for step in plan:
            if len(step) == 3:
                fn, up, extra = step
                append(fn(*[values[j] for j in up], *extra))
            else:
                fn, up = step
                append(fn([values[j] for j in up]))
    else:  # W2, W4: the reducer / every W4 task takes the list of its upstream values
        for fn, up in plan:
            if fn is inc:
                append(fn(values[up[0]]))
            elif fn is zero:
                append(fn())
            else:
                append(fn([values[j] for j in up]))
    return values


def python_check(workload: str, n: int, values: list[Any], ref: dict[str, Any]) -> str | None:
    if workload == "W4":
        return None if values == ref["values"] else "W4 values differ from the reference"
    if values[-1] != ref["final"]:
        return f"final value {values[-1]!r} != {ref['final']!r}"
    if workload == "W3" and values[1:-1] != ref["children"]:
        return "W3 children differ from the reference"
    return None


# ---------------------------------------------------------------------------------------------
# Engine: dask (a raw graph dict run by dask.get, the synchronous scheduler).
# ---------------------------------------------------------------------------------------------


def dask_build(workload: str, n: int, deps: list[list[int]] | None) -> tuple[dict[str, Any], Any]:
    dsk: dict[str, Any] = {}
    if workload == "W1":
        dsk["t0"] = (zero,)
        for i in range(1, n):
            dsk[f"t{i}"] = (inc, f"t{i - 1}")
        return dsk, f"t{n - 1}"
    if workload == "W2":
        dsk["root"] = (zero,)
        middle = [f"m{i}" for i in range(n)]
        for key in middle:
            dsk[key] = (inc, "root")
        dsk["reduce"] = (sum_list, middle)
        return dsk, "reduce"
    if workload == "W3":
        dsk["root"] = (make_range, n)
        children = [f"c{i}" for i in range(n)]
        for i, key in enumerate(children):
            dsk[key] = (inc_item, "root", i)
        dsk["reduce"] = (sum_list, children)
        return dsk, ["reduce", children]
    if workload == "W4":
        assert deps is not None
        for i, up in enumerate(deps):
            dsk[f"t{i}"] = (sum_plus_one, [f"t{j}" for j in up])
        return dsk, [f"t{i}" for i in range(n)]
    raise ValueError(workload)


def dask_check(workload: str, n: int, out: Any, ref: dict[str, Any]) -> str | None:
    if workload == "W4":
        return None if list(out) == ref["values"] else "W4 values differ from the reference"
    if workload == "W3":
        final, children = out
        if list(children) != ref["children"]:
            return "W3 children differ from the reference"
        out = final
    return None if out == ref["final"] else f"final value {out!r} != {ref['final']!r}"


# ---------------------------------------------------------------------------------------------
# Engine: lockgate (imperative Flow, flow.run() on the default LocalExecutor).
# ---------------------------------------------------------------------------------------------


def lockgate_classes() -> dict[str, Any]:
    """The Task subclasses (defined once per child, outside the timed build)."""
    from lockgate import Task

    class Zero(Task):  # type: ignore[misc]
        def run(self) -> int:
            return 0

    class Inc(Task):  # type: ignore[misc]
        def run(self, x: int) -> int:
            return x + 1

    class Range(Task):  # type: ignore[misc]
        def __init__(self, n: int, **kwargs: Any) -> None:
            self.n = n
            super().__init__(**kwargs)

        def run(self) -> list[int]:
            return list(range(self.n))

    class SumList(Task):  # type: ignore[misc]
        def run(self, values: list[int]) -> int:
            return sum(values)

    class SumAll(Task):  # type: ignore[misc]
        def run(self, **values: int) -> int:
            return sum(values.values())

    class SumPlusOne(Task):  # type: ignore[misc]
        def run(self, **values: int) -> int:
            return sum(values.values()) + 1

    return {c.__name__: c for c in (Zero, Inc, Range, SumList, SumAll, SumPlusOne)}


def lockgate_build(
    workload: str, n: int, deps: list[list[int]] | None, classes: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    from lockgate import Flow

    Zero, Inc, Range = classes["Zero"], classes["Inc"], classes["Range"]
    SumList, SumAll, SumPlusOne = classes["SumList"], classes["SumAll"], classes["SumPlusOne"]

    flow = Flow(f"bench-{workload}-{n}")
    handles: dict[str, Any] = {}
    if workload == "W1":
        prev = Zero()
        flow.add_task(prev)
        handles["root"] = prev
        for _ in range(1, n):
            t = Inc()
            flow.add_edge(prev, t, key="x")
            prev = t
        handles["final"] = prev
    elif workload == "W2":
        root = Zero()
        flow.add_task(root)
        reducer = SumAll()
        middle = []
        for i in range(n):
            m = Inc()
            flow.add_edge(root, m, key="x")
            flow.add_edge(m, reducer, key=f"v{i}")
            middle.append(m)
        handles.update(root=root, middle=middle, final=reducer)
    elif workload == "W3":
        root = Range(n)
        mapped = Inc()
        reducer = SumList()
        flow.add_edge(root, mapped, key="x", mapped=True)
        flow.add_edge(mapped, reducer, key="values")
        handles.update(root=root, mapped=mapped, final=reducer)
    elif workload == "W4":
        assert deps is not None
        tasks = []
        for up in deps:
            t = SumPlusOne()
            if up:
                for k, j in enumerate(up):
                    flow.add_edge(tasks[j], t, key=f"v{k}")
            else:
                flow.add_task(t)
            tasks.append(t)
        handles["tasks"] = tasks
    else:
        raise ValueError(workload)
    return flow, handles


def lockgate_check(
    workload: str, n: int, flow_state: Any, handles: dict[str, Any], ref: dict[str, Any]
) -> str | None:
    if not flow_state.is_successful():
        return f"flow state is {flow_state!r}, not successful"
    states = flow_state.result
    if not isinstance(states, dict):
        return f"flow_state.result is {type(states).__name__}, not a dict of task states"

    def value(task: Any) -> Any:
        state = states.get(task)
        if state is None:
            raise LookupError(f"no state for {task!r} in flow_state.result")
        if not state.is_successful():
            raise LookupError(f"{task!r} ended {state!r}")
        return state.result

    try:
        if workload == "W4":
            got = [value(t) for t in handles["tasks"]]
            return None if got == ref["values"] else "W4 values differ from the reference"
        if workload == "W2":
            bad = [m for m in handles["middle"] if value(m) != ref["middle"]]
            if bad:
                return f"{len(bad)} middle tasks have a wrong result"
        if workload == "W3":
            mapped_state = states.get(handles["mapped"])
            if mapped_state is None or not mapped_state.is_mapped():
                return f"the mapped task ended {mapped_state!r}, not Mapped"
            if len(mapped_state.map_states) != n:
                return f"the mapped task has {len(mapped_state.map_states)} children, not {n}"
            if list(mapped_state.result) != ref["children"]:
                return "W3 children differ from the reference"
        final = value(handles["final"])
    except LookupError as exc:
        return str(exc)
    return None if final == ref["final"] else f"final value {final!r} != {ref['final']!r}"


# ---------------------------------------------------------------------------------------------
# Engine: lockgate, functional API (as users write flows): @task functions called in a Flow.
# ---------------------------------------------------------------------------------------------


def sum_kw(**values: int) -> int:
    """W4's task in the functional API: its upstream results arrive as named inputs."""
    return sum(values.values()) + 1


def functional_tasks() -> dict[str, Any]:
    """The ``@task`` functions (made once per child, outside the timed build)."""
    from lockgate import task

    return {f.__name__: task(f) for f in (zero, inc, make_range, sum_list, sum_kw)}


def functional_build(
    workload: str, n: int, deps: list[list[int]] | None, fns: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """Build ``workload`` as a user would: call the tasks inside ``with Flow(...)``.

    W2's reducer is called with the list of middle tasks, which adds one collection task
    (what a user's ``sum_list(middle)`` costs); the ratio's denominator stays the dask key count.
    """
    from lockgate import Flow

    zero_t, inc_t, range_t = fns["zero"], fns["inc"], fns["make_range"]
    sum_list_t, sum_kw_t = fns["sum_list"], fns["sum_kw"]
    handles: dict[str, Any] = {}
    with Flow(f"bench-{workload}-{n}") as flow:
        if workload == "W1":
            prev = handles["root"] = zero_t()
            for _ in range(1, n):
                prev = inc_t(prev)
            handles["final"] = prev
        elif workload == "W2":
            root = zero_t()
            middle = [inc_t(root) for _ in range(n)]
            handles.update(root=root, middle=middle, final=sum_list_t(middle))
        elif workload == "W3":
            root = range_t(n)
            mapped = inc_t.map(root)
            handles.update(root=root, mapped=mapped, final=sum_list_t(mapped))
        elif workload == "W4":
            assert deps is not None
            tasks: list[Any] = []
            for up in deps:
                tasks.append(sum_kw_t(**{f"v{k}": tasks[j] for k, j in enumerate(up)}))
            handles["tasks"] = tasks
        else:
            raise ValueError(workload)
    return flow, handles


# ---------------------------------------------------------------------------------------------
# Measuring: CPU time, and the collector's share of it.
# ---------------------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


class GcClock:
    """CPU time spent in the garbage collector, from ``gc.callbacks`` (the collector stays on)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.collections = 0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.total += time.process_time() - self._start
            self.collections += 1


GC_CLOCK = GcClock()


class Engine:
    """One engine's build, run and check for a workload, with what each needs made up front."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "lockgate":
            self.parts: Any = functional_tasks()
        elif name == "lockgate-imp":
            self.parts = lockgate_classes()
        elif name == "dask":
            import dask

            self.parts = dask.get
        elif name == "python":
            self.parts = None
        else:
            raise ValueError(name)

    def build(self, workload: str, n: int, deps: list[list[int]] | None) -> Any:
        if self.name == "lockgate":
            return functional_build(workload, n, deps, self.parts)
        if self.name == "lockgate-imp":
            return lockgate_build(workload, n, deps, self.parts)
        if self.name == "dask":
            return dask_build(workload, n, deps)
        return python_build(workload, n, deps)

    def run(self, workload: str, built: Any) -> Any:
        if self.name in ("lockgate", "lockgate-imp"):
            return built[0].run()
        if self.name == "dask":
            return self.parts(*built)
        return python_run(workload, built)

    def check(
        self, workload: str, n: int, built: Any, result: Any, ref: dict[str, Any]
    ) -> str | None:
        if self.name in ("lockgate", "lockgate-imp"):
            return lockgate_check(workload, n, result, built[1], ref)
        if self.name == "dask":
            return dask_check(workload, n, result, ref)
        return python_check(workload, n, result, ref)


def measure_once(
    engine: Engine,
    workload: str,
    n: int,
    deps: list[list[int]] | None,
    ref: dict[str, Any],
    freeze: bool = False,
) -> dict[str, Any]:
    """Build and run once; CPU seconds of each and the collector's CPU seconds in each."""
    gc.collect()  # the previous measurement's garbage is not charged to this one
    g0, t0 = GC_CLOCK.total, time.process_time()
    built = engine.build(workload, n, deps)
    if freeze:
        gc.freeze()  # (timed: it is part of what the user pays)
    g1, t1 = GC_CLOCK.total, time.process_time()
    result = engine.run(workload, built)
    g2, t2 = GC_CLOCK.total, time.process_time()
    error = engine.check(workload, n, built, result, ref)
    del built, result
    return {
        "build_s": t1 - t0,
        "run_s": t2 - t1,
        "gc_build_s": g1 - g0,
        "gc_run_s": g2 - g1,
        "error": error,
    }


def best_of(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The best build, run and build + run over the samples (each taken separately)."""
    totals = [s["build_s"] + s["run_s"] for s in samples]
    best_total = samples[totals.index(min(totals))]
    return {
        "build_s": min(s["build_s"] for s in samples),
        "run_s": min(s["run_s"] for s in samples),
        "total_s": min(totals),
        "gc_s": best_total["gc_build_s"] + best_total["gc_run_s"],
        "total_s_all": totals,
        "repeats": len(samples),
    }


def ratio_child(workload: str, n: int, engines: list[str], repeat: int) -> dict[str, Any]:
    """Every engine on one (workload, N), interleaved in this process, ``repeat`` times."""
    gc.callbacks.append(GC_CLOCK)
    deps = w4_upstreams(n) if workload == "W4" else None
    ref = reference(workload, n, deps)
    made = [Engine(e) for e in engines]
    samples: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
    for r in range(repeat):
        for i in range(len(made)):  # rotate the order so no engine always goes first
            engine = made[(i + r) % len(made)]
            s = measure_once(engine, workload, n, deps, ref)
            if s["error"]:
                return {"workload": workload, "n": n, "error": f"{engine.name}: {s['error']}"}
            samples[engine.name].append(s)
    rows = {e: best_of(samples[e]) for e in engines}
    return {
        "workload": workload,
        "n": n,
        "tasks": task_count(workload, n),
        "engines": rows,
        "peak_rss_mib": peak_rss_mib(),
    }


def scale_child(workload: str, n: int, freeze: bool = False) -> dict[str, Any]:
    """Lockgate alone, functional build + run once, in this fresh process (its own peak RSS).

    With ``freeze``, ``gc.freeze()`` is called between build and run, as a user may do for a
    big flow (lockgate never does it for you: frozen objects are never collected).
    """
    gc.callbacks.append(GC_CLOCK)
    deps = w4_upstreams(n) if workload == "W4" else None
    engine = Engine("lockgate")
    rss_base = peak_rss_mib()
    s = measure_once(engine, workload, n, deps, reference(workload, n, deps), freeze)
    return {
        "workload": workload,
        "n": n,
        "tasks": task_count(workload, n),
        "build_s": s["build_s"],
        "run_s": s["run_s"],
        "total_s": s["build_s"] + s["run_s"],
        "gc_s": s["gc_build_s"] + s["gc_run_s"],
        "gc_collections": GC_CLOCK.collections,
        "rss_base_mib": rss_base,
        "peak_rss_mib": peak_rss_mib(),
        "error": s["error"],
    }


def child_main(kind: str, args: list[str]) -> None:
    try:
        if kind == "ratio":
            workload, n, engines, repeat = args
            out = ratio_child(workload, int(n), engines.split(","), int(repeat))
        else:
            workload, n, freeze = args
            out = scale_child(workload, int(n), freeze == "freeze")
    except Exception as exc:  # report, never crash silently: the parent marks the row ERROR
        import traceback

        traceback.print_exc()
        out = {"workload": args[0], "n": int(args[1]), "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(RESULT_MARK + json.dumps(out) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# The parent: spawn children, print the tables and the verdicts.
# ---------------------------------------------------------------------------------------------


def run_child(child_args: list[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", *child_args]
    head = {"workload": child_args[1], "n": int(child_args[2])}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {**head, "error": f"timed out after {timeout:g} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            out: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
            if out.get("error") and proc.stderr.strip():
                out["stderr_tail"] = proc.stderr.strip().splitlines()[-5:]
            return out
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {**head, "error": f"child exited {proc.returncode}: {tail}"}


def time_interpreter(code: str, runs: int) -> float:
    """Median wall time in ms of ``python -c code`` in fresh interpreters (after one warm-up)."""
    cmd = [sys.executable, "-c", code]
    subprocess.run(cmd, check=True, capture_output=True)  # warm the OS file cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def print_table(header: list[str], lines: list[list[str]], groups: list[Any]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < 3 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    prev = None
    for cells, group in zip(lines, groups, strict=True):
        if prev is not None and group != prev:
            print()
        prev = group
        print(fmt(cells))


def print_ratio_table(results: list[dict[str, Any]]) -> None:
    header = ["workload", "N", "engine", "build s", "run s", "build+run s", "µs/task"]
    header += ["GC %", "/dask build+run", "/dask run"]
    lines: list[list[str]] = []
    groups: list[Any] = []
    for res in results:
        if res.get("error"):
            continue
        engines, tasks = res["engines"], res["tasks"]
        dk = engines.get("dask")
        for name, r in engines.items():
            total_ratio = run_ratio = ""
            if dk is not None and name.startswith("lockgate"):
                total_ratio = f"{r['total_s'] / dk['total_s']:.2f}"
                run_ratio = f"{r['run_s'] / dk['run_s']:.2f}"
            lines.append(
                [
                    res["workload"],
                    f"{res['n']:,}",
                    name,
                    f"{r['build_s']:.3f}",
                    f"{r['run_s']:.3f}",
                    f"{r['total_s']:.3f}",
                    f"{r['total_s'] / tasks * 1e6:.2f}",
                    f"{100 * r['gc_s'] / r['total_s']:.0f}" if r["total_s"] else "",
                    total_ratio,
                    run_ratio,
                ]
            )
            groups.append((res["workload"], res["n"]))
    print_table(header, lines, groups)


def print_scale_table(results: list[dict[str, Any]]) -> None:
    header = ["workload", "N", "engine", "build s", "run s", "build+run s"]
    header += ["build µs/task", "run µs/task", "µs/task", "GC %", "peak RSS MiB"]
    lines: list[list[str]] = []
    groups: list[Any] = []
    for r in results:
        if r.get("error"):
            continue
        tasks = r["tasks"]
        lines.append(
            [
                r["workload"],
                f"{r['n']:,}",
                "lockgate",
                f"{r['build_s']:.2f}",
                f"{r['run_s']:.2f}",
                f"{r['total_s']:.2f}",
                f"{r['build_s'] / tasks * 1e6:.2f}",
                f"{r['run_s'] / tasks * 1e6:.2f}",
                f"{r['total_s'] / tasks * 1e6:.2f}",
                f"{100 * r['gc_s'] / r['total_s']:.0f}",
                f"{r['peak_rss_mib']:.0f}",
            ]
        )
        groups.append(r["workload"])
    print_table(header, lines, groups)


def verdicts(
    ratios: list[dict[str, Any]], scale: list[dict[str, Any]], imports: dict[str, float] | None
) -> list[tuple[str, str, str]]:
    """(status, target, detail) per target; SKIP when this invocation did not measure it."""
    out: list[tuple[str, str, str]] = []
    by_wn = {(r["workload"], r["n"]): r for r in ratios}
    for w in RATIO_WORKLOADS:
        res = by_wn.get((w, RATIO_N))
        engines = (res or {}).get("engines", {})
        for key, label, target in (
            ("total_s", "build + run", TOTAL_RATIO_TARGET),
            ("run_s", "run", RUN_RATIO_TARGET),
        ):
            name = f"{w} N={RATIO_N:,}: lockgate (functional) / dask {label} <= {target:g}"
            if res is None:
                out.append(("SKIP", name, "not measured"))
            elif res.get("error"):
                out.append(("FAIL", name, f"error: {res['error']}"))
            elif "lockgate" not in engines or "dask" not in engines:
                out.append(("SKIP", name, "needs the lockgate and dask engines"))
            else:
                ratio = engines["lockgate"][key] / engines["dask"][key]
                status = "PASS" if ratio <= target else "FAIL"
                out.append((status, name, f"ratio {ratio:.2f}"))

    by_scale = {(r["workload"], r["n"]): r for r in scale}
    for w in SCALE_WORKLOADS:
        r = by_scale.get((w, BIG_N))
        for label in ("time", "rss"):
            name = (
                f"{w} N={BIG_N:,}: functional build + run < {BIG_SECONDS:g} s"
                if label == "time"
                else f"{w} N={BIG_N:,}: peak RSS < {RSS_LIMIT_MIB / 1024:g} GiB"
            )
            if r is None:
                out.append(("SKIP", name, "not measured"))
            elif r.get("error"):
                out.append(("FAIL", name, f"error: {r['error']}"))
            elif label == "time":
                status = "PASS" if r["total_s"] < BIG_SECONDS else "FAIL"
                detail = (
                    f"{r['total_s']:.1f} s CPU (build {r['build_s']:.1f} + run {r['run_s']:.1f})"
                )
                out.append((status, name, detail))
            else:
                status = "PASS" if r["peak_rss_mib"] < RSS_LIMIT_MIB else "FAIL"
                out.append((status, name, f"{r['peak_rss_mib']:.0f} MiB"))

    for w in sorted({r["workload"] for r in scale}):
        name = f"{w}: nothing super-linear (µs/task at the largest N <= {GROWTH_LIMIT:g}x the smallest's)"
        rows = sorted((r for r in scale if r["workload"] == w), key=lambda r: r["n"])
        if len(rows) < 2:
            out.append(("SKIP", name, "needs two sizes"))
        elif any(r.get("error") for r in rows):
            out.append(("FAIL", name, "error"))
        else:
            small, large = rows[0], rows[-1]
            # Build + run, and build alone (at small N the run's fixed costs hide its growth).
            for key, label in (("total_s", ""), ("build_s", "build ")):
                per = [r[key] / r["tasks"] * 1e6 for r in (small, large)]
                growth = per[1] / per[0] if per[0] > 0 else 0.0
                status = "PASS" if growth <= GROWTH_LIMIT else "FAIL"
                detail = (
                    f"{label}{per[0]:.1f} µs/task at N={small['n']:,} -> {per[1]:.1f} "
                    f"at N={large['n']:,} ({growth:.1f}x)"
                )
                out.append((status, name, detail))

    name = f'`python -c "import lockgate"` < {IMPORT_LIMIT_MS:g} ms'
    if imports is None:
        out.append(("SKIP", name, "not measured"))
    elif "error" in imports:
        out.append(("FAIL", name, "import failed"))
    else:
        status = "PASS" if imports["import_ms"] < IMPORT_LIMIT_MS else "FAIL"
        detail = (
            f"{imports['import_ms']:.0f} ms wall ({imports['net_ms']:.0f} ms over bare startup)"
        )
        out.append((status, name, detail))
    return out


def parse_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="ratios: comma-separated N values")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="subset of W1,W2,W3,W4")
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help="subset of " + ",".join(ENGINES)
    )
    parser.add_argument(
        "--repeat", type=int, default=5, help="interleaved runs per engine; the best is reported"
    )
    parser.add_argument(
        "--scale-sizes",
        default="1000,10000,100000,1000000",
        help="scale: N values for lockgate alone on W1, W2, one process each ('' to skip)",
    )
    parser.add_argument(
        "--timeout", type=float, default=1200.0, help="seconds allowed per child process"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument(
        "--no-import-time", action="store_true", help="skip the import-time measurement"
    )
    parser.add_argument(
        "--gc-freeze",
        action="store_true",
        help="scale: call gc.freeze() after building (what a user may do for a big flow)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target FAILs")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        child_main(args.child[0], args.child[1:])
        return 0

    sizes = [int(s.replace("_", "")) for s in parse_list(args.sizes)]
    scale_sizes = [int(s.replace("_", "")) for s in parse_list(args.scale_sizes)]
    workloads = [w.upper() for w in parse_list(args.workloads)]
    engines = [e.lower() for e in parse_list(args.engines)]
    for w in workloads:
        if w not in WORKLOADS:
            parser.error(f"unknown workload {w!r}; choose from {', '.join(WORKLOADS)}")
    for e in engines:
        if e not in ENGINES:
            parser.error(f"unknown engine {e!r}; choose from {', '.join(ENGINES)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    print(f"lockgate core benchmark -- Python {platform.python_version()} on {platform.platform()}")
    print(f"workloads: {', '.join(f'{w} {DESCRIPTIONS[w]}' for w in workloads)}")
    print(
        "CPU time (time.process_time); ratios: engines interleaved in one process per "
        f"(workload, N), best of {args.repeat}; GC % = the collector's share (gc.callbacks)\n"
    )

    imports: dict[str, float] | None = None
    if not args.no_import_time and any(e.startswith("lockgate") for e in engines):
        try:
            base = time_interpreter("pass", 5)
            imp = time_interpreter("import lockgate", 5)
            imports = {"baseline_ms": base, "import_ms": imp, "net_ms": imp - base}
            print(
                f'import: `python -c "import lockgate"` {imp:.1f} ms median of 5 '
                f"(`python -c pass` {base:.1f} ms; net {imp - base:.1f} ms)\n"
            )
        except subprocess.CalledProcessError as exc:
            imports = {"error": 1.0}
            print(
                f'import: `python -c "import lockgate"` FAILED: {exc.stderr.strip().splitlines()[-1:]}\n'
            )

    started = time.perf_counter()
    ratios: list[dict[str, Any]] = []
    for w in workloads:
        for n in sizes:
            child = ["ratio", w, str(n), ",".join(engines), str(args.repeat)]
            ratios.append(run_child(child, args.timeout))
            status = "ERROR" if ratios[-1].get("error") else "done"
            print(f"  measured {w} N={n:,}: {status}", file=sys.stderr, flush=True)
    scale: list[dict[str, Any]] = []
    if "lockgate" in engines:
        for w in (w for w in SCALE_WORKLOADS if w in workloads):
            for n in scale_sizes:
                freeze = "freeze" if args.gc_freeze else "no-freeze"
                scale.append(run_child(["scale", w, str(n), freeze], args.timeout))
                r = scale[-1]
                status = "ERROR" if r.get("error") else f"{r['total_s']:.2f} s"
                print(f"  scaled {w} N={n:,}: {status}", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started

    if ratios:
        print("Ratios: every engine in one process per (workload, N), interleaved\n")
        print_ratio_table(ratios)
    if scale:
        frozen = " (gc.freeze() after building)" if args.gc_freeze else ""
        print(f"\nScale: lockgate (functional API) alone, one process per size{frozen}\n")
        print_scale_table(scale)
    for r in ratios + scale:
        if r.get("error"):
            print(f"ERROR {r['workload']} N={r['n']:,}: {r['error']}")
            for line in r.get("stderr_tail", []):
                print(f"    {line}")
    print(f"\n(total benchmark wall time {elapsed:.1f} s)\n")
    results = verdicts(ratios, scale, imports)
    for status, name, detail in results:
        print(f"{status}  {name}: {detail}")

    if args.json:
        payload = {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "repeat": args.repeat,
            "import": imports,
            "ratios": ratios,
            "scale": scale,
            "targets": [{"status": s, "target": t, "detail": d} for s, t, d in results],
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
        print(f"\nwrote {args.json}")
    if any(r.get("error") for r in ratios + scale):
        return 1  # a broken run is never a benchmark result
    return 1 if args.strict and any(s == "FAIL" for s, _, _ in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
