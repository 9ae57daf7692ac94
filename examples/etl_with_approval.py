"""An ETL flow that shows triggers and signals at work, end to end.

    extract (retries)  ->  transform.map (SKIPs bad rows)  ->  drop_skipped (FilterTask)
        ->  summarize  ->  load (manual_only: waits for approval)  ->  cleanup (all_finished)
    alert (any_failed): raises the alarm only if extract or load failed

Run it with ``make demo``. The run is recorded in the run store (``~/.lockgate``, or
``$LOCKGATE_HOME``). It stops at the approval gate: ``load`` is Paused and the flow is
still Running. The script then approves ``load`` the way an operator would with
``lockgate resume RUN --task load`` (here through its Python twin,
``lockgate.runs.resume``), and the same run finishes. Afterwards
``lockgate show RUN`` tells the whole story.

The flow is also defined at module level, so the CLI can run it::

    lockgate run examples/etl_with_approval.py --param batch_size=8
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import lockgate
from lockgate import Flow, Parameter, runs, task, triggers
from lockgate.core import Task
from lockgate.engine import signals
from lockgate.engine.state import Mapped, State
from lockgate.store import RunStore
from lockgate.tasks.control_flow import FilterTask

ATTEMPTS: dict[str, int] = {}


@task(max_retries=2, retry_delay=timedelta(seconds=0.2))
def extract(batch_size: int) -> list[dict[str, Any]]:
    """Fetch a batch of orders; the first attempt hits a flaky connection."""
    ATTEMPTS["extract"] = ATTEMPTS.get("extract", 0) + 1
    if ATTEMPTS["extract"] == 1:
        raise ConnectionError("orders API timed out")
    rows: list[dict[str, Any]] = [
        {"id": i, "amount": None if i % 4 == 3 else 10.0 * (i + 1)} for i in range(batch_size)
    ]
    return rows


@task
def transform(row: dict[str, Any]) -> dict[str, Any]:
    """Convert one order to cents; orders without an amount are skipped, not failed."""
    if row["amount"] is None:
        raise signals.SKIP(f"order {row['id']} has no amount")
    return {"id": row["id"], "cents": round(row["amount"] * 100)}


@task
def summarize(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Total the valid orders."""
    return {"orders": len(rows), "cents": sum(r["cents"] for r in rows)}


@task(trigger=triggers.manual_only)
def load(summary: dict[str, int]) -> str:
    """Write the summary to the warehouse; a person must approve it first."""
    return f"loaded {summary['orders']} orders worth {summary['cents'] / 100:.2f}"


@task(trigger=triggers.all_finished)
def cleanup() -> str:
    """Remove temporary files whatever happened upstream."""
    return "temporary files removed"


@task(trigger=triggers.any_failed)
def alert() -> str:
    """Page someone, but only when extract or load failed."""
    return "paged the on-call engineer"


def build_flow() -> tuple[Flow, dict[str, Task]]:
    """Build the flow and return it with its interesting tasks by name."""
    with Flow("orders-etl") as flow:
        batch_size = Parameter("batch_size", default=8)
        rows = extract(batch_size)
        cleaned = transform.map(rows)
        valid = FilterTask(name="drop_skipped")(cleaned)
        summary = summarize(valid)
        loaded = load(summary)
        done = cleanup(upstream_tasks=[loaded])
        alarm = alert(upstream_tasks=[rows, loaded])
    # The alert's TriggerFailed means "nothing to report": keep it out of the verdict.
    flow.set_reference_tasks([loaded, done])
    tasks = {"extract": rows, "transform": cleaned, "load": loaded, "alert": alarm}
    return flow, tasks


def _swatch(state: State) -> str:
    if not sys.stdout.isatty():
        return ""
    r, g, b = (int(state.color[i : i + 2], 16) for i in (1, 3, 5))
    return f"\x1b[48;2;{r};{g};{b}m  \x1b[0m "


def show(title: str, flow: Flow, flow_state: State) -> None:
    """Print each task's state, coloured by state, in dependency order."""
    print(f"\n{title}: flow is {flow_state!r}")
    for t in flow.sorted_tasks():
        st = flow_state.result[t]
        if isinstance(st, Mapped):
            kinds = Counter(type(c).__name__ for c in st.map_states)
            shown = f"{len(st.map_states)} children: " + ", ".join(
                f"{n} {kind}" for kind, n in sorted(kinds.items())
            )
        elif st.is_successful():
            shown = repr(st.result)
        else:
            shown = st.message or ""
        shown = shown if len(shown) <= 70 else shown[:67] + "..."
        print(f"  {_swatch(st)}{t.name:<14} {type(st).__name__:<14} {shown}")


flow, TASKS = build_flow()


def main(store_url: str | None = None) -> State:
    """Run the flow (recorded), approve the paused load, and return the final flow state.

    Args:
        store_url: the run store to record in; None for the default one.
    """
    with RunStore.open(store_url) as store:
        recorder = store.recorder(source=f"{Path(__file__).resolve()}:{flow.name}")
        first = flow.run(parameters={"batch_size": 8}, store=recorder)
        run_id = recorder.flow_run_id
        show(f"Run {run_id[:8]} (stops at the approval gate)", flow, first)
        assert first.result[TASKS["load"]].is_paused()

        print(f"\nApproving 'load' (`lockgate resume {run_id[:8]} --task load`)...")
        final = runs.resume(run_id, tasks=["load"], store=store, flow=flow)
        show(f"Run {run_id[:8]} resumed", flow, final)
        print(f"\nRecorded in {store.url}")
        print(f"  see it with:  .venv/bin/lockgate show {run_id[:8]}")
    mapped = final.result[TASKS["transform"]]
    print(
        f"\n{lockgate.__name__} ran {len(mapped.map_states)} mapped transforms "
        f"({sum(s.is_skipped() for s in mapped.map_states)} skipped), "
        f"extract took {ATTEMPTS['extract']} attempts."
    )
    try:
        out = Path("build") / "orders-etl.svg"
        out.parent.mkdir(exist_ok=True)
        flow.visualize(flow_state=final, filename=str(out))
        print(f"Flow graph coloured by state: {out}")
    except RuntimeError as exc:  # Graphviz missing: the run itself still counts
        print(f"(graph not drawn: {exc})")
    return final


if __name__ == "__main__":
    state = main()
    sys.exit(0 if state.is_successful() else 1)
