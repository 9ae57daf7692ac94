"""Run store benchmark: what recording costs a run, and how fast the CLI's reads are.

Two measurements:

- **W2 with the store on vs off**: bench_core's fan-out/fan-in workload (one root, N middle
  tasks, one reducer) run with ``flow.run()`` and with ``flow.run(store=...)`` on a fresh
  SQLite store, each in a fresh child process; the ratio on/off of the run times (the
  store's final flush included) is the store's per-task cost. Target: <= 1.25 at N = 10,000.
- **Reads on a big store**: a SQLite store filled with R runs of T tasks each (bulk inserts
  straight through the store's tables: fast, and the rows look like recorded ones), then, in
  a fresh child, the data paths of ``lockgate runs`` (``RunStore.open`` + ``list_runs()``) and
  ``lockgate show RUN`` (``get_run`` + ``task_runs``). Target: each under 0.5 s at
  1,000 runs x 1,000 tasks.

    python bench/bench_store.py                     # N = 10,000; 1,000 runs x 1,000 tasks
    python bench/bench_store.py --quick             # smoke: N = 1,000; 50 runs x 200 tasks
    python bench/bench_store.py --repeat 5 --json out.json
    python bench/bench_store.py --only w2 --breakdown   # where the store's time goes

``--breakdown`` adds runs that switch parts of the recorder off (this is a measuring tool,
not a mode lockgate has): ``hooks`` installs the recorder but records nothing (the run's
start and end records, the state handler and hook calls), ``pickle`` adds pickling each
result, ``queue`` adds queueing every change for the writer thread (which then sends the
writer process empty batches); ``on`` is everything. It also adds ``thread``: the store on
with ``LOCKGATE_STORE_WRITER=thread`` (rows written from a thread of the run's process, as
for PostgreSQL), to show what the writer process saves. Each row's cost over ``off`` shows
what that part adds.

CPU is counted for the run's process and its writer process together.

Every run is checked (the flow succeeds, the store holds every task run), so a broken run
cannot be timed silently.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

RESULT_MARK = "@@BENCH-RESULT "
RATIO_TARGET = 1.25  # issue 14 (was 1.5)
RATIO_N = 10_000
READ_TARGET_S = 0.5
FULL_RUNS, FULL_TASKS = 1_000, 1_000


# ---------------------------------------------------------------------------------------------
# Children: one measurement each, printed as one JSON line.
# ---------------------------------------------------------------------------------------------


BREAKDOWN_MODES = ("hooks", "pickle", "queue", "thread")


def measure_w2(n: int, mode: str, home: str) -> dict[str, Any]:
    """Run W2 at ``n`` with the store ``on`` (fresh SQLite store under ``home``), ``off``,
    or with parts of the recorder switched off (one of :data:`BREAKDOWN_MODES`)."""
    import bench_core

    classes = bench_core.lockgate_classes()
    out: dict[str, Any] = {"kind": "w2", "n": n, "mode": mode, "tasks": n + 2}
    # flow.run() imports the engine on first use: import it before the clock starts, so
    # neither mode times imports (or compiling them, where bytecode is not cached).
    import lockgate.engine.executors.threads
    import lockgate.engine.flow_runner  # noqa: F401

    store = None
    if mode != "off":
        from lockgate.store import RunStore
        from lockgate.store import recorder as rec

        if mode == "hooks":
            rec.StoreRecorder._store_result = lambda self, runner, new: None  # type: ignore[method-assign]
        if mode in ("hooks", "pickle"):
            rec.StoreRecorder._record = lambda self, name, old, new, data: None  # type: ignore[method-assign]
        if mode == "queue":
            send_batch = rec._ProcessSink.write
            rec._ProcessSink.write = lambda self, batch, *, reply: send_batch(self, [], reply=reply)  # type: ignore[method-assign]
        if mode == "thread":
            os.environ["LOCKGATE_STORE_WRITER"] = "thread"
        store = RunStore.open(f"sqlite:///{home}/store.db", home=Path(home))
    flow, handles = bench_core.lockgate_build("W2", n, None, classes)
    t0 = time.perf_counter()
    c0 = _cpu_s()
    state = flow.run(store=store) if store is not None else flow.run(store=False)
    out["run_s"] = time.perf_counter() - t0
    out["cpu_s"] = _cpu_s() - c0  # the writer process has ended by now: it is counted
    out["error"] = bench_core.lockgate_check("W2", n, state, handles, bench_core.reference("W2", n))
    if mode in ("on", "thread") and store is not None and out["error"] is None:
        (run,) = store.list_runs()
        if run.state != "Success" or run.task_counts != {"Success": n + 2}:
            out["error"] = f"store holds {run.state} {run.task_counts}"
    if store is not None:
        store.close()
    return out


def _cpu_s() -> float:
    """CPU seconds of this process and of its children that have ended."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def fill_store(url: str, home: str, runs: int, tasks: int) -> dict[str, Any]:
    """Bulk-insert ``runs`` runs of ``tasks`` task runs each (rows like recorded ones)."""
    import pickle
    import uuid

    from lockgate.store import RunStore, schema
    from lockgate.store.history import entry
    from lockgate.store.results import INLINE_HANDLER_NAME
    from lockgate.store.states import INLINE_LOCATION

    t0 = time.perf_counter()
    store = RunStore.open(url, home=Path(home))
    start = time.time() - runs * 60
    blob = pickle.dumps(1)
    columns = [c.name for c in schema.task_runs.c]
    insert_tasks = (
        f"INSERT INTO task_runs ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    )
    with store.engine.begin() as conn:
        flow_id = conn.execute(
            schema.flows.insert().values(
                name="bench", graph_hash="0" * 64, source="bench.py", created=start
            )
        ).inserted_primary_key[0]
        for r in range(runs):
            run_id = uuid.uuid4().hex
            t = start + r * 60
            failed = r % 10 == 0
            conn.execute(
                schema.flow_runs.insert().values(
                    id=run_id,
                    flow_id=flow_id,
                    flow_name="bench",
                    graph_hash="0" * 64,
                    source="bench.py",
                    parameters="{}",
                    executor="local",
                    state="Failed" if failed else "Success",
                    message="done",
                    start_time=t,
                    end_time=t + 30,
                    pid=1,
                    host="bench",
                    proc_start=None,
                    active=False,
                    created=t,
                    history=entry(t, None, "Running", None)
                    + entry(t + 30, "Running", "Success", None),
                )
            )
            hist = entry(t, "Pending", "Running", "Starting task run.") + entry(
                t + 1, "Running", "Success", "Task run succeeded."
            )
            rows = [
                (
                    run_id,
                    f"task-{i}",
                    -1,
                    i,
                    "task",
                    "Failed" if failed and i == tasks - 1 else "Success",
                    "Task run succeeded.",
                    1,
                    t,
                    t + 1,
                    None,
                    INLINE_LOCATION,
                    INLINE_HANDLER_NAME,
                    blob,
                    None,
                    None,
                    None,
                    hist,
                )
                for i in range(tasks)
            ]
            conn.exec_driver_sql(insert_tasks, rows)
    store.close()
    return {"kind": "fill", "runs": runs, "tasks": tasks, "fill_s": time.perf_counter() - t0}


def measure_reads(url: str, home: str) -> dict[str, Any]:
    """Time the data paths of ``lockgate runs`` and ``lockgate show`` in a fresh process."""
    out: dict[str, Any] = {"kind": "reads"}
    t0 = time.perf_counter()
    from lockgate.store import RunStore

    out["import_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    store = RunStore.open(url, home=Path(home))
    out["open_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    runs = store.list_runs()
    out["list_runs_s"] = time.perf_counter() - t0
    target = runs[len(runs) // 2].id
    t0 = time.perf_counter()
    run = store.get_run(target[:8])
    rows = store.task_runs(run.id)
    out["show_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    store.list_runs(state="failed")
    out["list_failed_s"] = time.perf_counter() - t0
    out["listed"] = len(runs)
    out["shown_tasks"] = len(rows)
    out["error"] = (
        None if len(runs) == 50 and len(rows) > 0 else f"{len(runs)} runs, {len(rows)} tasks"
    )
    store.close()
    return out


def child_main(args: list[str]) -> None:
    try:
        kind = args[0]
        if kind == "w2":
            out = measure_w2(int(args[1]), args[2], args[3])
        elif kind == "fill":
            out = fill_store(args[1], args[2], int(args[3]), int(args[4]))
        elif kind == "reads":
            out = measure_reads(args[1], args[2])
        else:
            raise ValueError(kind)
    except Exception as exc:  # report, never crash silently
        import traceback

        traceback.print_exc()
        out = {"kind": args[0], "error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(RESULT_MARK + json.dumps(out) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# The parent.
# ---------------------------------------------------------------------------------------------


def run_child(args: list[str], timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"kind": args[0], "error": f"timed out after {timeout:g} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            out: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
            return out
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"kind": args[0], "error": f"child exited {proc.returncode}: {tail}"}


def bench_w2(n: int, repeat: int, timeout: float, breakdown: bool = False) -> dict[str, Any]:
    modes = ("off", *(BREAKDOWN_MODES if breakdown else ()), "on")
    samples: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    for _ in range(repeat):
        for mode in modes:  # interleaved, so load changes hit all alike
            home = tempfile.mkdtemp(prefix="lockgate-bench-store-")
            try:
                samples[mode].append(run_child(["w2", str(n), mode, home], timeout))
            finally:
                shutil.rmtree(home, ignore_errors=True)
    best: dict[str, Any] = {"n": n, "modes": modes}
    for mode, rows in samples.items():
        errors = [r for r in rows if r.get("error")]
        if errors:
            best[mode] = {"error": errors[0]["error"]}
            continue
        fastest = min(rows, key=lambda r: r["run_s"])
        best[mode] = {
            "run_s": fastest["run_s"],
            "cpu_s": min(r["cpu_s"] for r in rows),
            "us_per_task": fastest["run_s"] / fastest["tasks"] * 1e6,
            "all_run_s": [round(r["run_s"], 4) for r in rows],
        }
    if "run_s" in best["off"] and "run_s" in best["on"]:
        best["ratio"] = best["on"]["run_s"] / best["off"]["run_s"]
        best["cpu_ratio"] = best["on"]["cpu_s"] / best["off"]["cpu_s"]
    return best


def bench_reads(runs: int, tasks: int, repeat: int, timeout: float) -> dict[str, Any]:
    home = tempfile.mkdtemp(prefix="lockgate-bench-store-")
    url = f"sqlite:///{home}/store.db"
    try:
        fill = run_child(["fill", url, home, str(runs), str(tasks)], timeout)
        if fill.get("error"):
            return {"runs": runs, "tasks": tasks, "error": fill["error"]}
        samples = [run_child(["reads", url, home], timeout) for _ in range(repeat)]
        commands = time_commands(url, home, repeat)
        size = os.path.getsize(f"{home}/store.db")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    errors = [s for s in samples if s.get("error")]
    if errors:
        return {"runs": runs, "tasks": tasks, "error": errors[0]["error"]}
    keys = ("import_s", "open_s", "list_runs_s", "show_s", "list_failed_s")
    out: dict[str, Any] = {
        "runs": runs,
        "tasks": tasks,
        "fill_s": fill["fill_s"],
        "db_mib": size / 2**20,
    }
    for key in keys:
        out[key] = min(s[key] for s in samples)
    out["shown_tasks"] = samples[0]["shown_tasks"]
    out.update(commands)
    return out


def time_commands(url: str, home: str, repeat: int) -> dict[str, Any]:
    """Wall time of the real ``lockgate runs`` and ``lockgate show RUN`` processes (best of
    ``repeat``): interpreter start, imports, the query and drawing the table."""
    exe = shutil.which("lockgate", path=str(Path(sys.executable).parent))
    if exe is None:
        return {"commands_error": "the lockgate console script is not installed"}
    env = {**os.environ, "LOCKGATE_STORE_URL": url, "LOCKGATE_HOME": home, "COLUMNS": "160"}
    listing = subprocess.run(
        [exe, "runs", "--limit", "1"], capture_output=True, text=True, env=env, check=False
    )
    lines = listing.stdout.split()
    run_id = lines[lines.index("RUN") + 6] if "RUN" in lines else ""  # first cell after header
    out: dict[str, Any] = {}
    for key, args in (("cli_runs_s", ["runs"]), ("cli_show_s", ["show", run_id])):
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            done = subprocess.run([exe, *args], capture_output=True, env=env, check=False)
            best = min(best, time.perf_counter() - t0)
            if done.returncode != 0:
                return {"commands_error": f"lockgate {' '.join(args)}: {done.stderr[-300:]!r}"}
        out[key] = best
    return out


def print_w2(result: dict[str, Any]) -> None:
    print(f"W2 (fan-out/fan-in), N = {result['n']:,}: flow.run() with the SQLite store off vs on")
    header = ["store", "run s", "µs/task", "over off µs/task", "CPU s", "all runs (s)"]
    rows = []
    off = result["off"].get("us_per_task")
    for mode in result["modes"]:
        r = result[mode]
        if "error" in r:
            rows.append([mode, "ERROR", "", "", "", r["error"]])
        else:
            rows.append(
                [
                    mode,
                    f"{r['run_s']:.3f}",
                    f"{r['us_per_task']:.2f}",
                    "" if off is None or mode == "off" else f"{r['us_per_task'] - off:+.2f}",
                    f"{r['cpu_s']:.3f}",
                    str(r["all_run_s"]),
                ]
            )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    if "ratio" in result:
        print(
            f"ratio on/off: {result['ratio']:.2f} (wall), {result['cpu_ratio']:.2f} (CPU); "
            f"store cost {((result['on']['run_s'] - result['off']['run_s']) / (result['n'] + 2)) * 1e6:.2f} µs/task"
        )
    print()


def print_reads(result: dict[str, Any]) -> None:
    print(f"Reads on a store of {result['runs']:,} runs x {result['tasks']:,} tasks")
    if "error" in result:
        print(f"ERROR: {result['error']}\n")
        return
    print(f"  filled in {result['fill_s']:.1f} s; database {result['db_mib']:.0f} MiB")
    for label, key in (
        ("import lockgate.store.RunStore", "import_s"),
        ("RunStore.open (version check)", "open_s"),
        ("list_runs()  (lockgate runs)", "list_runs_s"),
        ("get_run + task_runs (lockgate show)", "show_s"),
        ("list_runs(state='failed')", "list_failed_s"),
        ("`lockgate runs` (whole process)", "cli_runs_s"),
        ("`lockgate show RUN` (whole process)", "cli_show_s"),
    ):
        if key in result:
            print(f"  {label:<38} {result[key]:.4f} s")
    if "commands_error" in result:
        print(f"  commands: ERROR {result['commands_error']}")
    print()


def verdicts(
    w2: dict[str, Any] | None, reads: dict[str, Any] | None, quick: bool
) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    name = f"W2 N={RATIO_N:,}: store on/off run time <= {RATIO_TARGET}"
    if w2 is None or w2["n"] != RATIO_N:
        out.append(("SKIP", name, "not measured at this N" + (" (--quick)" if quick else "")))
    elif "ratio" not in w2:
        out.append(("FAIL", name, "a run failed"))
    else:
        out.append(
            ("PASS" if w2["ratio"] <= RATIO_TARGET else "FAIL", name, f"ratio {w2['ratio']:.2f}")
        )
    for key, label in (("list_runs_s", "runs"), ("show_s", "show")):
        name = f"{FULL_RUNS:,} runs x {FULL_TASKS:,} tasks: `lockgate {label}` data path < {READ_TARGET_S} s"
        if reads is None or (reads.get("runs"), reads.get("tasks")) != (FULL_RUNS, FULL_TASKS):
            out.append(
                ("SKIP", name, "not measured at this size" + (" (--quick)" if quick else ""))
            )
        elif "error" in reads:
            out.append(("FAIL", name, reads["error"]))
        else:
            total = reads["open_s"] + reads[key]
            status = "PASS" if total < READ_TARGET_S else "FAIL"
            out.append((status, name, f"open + query {total:.3f} s"))
    for key, label in (("cli_runs_s", "lockgate runs"), ("cli_show_s", "lockgate show RUN")):
        name = f"{FULL_RUNS:,} runs x {FULL_TASKS:,} tasks: `{label}` command < {READ_TARGET_S} s"
        if reads is None or (reads.get("runs"), reads.get("tasks")) != (FULL_RUNS, FULL_TASKS):
            continue
        if key not in reads:
            out.append(("FAIL", name, reads.get("commands_error", "not measured")))
        else:
            status = "PASS" if reads[key] < READ_TARGET_S else "FAIL"
            out.append((status, name, f"whole process {reads[key]:.3f} s"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=RATIO_N, help="W2 middle tasks (default 10,000)")
    parser.add_argument(
        "--runs", type=int, default=FULL_RUNS, help="runs in the read benchmark's store"
    )
    parser.add_argument("--tasks", type=int, default=FULL_TASKS, help="tasks per run in that store")
    parser.add_argument(
        "--repeat", type=int, default=3, help="measurements per case; the best is kept"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke: N = 1,000; 50 runs x 200 tasks; repeat 1"
    )
    parser.add_argument("--only", choices=("w2", "reads"), help="run one of the two benchmarks")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="W2 also with parts of the recorder off: where the store's time goes",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per child process")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return
    if args.quick:
        args.n, args.runs, args.tasks, args.repeat = 1_000, 50, 200, 1
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs\n")
    w2 = reads = None
    if args.only in (None, "w2"):
        w2 = bench_w2(args.n, args.repeat, args.timeout, args.breakdown)
        print_w2(w2)
    if args.only in (None, "reads"):
        reads = bench_reads(args.runs, args.tasks, args.repeat, args.timeout)
        print_reads(reads)
    results = verdicts(w2, reads, args.quick)
    for status, name, detail in results:
        print(f"{status:<4}  {name}: {detail}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"w2": w2, "reads": reads, "verdicts": results}, f, indent=2)
    if any(status == "FAIL" for status, _, _ in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
