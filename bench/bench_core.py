"""Per-task overhead benchmark: lockgate's LocalExecutor against dask's synchronous scheduler.

Workloads (every task is tiny: it returns ``x + 1`` or a sum):

- W1  a linear chain of N tasks;
- W2  fan-out / fan-in: one root, N middle tasks, one reducer of all N results;
- W3  one task mapped over N items, then reduced (the reducer receives the list);
- W4  a random DAG of N tasks (seeded), about three upstream edges per task.

Each workload runs on three engines, on the same graph:

- ``lockgate``  a Flow built imperatively, run with ``flow.run()`` (LocalExecutor);
- ``dask``      a raw dask graph (a dict) run by ``dask.get`` (the synchronous scheduler);
- ``python``    the same functions called in topological order.

Every measurement (workload, N, engine, repeat) runs in a fresh child process (this script with
the hidden ``--child`` flag), so the peak RSS reported is that measurement's own. Graph-build time
and run time are reported separately; ``µs/task`` and the lockgate/dask ratio use the run time.
Every run is checked against the plain-Python answer, so a broken run cannot be timed silently.

    python bench/bench_core.py                              # N = 1,000 / 10,000 / 100,000
    python bench/bench_core.py --sizes 1000 --repeat 1      # smoke run
    python bench/bench_core.py --workloads W1,W4 --engines lockgate,dask --json out.json

dask and psutil are bench-only dependencies (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
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
ENGINES = ("lockgate", "dask", "python")
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

# Targets from the issue.
RATIO_TARGET = 1.0
RATIO_WORKLOADS = ("W1", "W2", "W4")
RATIO_N = 10_000
BIG_N = 100_000
W1_BIG_SECONDS = 3.0
RSS_LIMIT_MIB = 1024.0
IMPORT_LIMIT_MS = 150.0
# "Building must be O(N)": build µs/task at the largest N at most this multiple of the smallest N's
# (some growth is allowed for the garbage collector and cache misses; O(N^2) grows ~N-fold).
BUILD_GROWTH_LIMIT = 4.0


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
# The child: one measurement in a fresh process, printed as one JSON line.
# ---------------------------------------------------------------------------------------------


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def measure(workload: str, n: int, engine: str) -> dict[str, Any]:
    deps = w4_upstreams(n) if workload == "W4" else None
    out: dict[str, Any] = {"workload": workload, "n": n, "engine": engine}
    out["tasks"] = task_count(workload, n)

    if engine == "lockgate":
        classes = lockgate_classes()  # imports lockgate; its import cost is measured separately
        out["rss_base_mib"] = peak_rss_mib()
        t0 = time.perf_counter()
        flow, handles = lockgate_build(workload, n, deps, classes)
        t1 = time.perf_counter()
        result: Any = flow.run()
        t2 = time.perf_counter()
        out["peak_rss_mib"] = peak_rss_mib()
        ref = reference(workload, n, deps)
        out["error"] = lockgate_check(workload, n, result, handles, ref)
    elif engine == "dask":
        import dask

        out["rss_base_mib"] = peak_rss_mib()
        t0 = time.perf_counter()
        dsk, keys = dask_build(workload, n, deps)
        t1 = time.perf_counter()
        result = dask.get(dsk, keys)
        t2 = time.perf_counter()
        out["peak_rss_mib"] = peak_rss_mib()
        out["error"] = dask_check(workload, n, result, reference(workload, n, deps))
    elif engine == "python":
        out["rss_base_mib"] = peak_rss_mib()
        t0 = time.perf_counter()
        plan = python_build(workload, n, deps)
        t1 = time.perf_counter()
        result = python_run(workload, plan)
        t2 = time.perf_counter()
        out["peak_rss_mib"] = peak_rss_mib()
        out["error"] = python_check(workload, n, result, reference(workload, n, deps))
    else:
        raise ValueError(engine)
    out["build_s"] = t1 - t0
    out["run_s"] = t2 - t1
    return out


def child_main(workload: str, n: int, engine: str) -> None:
    try:
        out = measure(workload, n, engine)
    except Exception as exc:  # report, never crash silently: the parent marks the row ERROR
        import traceback

        traceback.print_exc()
        out = {
            "workload": workload,
            "n": n,
            "engine": engine,
            "error": f"{type(exc).__name__}: {exc}",
        }
    sys.stdout.write(RESULT_MARK + json.dumps(out) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# The parent: spawn children, keep the best of --repeat, print the table and the verdicts.
# ---------------------------------------------------------------------------------------------


def run_child(workload: str, n: int, engine: str, timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", workload, str(n), engine]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {
            "workload": workload,
            "n": n,
            "engine": engine,
            "error": f"timed out after {timeout:g} s",
        }
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            out: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
            if out.get("error") and proc.stderr.strip():
                out["stderr_tail"] = proc.stderr.strip().splitlines()[-5:]
            return out
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {
        "workload": workload,
        "n": n,
        "engine": engine,
        "error": f"child exited {proc.returncode}: {tail}",
    }


def best_of(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Best (fastest) run time and build time; the highest peak RSS seen (the conservative one)."""
    errors = [s for s in samples if s.get("error")]
    if errors:
        out = dict(errors[0])
        out["repeats"] = len(samples)
        return out
    best = dict(min(samples, key=lambda s: s["run_s"]))
    best["build_s"] = min(s["build_s"] for s in samples)
    best["peak_rss_mib"] = max(s["peak_rss_mib"] for s in samples)
    best["repeats"] = len(samples)
    best["run_s_all"] = [s["run_s"] for s in samples]
    return best


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


