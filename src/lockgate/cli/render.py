"""Tables and text the ``lockgate`` commands print (built with rich, imported here).

Each function turns records of :mod:`lockgate.store` (or a finished run) into a rich
renderable; the commands in :mod:`lockgate.cli.app` print them. State names are
coloured with the ``color`` of the state class of that name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from lockgate.utilities.display import (
    CRASHED_COLOR,
    duration,
    short_id,
    state_color,
    timestamp,
    trim_engine_frames,
)

if TYPE_CHECKING:
    from rich.theme import Theme

    from lockgate.cli.progress import RunProgress
    from lockgate.core.flow import Flow
    from lockgate.engine.state import State
    from lockgate.store import (
        FlowRecord,
        FlowRunRecord,
        LogRecord,
        TaskRunRecord,
        TransitionRecord,
    )

__all__ = [
    "CRASHED_COLOR",
    "child_summary",
    "dependency_order",
    "duration",
    "failures",
    "flows_table",
    "grid",
    "history_table",
    "log_lines",
    "run_header",
    "runs_table",
    "short_id",
    "state_color",
    "state_text",
    "state_theme",
    "summary_table",
    "task_counts",
    "task_header",
    "tasks_table",
    "timestamp",
    "trim_engine_frames",
    "waiting_table",
]


def grid(
    headers: Sequence[str], rows: Iterable[Sequence[str | Text]], right: Sequence[int] = ()
) -> Text:
    """Lay rows out in aligned columns, as one rich Text (fast for thousands of rows).

    Columns are as wide as their widest cell, two spaces apart; the last column is
    left as long as it is (the commands crop lines to a terminal's width, and keep
    them whole when the output goes to a file or a pipe). A ``rich.table.Table``
    measures every cell several times: ten times slower for a 1,000-task run.

    Args:
        headers: the column titles (printed bold).
        rows: the cells; a Text keeps its style.
        right: indices of the columns to right-justify.

    Returns:
        The table as text: a header line, then one line per row.
    """
    from rich.cells import cell_len

    body = [list(r) for r in rows]
    n = len(headers)
    widths = [cell_len(h) for h in headers]
    for row in body:
        for i in range(min(n - 1, len(row))):
            cell = row[i]
            w = cell_len(cell.plain if isinstance(cell, Text) else cell)
            if w > widths[i]:
                widths[i] = w
    out = Text(no_wrap=True, overflow="ellipsis")

    def add(cell: str | Text, i: int, bold: bool = False) -> None:
        plain = cell.plain if isinstance(cell, Text) else cell
        pad = " " * (widths[i] - cell_len(plain)) if i < n - 1 else ""
        if i in right:
            out.append(pad)
        if isinstance(cell, Text):
            out.append_text(cell)
        else:
            out.append(cell, style="bold" if bold else None)
        if i not in right:
            out.append(pad)
        if i < n - 1:
            out.append("  ")

    for i, h in enumerate(headers):
        add(h, i, bold=True)
    for row in body:
        out.append("\n")
        for i in range(n):
            add(row[i] if i < len(row) else "", i)
    return out


_BASIC_COLORS = {
    "Pending": "white",
    "Paused": "magenta",
    "Scheduled": "yellow",
    "Resume": "yellow",
    "Retrying": "yellow",
    "Running": "cyan",
    "Finished": "white",
    "Success": "green",
    "Cached": "green",
    "Mapped": "green",
    "Skipped": "cyan",
    "Failed": "red",
    "Cancelled": "yellow",
    "TimedOut": "red",
    "TriggerFailed": "red",
    "Crashed": "red",
}
"""State colours on a terminal with only the 16 basic colours.

