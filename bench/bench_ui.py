"""Dashboard benchmark: how fast ``lockgate ui`` answers its pages on a big run store.

A SQLite store is filled with R runs of T tasks each (bulk inserts, as bench_store.py
does), plus one real run of a small flow file (so a run page with a drawn graph is
timed too). Then each page is requested through the ASGI application in this process
(no network, no server: the time is the app's own: queries, templates, drawing) and
timed; every response is checked (status 200 and a marker of the page's content).

Target: the runs list under 200 ms at 1,000 runs x 1,000 tasks.

    python bench/bench_ui.py                  # 1,000 runs x 1,000 tasks
    python bench/bench_ui.py --quick          # smoke: 50 runs x 200 tasks
    python bench/bench_ui.py --repeat 30 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

LIST_TARGET_S = 0.2
FULL_RUNS, FULL_TASKS = 1_000, 1_000

SMALL_FLOW = """
from lockgate import Flow, task


@task
def source():
    return list(range(20))


@task
def square(x):
    return x * x


@task
def total(xs):
    return sum(xs)


with Flow("small") as flow:
    total(square.map(source()))
"""


async def get(app: Any, path: str) -> tuple[int, str]:
    """One GET through the ASGI app; returns the status and the body."""
    raw_path, _, query = path.partition("?")
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8080")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body.decode("utf-8", "replace")


def pages(
    run_id: str, small_id: str, day: str, runs: int, tasks: int
) -> list[tuple[str, str, str, bool]]:
    """(label, path, a text the page must contain, held to the list target?)."""
    middle_page = max(1, runs // 25 // 2)
    return [
        ("runs list", "/", "<tr data-run=", True),
        ("runs list, state=failed", "/?state=failed", "<tr data-run=", True),
        ("runs list, flow=bench", "/?flow=bench", "<tr data-run=", True),
        ("runs list, one day", f"/?from={day}&to={day}", 'class="chart"', True),
        (f"runs list, page {middle_page}", f"/?page={middle_page}", "<tr data-run=", True),
        ("flows list", "/flows", 'class="flow"', False),
        (f"run page, {tasks:,} tasks", f"/runs/{run_id}", f'data-task="task-{tasks - 1}"', False),
        (f"run fragment, {tasks:,} tasks", f"/runs/{run_id}/fragment", 'data-task="task-0"', False),
        ("task page", f"/runs/{run_id}/tasks/task-{tasks // 2}", 'id="result"', False),
        ("run page with graph (small flow)", f"/runs/{small_id}", "<svg", False),
    ]


async def measure(
    url: str, run_id: str, small_id: str, repeat: int, runs: int, tasks: int
) -> list[dict[str, Any]]:
    from lockgate.ui import create_app

    app = create_app(url)
    day = time.strftime("%Y-%m-%d")
    out = []
    try:
        for label, path, marker, held in pages(run_id, small_id, day, runs, tasks):
            t0 = time.perf_counter()
            status, body = await get(app, path)
            first = time.perf_counter() - t0
            row: dict[str, Any] = {"page": label, "path": path, "held": held, "first_s": first}
            if status != 200 or marker not in body:
                row["error"] = f"status {status}, {'no ' + marker!r} in the page"
                out.append(row)
                continue
            samples = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                status, body = await get(app, path)
                samples.append(time.perf_counter() - t0)
                if status != 200:
                    row["error"] = f"status {status}"
                    break
            samples.sort()
            row.update(
                median_s=statistics.median(samples),
                p90_s=samples[min(len(samples) - 1, int(0.9 * len(samples)))],
                max_s=samples[-1],
                kib=len(body.encode()) / 1024,
            )
            out.append(row)
    finally:
        app.state.dashboard.store.close()
    return out


def run_small_flow(url: str, home: str) -> str:
    """Record one real run of a small mapped flow; return its id."""
    from lockgate import runs
    from lockgate.store import RunStore

    path = Path(home) / "small_flow.py"
    path.write_text(textwrap.dedent(SMALL_FLOW))
    with RunStore.open(url, home=Path(home)) as store:
        run_id, _ = runs.run_file(str(path), store=store)
    return run_id


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=FULL_RUNS, help="runs in the store")
    parser.add_argument("--tasks", type=int, default=FULL_TASKS, help="tasks per run")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per page")
    parser.add_argument("--quick", action="store_true", help="smoke: 50 runs x 200 tasks")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.tasks, args.repeat = 50, 200, 5

    import bench_store

    home = tempfile.mkdtemp(prefix="lockgate-bench-ui-")
    url = f"sqlite:///{home}/store.db"
    try:
        fill = bench_store.fill_store(url, home, args.runs, args.tasks)
        small_id = run_small_flow(url, home)
        from lockgate.store import RunStore

        with RunStore.open(url, home=Path(home)) as store:
            listed = store.list_runs(flow="bench", limit=args.runs)
            run_id = listed[len(listed) // 2].id
        size = os.path.getsize(f"{home}/store.db")
        results = asyncio.run(measure(url, run_id, small_id, args.repeat, args.runs, args.tasks))
    finally:
        shutil.rmtree(home, ignore_errors=True)

    print(
        f"Dashboard pages on a store of {args.runs:,} runs x {args.tasks:,} tasks "
        f"(filled in {fill['fill_s']:.1f} s, {size / 2**20:.0f} MiB), through the ASGI app; "
        f"{args.repeat} requests per page after a first one"
    )
    print(f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs")
    header = ["page", "first ms", "median ms", "p90 ms", "max ms", "KiB"]
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["page"], f"{r['first_s'] * 1e3:.1f}", "ERROR", r["error"], "", ""])
            continue
        rows.append(
            [
                r["page"],
                f"{r['first_s'] * 1e3:.1f}",
                f"{r['median_s'] * 1e3:.1f}",
                f"{r['p90_s'] * 1e3:.1f}",
                f"{r['max_s'] * 1e3:.1f}",
                f"{r['kib']:.0f}",
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print()

    failed = False
    full = (args.runs, args.tasks) == (FULL_RUNS, FULL_TASKS)
    for r in results:
        if "error" in r:
            print(f"FAIL  {r['page']}: {r['error']}")
            failed = True
        elif r["held"]:
            name = f"{r['page']}: median < {LIST_TARGET_S * 1e3:.0f} ms"
            if not full:
                print(f"SKIP  {name} (target is at {FULL_RUNS:,} x {FULL_TASKS:,})")
                continue
            ok = r["median_s"] < LIST_TARGET_S
            failed = failed or not ok
            print(f"{'PASS' if ok else 'FAIL'}  {name}: {r['median_s'] * 1e3:.1f} ms")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"runs": args.runs, "tasks": args.tasks, "pages": results}, indent=2)
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