def fmt_row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(
        c.ljust(w) if i < 3 else c.rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def print_table(rows: list[dict[str, Any]]) -> None:
    header = [
        "workload",
        "N",
        "engine",
        "build s",
        "run s",
        "µs/task",
        "peak RSS MiB",
        "lockgate/dask",
        "build µs/task",
    ]
    lines = []
    by_key = {(r["workload"], r["n"], r["engine"]): r for r in rows}
    for r in rows:
        if r.get("error"):
            cells = [r["workload"], f"{r['n']:,}", r["engine"], "ERROR", "", "", "", "", ""]
        else:
            us = r["run_s"] / r["tasks"] * 1e6
            ratio = ""
            if r["engine"] == "lockgate":
                d = by_key.get((r["workload"], r["n"], "dask"))
                if d and not d.get("error"):
                    ratio = f"{r['run_s'] / d['run_s']:.2f}"
            build_us = f"{r['build_s'] / r['tasks'] * 1e6:.2f}" if r["engine"] == "lockgate" else ""
            cells = [
                r["workload"],
                f"{r['n']:,}",
                r["engine"],
                f"{r['build_s']:.3f}",
                f"{r['run_s']:.3f}",
                f"{us:.2f}",
                f"{r['peak_rss_mib']:.1f}",
                ratio,
                build_us,
            ]
        lines.append(cells)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    print(fmt_row(header, widths))
    print("  ".join("-" * w for w in widths))
    prev_group = None
    for cells, r in zip(lines, rows, strict=True):
        group = (r["workload"], r["n"])
        if prev_group is not None and group != prev_group:
            print()
        prev_group = group
        print(fmt_row(cells, widths))
    for r in rows:
        if r.get("error"):
            print(f"ERROR {r['workload']} N={r['n']:,} {r['engine']}: {r['error']}")
            for line in r.get("stderr_tail", []):
                print(f"    {line}")


def verdicts(
    rows: list[dict[str, Any]], imports: dict[str, float] | None
) -> list[tuple[str, str, str]]:
    """(status, target, detail) per target; SKIP when this invocation did not measure it."""
    by_key = {(r["workload"], r["n"], r["engine"]): r for r in rows}
    out: list[tuple[str, str, str]] = []

    def ok(r: dict[str, Any] | None) -> bool:
        return r is not None and not r.get("error")

    for w in RATIO_WORKLOADS:
        name = f"{w} N={RATIO_N:,}: lockgate/dask run time <= {RATIO_TARGET:.1f}"
        lg, dk = by_key.get((w, RATIO_N, "lockgate")), by_key.get((w, RATIO_N, "dask"))
        if lg is None or dk is None:
            out.append(("SKIP", name, "not measured"))
        elif not ok(lg) or not ok(dk):
            out.append(("FAIL", name, "error: " + str((lg if not ok(lg) else dk)["error"])))
        else:
            assert lg is not None and dk is not None
            ratio = lg["run_s"] / dk["run_s"]
            out.append(("PASS" if ratio <= RATIO_TARGET else "FAIL", name, f"ratio {ratio:.2f}"))

    big = [r for r in rows if r["n"] == BIG_N and r["engine"] == "lockgate"]
    name = f"N={BIG_N:,}: lockgate runs every workload"
    if not big:
        out.append(("SKIP", name, "not measured"))
    else:
        failed = [r["workload"] for r in big if not ok(r)]
        detail = f"ran {', '.join(sorted(r['workload'] for r in big if ok(r))) or 'none'}"
        if failed:
            detail += f"; failed {', '.join(failed)}"
        out.append(("FAIL" if failed else "PASS", name, detail))

    lg = by_key.get(("W1", BIG_N, "lockgate"))
    name = f"W1 N={BIG_N:,}: lockgate build + run < {W1_BIG_SECONDS:g} s"
    if lg is None:
        out.append(("SKIP", name, "not measured"))
    elif not ok(lg):
        out.append(("FAIL", name, "error"))
    else:
        total = lg["build_s"] + lg["run_s"]
        status = "PASS" if total < W1_BIG_SECONDS else "FAIL"
        out.append(
            (status, name, f"{total:.2f} s (build {lg['build_s']:.2f} + run {lg['run_s']:.2f})")
        )

    name = f"N={BIG_N:,}: lockgate peak RSS < {RSS_LIMIT_MIB:.0f} MiB"
    measured = [r for r in big if ok(r)]
    if not measured:
        out.append(("SKIP", name, "not measured"))
    else:
        worst = max(measured, key=lambda r: r["peak_rss_mib"])
        status = "PASS" if worst["peak_rss_mib"] < RSS_LIMIT_MIB else "FAIL"
        out.append((status, name, f"max {worst['peak_rss_mib']:.0f} MiB ({worst['workload']})"))

    for w in sorted({r["workload"] for r in rows}):
        name = f"{w}: lockgate build is O(N) (build µs/task grows <= {BUILD_GROWTH_LIMIT:g}x)"
        lgs = sorted(
            (r for r in rows if r["workload"] == w and r["engine"] == "lockgate"),
            key=lambda r: r["n"],
        )
        if w == "W3":
            out.append(("SKIP", name, "W3 builds 3 tasks whatever N; mapping happens at run time"))
        elif len(lgs) < 2:
            out.append(("SKIP", name, "needs two sizes"))
        elif not all(ok(r) for r in lgs):
            out.append(("FAIL", name, "error"))
        else:
            small, large = lgs[0], lgs[-1]
            per = [r["build_s"] / r["tasks"] * 1e6 for r in (small, large)]
            growth = per[1] / per[0] if per[0] > 0 else 0.0
            status = "PASS" if growth <= BUILD_GROWTH_LIMIT else "FAIL"
            detail = f"{per[0]:.2f} µs/task at N={small['n']:,} -> {per[1]:.2f} at N={large['n']:,} ({growth:.1f}x)"
            out.append((status, name, detail))

    name = f'`python -c "import lockgate"` < {IMPORT_LIMIT_MS:g} ms'
    if imports is None:
        out.append(("SKIP", name, "not measured"))
    elif "error" in imports:
        out.append(("FAIL", name, "import failed"))
    else:
        status = "PASS" if imports["import_ms"] < IMPORT_LIMIT_MS else "FAIL"
        out.append(
            (
                status,
                name,
                f"{imports['import_ms']:.0f} ms wall ({imports['net_ms']:.0f} ms over bare startup)",
            )
        )
    return out


def parse_list(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated N values")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="subset of W1,W2,W3,W4")
    parser.add_argument(
        "--engines", default=",".join(ENGINES), help="subset of lockgate,dask,python"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement; the best is reported"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds allowed per child run"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument(
        "--no-import-time", action="store_true", help="skip the import-time measurement"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target FAILs")
    parser.add_argument("--child", nargs=3, metavar=("W", "N", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        workload, n, engine = args.child
        child_main(workload, int(n), engine)
        return 0

    sizes = [int(s.replace("_", "")) for s in parse_list(args.sizes)]
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
        f"one fresh process per measurement; best of {args.repeat}; µs/task and the ratio use run time\n"
    )

    imports: dict[str, float] | None = None
    if not args.no_import_time and "lockgate" in engines:
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

    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for w in workloads:
        for n in sizes:
            for e in engines:
                samples = []
                for _ in range(args.repeat):
                    s = run_child(w, n, e, args.timeout)
                    samples.append(s)
                    if s.get("error"):
                        break
                rows.append(best_of(samples))
                r = rows[-1]
                status = "ERROR" if r.get("error") else f"run {r['run_s']:.3f} s"
                print(f"  measured {w} N={n:,} {e}: {status}", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started

    print_table(rows)
    print(f"\n(total benchmark wall time {elapsed:.1f} s)\n")
    results = verdicts(rows, imports)
    for status, name, detail in results:
        print(f"{status}  {name}: {detail}")

    if args.json:
        payload = {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "repeat": args.repeat,
            "import": imports,
            "results": rows,
            "targets": [{"status": s, "target": t, "detail": d} for s, t, d in results],
        }
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2)
        print(f"\nwrote {args.json}")
    if any(r.get("error") for r in rows):
        return 1  # a broken run is never a benchmark result
    return 1 if args.strict and any(s == "FAIL" for s, _, _ in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