The nearest basic colour of a state's own colour is not always its kind: Success's
green is nearest to grey there. These keep each kind recognisable.
"""


def state_theme(color_system: str | None) -> Theme:
    """The styles :func:`state_text` names, for a console with ``color_system``.

    Args:
        color_system: the console's (``"truecolor"``, ``"256"``, ``"standard"``,
            ``"windows"``, or None for no colour).

    Returns:
        A rich theme: each state in its class's colour, or in a basic colour
        (:data:`_BASIC_COLORS`) on a 16-colour terminal.
    """
    from rich.theme import Theme

    basic = color_system in ("standard", "windows")
    return Theme(
        {
            f"state.{name.lower()}": f"bold {basic_color if basic else state_color(name)}"
            for name, basic_color in _BASIC_COLORS.items()
        }
    )


def state_text(name: str) -> Text:
    """A state name coloured by its state class.

    The colour comes from the console's :func:`state_theme` (the commands' console
    has it), so it suits the terminal; names that are not states are grey.

    Args:
        name: the state's name.

    Returns:
        Rich text.
    """
    if name in _BASIC_COLORS:
        return Text(name, style=f"state.{name.lower()}")
    return Text(name, style=f"bold {state_color(name)}")


def task_counts(counts: dict[str, int]) -> Text:
    """A run's task counts by state, coloured, largest first.

    Args:
        counts: count per state name.

    Returns:
        e.g. ``12 Success · 1 Failed``.
    """
    text = Text()
    for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if not n:
            continue
        if text:
            text.append(" · ")
        text.append(f"{n} {name}", style=state_color(name))
    return text


def runs_table(runs: Sequence[FlowRunRecord]) -> Text:
    """The ``lockgate runs`` table.

    Args:
        runs: the runs, newest first.

    Returns:
        Columns: run id, flow, state, start, duration, task counts.
    """
    return grid(
        ("RUN", "FLOW", "STATE", "STARTED", "DURATION", "TASKS"),
        (
            (
                short_id(run.id),
                run.flow_name,
                state_text(run.state),
                timestamp(run.start_time),
                _run_duration(run),
                task_counts(dict(run.task_counts)),
            )
            for run in runs
        ),
    )


def run_header(run: FlowRunRecord, reveal: bool = False) -> Table:
    """The run details at the top of ``lockgate show``.

    Args:
        run: the run.
        reveal: show the values of parameters whose names look secret (they are
            ``***`` otherwise; see :mod:`lockgate.utilities.masking`).

    Returns:
        A two-column grid of fields and values.
    """
    from lockgate.utilities.masking import mask_parameters

    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    state = state_text(run.state)
    if run.message:
        state.append(f"  {run.message}")
    shown = mask_parameters(dict(run.parameters), reveal=reveal)
    params = ", ".join(f"{k}={v!r}" for k, v in shown.items()) or "(none)"
    rows: list[tuple[str, Any]] = [
        ("Run", run.id),
        ("Flow", run.flow_name),
        ("State", state),
        ("Source", run.source or "-"),
        ("Parameters", params),
        ("Executor", run.executor or "-"),
        ("Started", timestamp(run.start_time)),
        ("Ended", timestamp(run.end_time)),
        ("Duration", _run_duration(run)),  # running time, without the gaps before restarts
        *[("Restarted", ", ".join(timestamp(t) for t in run.restarts))] * bool(run.restarts),
        ("Process", f"pid {run.pid} on {run.host}" if run.pid else "-"),
    ]
    for field, value in rows:
        header.add_row(field, value if isinstance(value, Text) else Text(str(value)))
    return header


def dependency_order(slugs: Sequence[str], graph: dict[str, Any] | None) -> list[str]:
    """Task slugs in the flow's dependency order, the order ``run`` lists tasks in.

    Every task comes after the tasks it depends on, in the order of
    :meth:`lockgate.Flow.sorted_tasks` (a task's downstream tasks follow it as soon as
    they can; otherwise the order the flow added its tasks in), so ``show`` lists a
    run the same way whichever order its tasks happened to start in. Slugs the graph
    does not know (or every slug, without a graph) keep their given order, after
    the others.

    Args:
        slugs: the slugs to order (a run's task runs, in the order they started).
        graph: the run's stored graph (:meth:`lockgate.store.RunStore.get_run_graph`),
            or None.

    Returns:
        The same slugs, reordered.
    """
    if not graph:
        return list(slugs)
    known = [t["slug"] for t in graph.get("tasks", ())]
    downstream: dict[str, list[str]] = {}
    waiting_on = dict.fromkeys(known, 0)
    for edge in graph.get("edges", ()):
        up, down = edge["upstream_task"]["slug"], edge["downstream_task"]["slug"]
        if up in waiting_on and down in waiting_on:
            downstream.setdefault(up, []).append(down)
            waiting_on[down] += 1
    ready = [s for s in reversed(known) if waiting_on[s] == 0]  # a stack: first task on top
    ordered: list[str] = []
    while ready:
        slug = ready.pop()
        ordered.append(slug)
        newly = []
        for down in downstream.get(slug, ()):
            waiting_on[down] -= 1
            if waiting_on[down] == 0:
                newly.append(down)
        ready.extend(reversed(newly))
    wanted = set(slugs)
    out = [s for s in ordered if s in wanted]
    placed = set(out)
    return out + [s for s in slugs if s not in placed]


def task_header(run: FlowRunRecord, rec: TaskRunRecord) -> Text:
    """The details of one task run at the top of ``lockgate show RUN --task NAME``.

    Args:
        run: the run.
        rec: the task run (a task, or a mapped child).

    Returns:
        One ``Field  value`` line per field (never wrapped: a long message stays on
        its line, cut on a terminal).
    """
    state = state_text(rec.state)
    if rec.message:
        state.append(f"  {rec.message}")
    rows: list[tuple[str, str | Text]] = [
        ("Task", _record_name(rec)),
        ("Slug", rec.task_slug + (f" (child {rec.map_index})" if rec.map_index >= 0 else "")),
        ("Run", f"{short_id(run.id)} ({run.flow_name})"),
        ("State", state),
        ("Started", timestamp(rec.start_time)),
        ("Ended", timestamp(rec.end_time)),
        ("Runs", str(rec.run_count)),
    ]
    out = Text(no_wrap=True, overflow="ellipsis")
    for i, (field, value) in enumerate(rows):
        if i:
            out.append("\n")
        out.append(f"{field:<9}", style="bold")
        out.append_text(value if isinstance(value, Text) else Text(value))
    return out


def history_table(transitions: Sequence[TransitionRecord], end: datetime | None) -> Text:
    """A task run's state history: every transition, when, for how long, and why.

    The same rows as the dashboard's task page: each state with the time it was
    entered (to the millisecond), how long the task stayed in it (the last one until
    ``end``, or ``-``), and its message.

    Args:
        transitions: the task run's transitions, oldest first.
        end: when the task run ended, or None while it has not.

    Returns:
        Columns: time, state, for, message.
    """
    rows: list[tuple[str | Text, ...]] = []
    for i, t in enumerate(transitions):
        stop = transitions[i + 1].timestamp if i + 1 < len(transitions) else end
        took = duration(t.timestamp, stop) if stop is not None else "-"
        when = t.timestamp.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        rows.append((when, state_text(t.new_state), took, t.message or ""))
    return grid(("TIME", "STATE", "FOR", "MESSAGE"), rows, right=(2,))


def _record_name(rec: TaskRunRecord) -> str:
    return rec.task_name if rec.map_index < 0 else f"{rec.task_name}[{rec.map_index}]"


def tasks_table(records: Sequence[TaskRunRecord], all_children: bool = False) -> Text:
    """The task table of ``lockgate show``.

    A mapped task is one row with its children counted; children that did not
    succeed get a row of their own under it (every child with ``all_children``).

    Args:
        records: the run's task runs.
        all_children: list every mapped child, not only the ones that did not succeed.

    Returns:
        Columns: task, state, duration, runs, message.
    """
    from lockgate.engine.state import Success
    from lockgate.engine.state_lookup import state_class
    from lockgate.store.records import mapped_run_seconds, mapped_state

    children: dict[str, list[TaskRunRecord]] = {}
    parents: dict[str, TaskRunRecord] = {}
    order: list[str] = []
    for rec in records:
        if rec.task_slug not in parents and rec.task_slug not in children:
            order.append(rec.task_slug)
        if rec.map_index < 0:
            parents[rec.task_slug] = rec
        else:
            children.setdefault(rec.task_slug, []).append(rec)
    ok_states = {
        name
        for name in {r.state for r in records}
        if issubclass(state_class(name) or type(None), Success)
    }
    rows: list[tuple[str | Text, ...]] = []
    for slug in order:
        parent = parents.get(slug)
        kids = sorted(children.get(slug, []), key=lambda r: r.map_index)
        message = (parent.message if parent else None) or ""
        if kids:
            counts: dict[str, int] = {}
            for k in kids:
                counts[k.state] = counts.get(k.state, 0) + 1
            message = f"{len(kids)} children: " + ", ".join(
                f"{n} {name}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1])
            )
        if kids:  # a mapped task reads as its children do, not as a plain "Mapped"
            shown_state = mapped_state(k.state for k in kids)
            took = mapped_run_seconds(kids)
            runs_text = ""
        else:
            assert parent is not None
            shown_state, took = parent.state, parent.run_seconds
            runs_text = str(parent.run_count or "")
        rows.append(
            (
                (parent or kids[0]).task_name,
                state_text(shown_state),
                duration(took, None) if took is not None else "-",
                runs_text,
                message,
            )
        )
        for k in kids:
            if k.state in ok_states and not all_children:
                continue
            rows.append(
                (
                    f"  {_record_name(k)}",
                    state_text(k.state),
                    duration(k.run_seconds, None) if k.run_seconds is not None else "-",
                    str(k.run_count or ""),
                    k.message or "",
                )
            )
    return grid(("TASK", "STATE", "DURATION", "RUNS", "MESSAGE"), rows, right=(2, 3))


def child_summary(states: Sequence[State]) -> str:
    """Mapped children counted by state class, e.g. ``"7 Success, 1 Failed"``.

    Args:
        states: the children's states.

    Returns:
        The counts, most common first.
    """
    counts: dict[str, int] = {}
    for st in states:
        counts[type(st).__name__] = counts.get(type(st).__name__, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def failures(records: Iterable[TaskRunRecord]) -> list[tuple[str, str]]:
    """The tracebacks of a run's failed task runs (not of trigger failures).

    A TriggerFailed task's traceback only shows the engine checking the trigger; its
    message says which upstream failed, so it is left out.

    Args:
        records: the run's task runs.

    Returns:
        ``(title, traceback)`` pairs, e.g. ``("transform[3] (Failed)", "Traceback ...")``.
    """
    return [
        (f"{_record_name(r)} ({r.state})", trim_engine_frames(r.traceback.rstrip()))
        for r in records
        if r.traceback and r.state != "TriggerFailed"
    ]


def log_lines(lines: Iterable[LogRecord]) -> Text:
    """Log records as text: time, level, task and message, one record per line.

    Args:
        lines: the records, oldest first.

    Returns:
        Rich text (the messages are never read as markup).
    """
    out = Text()
    level_styles = {"WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold red"}
    for rec in lines:
        when = rec.timestamp.astimezone().strftime("%H:%M:%S.%f")[:-3]
        who = rec.task_slug or "(flow)"
        if rec.task_slug and rec.map_index is not None and rec.map_index >= 0:
            who = f"{who}[{rec.map_index}]"
        out.append(f"{when} ", style="dim")
        out.append(f"{rec.level:<8}", style=level_styles.get(rec.level, ""))
        out.append(f" {who}: ", style="bold")
        out.append(rec.message.rstrip("\n"))
        out.append("\n")
    return out


def flows_table(records: Sequence[FlowRecord]) -> Text:
    """The ``lockgate flows`` table.

    Args:
        records: the flows.

    Returns:
        Columns: flow, runs, last run, its state and start, source.
    """
    return grid(
        ("FLOW", "RUNS", "LAST RUN", "LAST STATE", "LAST STARTED", "SOURCE"),
        (
            (
                rec.name,
                str(rec.run_count),
                short_id(rec.last_run_id) if rec.last_run_id else "-",
                state_text(rec.last_state) if rec.last_state else "-",
                timestamp(rec.last_start),
                rec.source or "-",
            )
            for rec in records
        ),
        right=(1,),
    )


def waiting_table(
    records: Sequence[TaskRunRecord], since: dict[tuple[str, int], datetime] | None = None
) -> Text:
    """The Paused tasks of a run, as ``lockgate resume`` lists them before asking.

    Args:
        records: the Paused task runs.
        since: when each ``(task_slug, map_index)`` was paused, if known.

    Returns:
        Columns: task, slug, paused since, message.
    """
    return grid(
        ("TASK", "SLUG", "PAUSED SINCE", "MESSAGE"),
        (
            (
                _record_name(rec),
                rec.task_slug,
                timestamp((since or {}).get((rec.task_slug, rec.map_index))),
                rec.message or "",
            )
            for rec in records
        ),
    )


def summary_table(progress: RunProgress, flow: Flow, final: State) -> Text:
    """The table printed when ``run``, ``resume`` or ``restart`` ends.

    Args:
        progress: what the run's progress hook saw (durations of what ran now).
        flow: the flow.
        final: the flow's final state; its ``result`` maps tasks to states.

    Returns:
        Columns: task, state, duration, message (a mapped task with its children
        counted); tasks not run by this command show their stored state.
    """
    from lockgate.engine.state import Mapped
    from lockgate.store.records import mapped_state

    rows: list[tuple[str | Text, ...]] = []
    result = final.result if isinstance(final.result, dict) else {}
    for task in flow.sorted_tasks():
        st = result.get(task) or progress.states.get(task)
        if st is None:
            rows.append((task.name, Text("-", style="dim"), "-", ""))
            continue
        name = type(st).__name__
        took = progress.durations.get((task, None))
        ran_now = task in progress.states
        if isinstance(st, Mapped):
            message = child_summary(st.map_states) or "no children"
            # Cancelled or unfinished children: not a green Mapped (as `lockgate show`).
            name = mapped_state(type(c).__name__ for c in st.map_states)
            spans = [progress.durations.get((task, i)) for i in range(len(st.map_states))]
            known = [s for s in spans if s is not None]
            # Its children's time, not the parent's own instant of mapping: when no
            # child ran in this command their results were reused ("stored").
            took = max(known) if known else None
            ran_now = bool(known)
        else:
            message = st.message or ""
        rows.append(
            (
                task.name,
                state_text(name),
                duration(took, None) if took is not None else _not_run_now(st, ran_now),
                message,
            )
        )
    return grid(("TASK", "STATE", "DURATION", "MESSAGE"), rows, right=(2,))


def _run_duration(run: FlowRunRecord) -> str:
    """A run's running time: its attempts added up, without the idle time between a
    run and its restart (``-`` while the first attempt runs)."""
    seconds = run.run_seconds
    return duration(seconds, None) if seconds is not None else "-"


def _not_run_now(state: State, ran_now: bool) -> str:
    """The DURATION cell of a task that did not run in this command.

    ``stored`` only for a finished result kept from an earlier attempt (restart,
    resume); a task that never ran, as in a brand-new run, gets ``-``.
    """
    from lockgate.engine.state import Finished

    return "stored" if not ran_now and isinstance(state, Finished) else "-"
