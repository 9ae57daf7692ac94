"""The ``lockgate`` commands (typer); each calls its twin in :mod:`lockgate.runs`.

Only typer is imported at module level: the store, rich tables and executors are
imported inside the commands, so ``lockgate --help`` does not pay for them.

Exit codes (``run``, ``resume`` and ``restart`` exit with the code of the run's
recorded state, whatever the tasks did): 0 success; 1 the run failed (or a question
was declined); 2 bad input (a one-line ``Error:`` on stderr; nothing in the store
changed); 3 the run is not finished (tasks are Paused, waiting for ``lockgate
resume``); 130 the run was cancelled (Ctrl-C, or ``lockgate cancel``).
"""

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
import typer.core

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console

    from lockgate.cli.progress import RunProgress
    from lockgate.engine.state import State
    from lockgate.store import FlowRunRecord, RunStore, TaskRunRecord

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CANCELLED",
    "EXIT_FAILED",
    "EXIT_NOT_FINISHED",
    "SHOW_LIMIT",
    "app",
    "exit_code",
]

EXIT_FAILED = 1
"""Exit code: the run ended Failed (or Crashed), or the user declined to approve."""
EXIT_BAD_INPUT = 2
"""Exit code: bad input (missing file, unknown run, ...); nothing was changed."""
EXIT_NOT_FINISHED = 3
"""Exit code: the run stopped with tasks Paused (or otherwise unfinished)."""
EXIT_CANCELLED = 130
"""Exit code: the run ended Cancelled (Ctrl-C, or ``lockgate cancel``): 128 + SIGINT."""

SHOW_LIMIT = 200
"""How many tasks ``lockgate show`` lists before it stops with a note (``--limit``)."""


class _Group(typer.core.TyperGroup):
    """The command group, with click's own errors shortened to one ``Error:`` line.

    click answers a bad option (``runs --limit 0``), a missing argument or an
    unknown command with a usage block; lockgate's rule for bad input is one line
    that names the problem and the way out, and exit code 2.
    """

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; see :meth:`click.Command.main`."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        errors = sys.modules[typer.Exit.__module__]  # click's, or typer's copy of it
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except errors.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()  # `lockgate` alone: the help, as click prints it
                sys.exit(exc.exit_code)
            where = exc.ctx.command_path if exc.ctx is not None else "lockgate"
            _echo_error(f"{exc.format_message()} See `{where} --help`.")
            sys.exit(EXIT_BAD_INPUT)
        except errors.ClickException as exc:
            _echo_error(exc.format_message())
            sys.exit(exc.exit_code)
        except errors.Abort:
            _echo_error("Aborted; nothing was changed.")
            sys.exit(EXIT_FAILED)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="lockgate",
    cls=_Group,
    help=(
        "Run lockgate flows and operate their runs: history, logs, approvals, "
        "resume and restart. Every run is recorded in the run store "
        "($LOCKGATE_STORE_URL, else $LOCKGATE_HOME/store.db, default ~/.lockgate)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        import platform

        from lockgate import __version__

        typer.echo(f"lockgate {__version__} (Python {platform.python_version()})")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            is_eager=True,
            callback=_print_version,
            help="Print lockgate's version and exit.",
        ),
    ] = False,
) -> None:
    """Run lockgate flows and operate their runs."""


StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URL",
        help="Run store database URL (default: $LOCKGATE_STORE_URL, else "
        "sqlite:///$LOCKGATE_HOME/store.db).",
    ),
]
ExecutorOption = Annotated[
    str | None,
    typer.Option(
        "--executor",
        "-e",
        metavar="SPEC",
        help="Where tasks run: local, threads[:N], processes[:N], dask, dask:ADDRESS.",
    ),
]
ShowSecretsOption = Annotated[
    bool,
    typer.Option(
        "--show-secrets",
        help="Show the values of parameters whose names look secret (password, token, "
        "secret, key); they are shown as *** otherwise.",
    ),
]


# -- helpers ---------------------------------------------------------------------------
def _console() -> "Console":
    """Rich output: tables cropped to a terminal's width, kept whole in files and pipes.

    State names are drawn in their state's colour, or in the nearest of the 16 basic
    colours on a terminal that has only those (see :func:`~lockgate.cli.render.state_theme`).
    """
    from rich.console import Console

    from lockgate.cli.render import state_theme

    console = Console(highlight=False)
    console.soft_wrap = not console.is_terminal
    console.push_theme(state_theme(console.color_system))
    return console


def _hide_urls(text: str) -> str:
    """``text`` with the password of every URL in it masked (store URLs in errors)."""
    import re

    from lockgate.utilities.masking import mask_url

    # A URL ends at a space or quote; punctuation right before one is the sentence's.
    url = r"[A-Za-z][\w+.-]*://[^\s'\"]+?(?=[.,;:)]*(?:[\s'\"]|$))"
    return re.sub(url, lambda m: mask_url(m.group(0)), text)


def _echo_error(message: str) -> None:
    line = " ".join(_hide_urls(str(message)).split())
    typer.echo(f"Error: {line}", err=True)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    _echo_error(message)
    raise typer.Exit(code)


def _is_user_error(exc: BaseException) -> bool:
    from lockgate.runs import RunsError

    if isinstance(exc, RunsError):
        return True
    store = sys.modules.get("lockgate.store")
    return store is not None and isinstance(exc, getattr(store, "StoreError", ()))


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn bad-input errors (RunsError, StoreError) into one line and exit code 2."""
    try:
        yield
    except typer.Exit:
        raise
    except Exception as exc:
        if _is_user_error(exc):
            _fail(str(exc))
        raise


@contextmanager
def _store(url: str | None, run_id: str | None = None) -> "Iterator[RunStore]":
    """Open the store for a command that reads it; never create one.

    A SQLite store that does not exist yet is not created by reading it: with
    ``run_id`` (show, logs, resume, restart) that is the "no such run" error; without,
    :class:`_NoStore` lets the command say there is nothing yet.
    """
    from lockgate.runs import open_store

    missing = _missing_sqlite(url)
    if missing is not None:
        if run_id is not None:
            _fail(
                f"No run '{run_id}' in the store at {missing}: nothing was recorded there "
                "yet; `lockgate run FILE` records a run."
            )
        raise _NoStore(missing)
    with _user_errors(), open_store(url) as store:
        yield store


class _NoStore(Exception):
    """The SQLite store a read-only command was pointed at does not exist yet."""


def _missing_sqlite(url: str | None) -> str | None:
    """The store URL when it names a SQLite file that does not exist, else None."""
    import os

    from lockgate.store import default_url

    url = url or default_url()
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    path = url[len(prefix) :].split("?", 1)[0]
    if not path or path == ":memory:" or os.path.exists(path):
        return None
    return url


def exit_code(state: str) -> int:
    """The exit code of ``run``, ``resume`` and ``restart`` for a run's recorded state.

    Args:
        state: the run's state name as recorded (``"Success"``, ``"Failed"``,
            ``"Cancelled"``, ``"Crashed"``, ``"Running"``...).

    Returns:
        0 for Success; :data:`EXIT_CANCELLED` for Cancelled; :data:`EXIT_FAILED` for
        Failed (and its kinds) and Crashed; :data:`EXIT_NOT_FINISHED` otherwise.
    """
    from lockgate.engine import state as states
    from lockgate.engine.state_lookup import state_class

    cls = state_class(state)
    if cls is None:
        return EXIT_FAILED if state == "Crashed" else EXIT_NOT_FINISHED
    if issubclass(cls, states.Success):
        return 0
    if issubclass(cls, states.Cancelled):
        return EXIT_CANCELLED
    if issubclass(cls, states.Failed):
        return EXIT_FAILED
    return EXIT_NOT_FINISHED


def _paused_names(state: "State") -> list[str]:
    from lockgate.engine.state import Mapped, Paused

    names = []
    result = state.result if isinstance(state.result, dict) else {}
    for task, st in result.items():
        if isinstance(st, Paused):
            names.append(task.name)
        elif isinstance(st, Mapped):
            n = sum(1 for c in st.map_states if isinstance(c, Paused))
            if n:
                names.append(f"{task.name} ({n} children)")
    return sorted(names)


def _paused_records(records: "Sequence[TaskRunRecord]") -> list[str]:
    """The names of the recorded Paused task runs, a mapped task's children counted."""
    names: dict[str, int] = {}
    for r in records:
        if r.state == "Paused":
            names[r.task_name] = names.get(r.task_name, 0) + (1 if r.map_index >= 0 else 0)
    return sorted(name if not n else f"{name} ({n} children)" for name, n in names.items())


def _drive(
    console: "Console",
    quiet: bool,
    go: Callable[["RunProgress"], "State"],
    run_ids: list[str],
    store: "str | RunStore | None",
    verb: str,
) -> NoReturn:
    """Run ``go(progress)`` (live progress on a terminal), print the summary and exit.

    ``run_ids`` holds the run's id, or is filled by ``go`` once it knows it (``run``).

    The exit code is that of the run's state as the store recorded it, so what a task
    does (``sys.exit(2)``, ``KeyboardInterrupt``) cannot make ``lockgate`` claim
    something the store does not say. Ctrl-C cancels the run (the engine records
    it Cancelled); the summary is printed all the same. Should a ``SystemExit`` or
    ``KeyboardInterrupt`` still escape the engine, the summary is read from the store.
    """
    from lockgate.cli.progress import RunProgress

    progress = RunProgress()
    escaped: BaseException | None = None
    state: State | None = None
    try:
        if console.is_terminal and not quiet:
            from rich.live import Live

            with Live(
                get_renderable=progress.render,
                console=console,
                refresh_per_second=8,
                transient=True,
            ):
                state = go(progress)
        else:
            state = go(progress)
    except (KeyboardInterrupt, SystemExit) as exc:
        escaped = exc
    # The hook saw the id when the run started, even if go() never returned.
    run_id = run_ids[0] if run_ids else progress.run_id
    if run_id is None:  # stopped before the run was recorded
        if isinstance(escaped, KeyboardInterrupt):
            _fail("Interrupted before the run started; nothing was recorded.", EXIT_CANCELLED)
        _fail(f"The run stopped before it was recorded ({escaped!r}).", EXIT_FAILED)
    try:
        _finish(console, progress, run_id, state, store, verb, escaped)
    except KeyboardInterrupt:  # a second Ctrl-C while the summary is read: stop quietly
        raise typer.Exit(EXIT_CANCELLED) from None


def _recorded(
    store: "str | RunStore | None", run_id: str, with_tasks: bool
) -> "tuple[FlowRunRecord | None, list[TaskRunRecord]]":
    """The run as the store recorded it, and its task runs when asked for.

    ``(None, [])`` when the store cannot be read: the run's own outcome is known
    already, and is never hidden behind an error of this look back.
    """
    from lockgate import runs

    try:
        with runs.open_store(store) as opened:
            record = opened.get_run(run_id)
            return record, opened.task_runs(record.id) if with_tasks else []
    except Exception:
        return None, []


def _finish(
    console: "Console",
    progress: "RunProgress",
    run_id: str,
    state: "State | None",
    store: "str | RunStore | None",
    verb: str,
    escaped: BaseException | None = None,
) -> NoReturn:
    from rich.text import Text

    from lockgate.cli.render import short_id, state_text, summary_table, tasks_table

    short = short_id(run_id)
    # The tasks are read back only when the run did not return a state to summarise.
    run_record, task_records = _recorded(store, run_id, with_tasks=state is None)
    if state is not None and progress.flow is not None:
        console.print(summary_table(progress, progress.flow, state))
        console.print()
    elif task_records:
        console.print(tasks_table(task_records))
        console.print()
    if run_record is not None:
        name, message = run_record.state, run_record.message
    elif state is not None:
        name, message = type(state).__name__, state.message
    else:
        name, message = "Running", "the run was interrupted and its record cannot be read"
    flow_name = progress.flow.name if progress.flow is not None else "flow"
    line = Text.assemble(f"Run {short} ({flow_name}) {verb}: ", state_text(name))
    if message:
        line.append(f" - {message}")
    console.print(line)
    if isinstance(escaped, KeyboardInterrupt):
        console.print("The run was interrupted (Ctrl-C).")
    elif escaped is not None:
        console.print(
            f"The run was interrupted by {escaped!r}, raised outside its tasks; "
            "the exit code is the recorded run's."
        )
    code = exit_code(name)
    if code in (EXIT_FAILED, EXIT_CANCELLED):
        console.print(
            f"`lockgate show {short}` shows the "
            + ("failures" if code == EXIT_FAILED else "tasks")
            + f"; `lockgate restart {short}` re-runs what "
            + ("failed." if code == EXIT_FAILED else "did not finish.")
        )
    elif code == EXIT_NOT_FINISHED:
        waiting = _paused_names(state) if state is not None else _paused_records(task_records)
        if waiting:
            console.print(
                f"Waiting for approval: {', '.join(waiting)}. "
                f"`lockgate resume {short}` approves and continues."
            )
    raise typer.Exit(code)


# -- commands --------------------------------------------------------------------------
@app.command()
def run(
    target: Annotated[
        str,
        typer.Argument(
            metavar="FILE[:FLOW]",
            help="The flow file (or an importable package.module), and the flow's name.",
        ),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param",
            "-p",
            metavar="NAME=VALUE",
            help="A parameter value (JSON when it parses, else text); repeat for more.",
        ),
    ] = None,
    executor: ExecutorOption = None,
    address: Annotated[
        str | None,
        typer.Option("--address", metavar="ADDRESS", help="Dask scheduler address."),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress display.")] = False,
    store: StoreOption = None,
) -> None:
    """Run a flow from a file or module, with live progress, and record the run."""
    from lockgate import runs

    console = _console()
    with _user_errors():
        loaded = runs.load_flow_file(target)
        values = runs.check_parameters(loaded.flow, runs.parse_parameters(param or []))

    started: list[str] = []  # the new run's id, once run_flow returns it

    def go(progress: "RunProgress") -> "State":
        with _user_errors():  # the executor is checked before the store is opened
            run_id, state = runs.run_flow(
                loaded, values, executor, address, store=store, hooks=[progress]
            )
            started.append(run_id)
            return state

    _drive(console, quiet, go, started, store, "ended")


@app.command("runs")
def runs_command(
    flow: Annotated[
        str | None,
        typer.Option("--flow", "-f", help="Only runs of this flow."),
    ] = None,
    state: Annotated[
        str | None,
        typer.Option("--state", "-s", help="Only runs in this state (e.g. Failed, Crashed)."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", help="At most this many runs (1 or more).")
    ] = 50,
    store: StoreOption = None,
) -> None:
    """List recorded runs, newest first."""
    from lockgate import runs
    from lockgate.cli.render import runs_table

    if limit < 1:
        _fail(f"--limit must be 1 or more (got {limit}); e.g. `lockgate runs --limit 20`.")
    try:
        with _store(store) as opened, _user_errors():
            records = runs.list_runs(flow=flow, state=state, limit=limit, store=opened)
            url = opened.url
    except _NoStore as nothing:
        with _user_errors():
            runs.state_name(state)  # a bad --state is an error even with no store yet
        records, url = [], str(nothing)
    console = _console()
    if not records:
        filtered = flow is not None or state is not None
        console.print(
            "No runs match."
            if filtered
            else f"No runs recorded yet in {_hide_urls(url)}; start one with `lockgate run FILE`.",
            markup=False,
        )
        return
    console.print(runs_table(records))


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    task: Annotated[
        str | None,
        typer.Option(
            "--task",
            "-t",
            metavar="NAME",
            help="Show this task's state history (NAME[3] for one mapped child).",
        ),
    ] = None,
    all_children: Annotated[
        bool, typer.Option("--all", "-a", help="List every mapped child, not only failed ones.")
    ] = False,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            "-n",
            metavar="N",
            help=f"List at most N tasks (default {SHOW_LIMIT}); a note says what was left out.",
        ),
    ] = SHOW_LIMIT,
    show_secrets: ShowSecretsOption = False,
    store: StoreOption = None,
) -> None:
    """Show a run: its details, its tasks in dependency order, and failures' tracebacks.

    With --task, one task's state history instead: every transition, with its time.
    """
    from lockgate import runs
    from lockgate.cli.render import run_header

    if limit < 1:
        _fail(f"--limit must be 1 or more (got {limit}); e.g. `lockgate show RUN --limit 500`.")
    console = _console()
    with _store(store, run_id) as opened, _user_errors():
        if task is not None:
            run_record = opened.get_run(run_id)
            history = runs.task_history(run_record.id, task, store=opened)
            _show_task(console, run_record, history, limit)
            return
        run_record = opened.get_run(run_id)
        page = _TaskPage.read(opened, run_record.id, limit)
    console.print(run_header(run_record, reveal=show_secrets))
    console.print()
    if not page.slugs:
        console.print("No task runs recorded.")
        return
    _show_tasks(console, run_record.id, page, limit, all_children)


@dataclass
class _TaskPage:
    """What ``show`` lists of a run's tasks, read without reading every task run.

    Attributes:
        slugs: every task's slug, in dependency order.
        states: each task's state (its own row's, or its first child's).
        total: how many task runs (tasks and mapped children) the run has.
        records: the task runs of the first ``limit`` tasks only.
        failed: the first task runs with a traceback (TriggerFailed left out).
        failed_total: how many task runs have one.
    """

    slugs: list[str]
    states: dict[str, str]
    total: int
    records: "list[TaskRunRecord]"
    failed: "list[TaskRunRecord]"
    failed_total: int

    @classmethod
    def read(cls, store: "RunStore", run_id: str, limit: int) -> "_TaskPage":
        from lockgate.cli.render import dependency_order

        outline, total = store.task_outline(run_id)
        if not outline:
            return cls([], {}, 0, [], [], 0)
        slugs = dependency_order([slug for slug, _ in outline], store.get_run_graph(run_id))
        records = store.task_runs(run_id, slugs=slugs[:limit])
        failed, failed_total = store.failed_task_runs(run_id, _TRACEBACKS)
        return cls(slugs, dict(outline), total, records, failed, failed_total)


_TRACEBACKS = 10
"""Tracebacks ``show`` prints at most."""


def _show_tasks(
    console: "Console", run_id: str, page: _TaskPage, limit: int, all_children: bool
) -> None:
    """The task table of ``show`` in dependency order, cut after ``limit`` rows with a
    note saying what was left out, then the tracebacks of failures (at most ten).

    Only the tasks that can be listed are read and laid out, so a run of 100,000 tasks
    costs what its first ``limit`` tasks cost, not what reading every row would.
    """
    from rich.rule import Rule
    from rich.text import Text

    from lockgate.cli.render import failures, short_id, tasks_table

    by_slug: dict[str, list[TaskRunRecord]] = {}
    for rec in page.records:
        by_slug.setdefault(rec.task_slug, []).append(rec)
    slugs = page.slugs
    table = tasks_table(
        [r for slug in slugs[:limit] for r in by_slug.get(slug, ())], all_children=all_children
    )
    header, *rows = table.split("\n")
    cut = len(rows) > limit  # children's rows of a mapped task went over the limit
    rows = rows[:limit]
    table = Text("\n", no_wrap=True, overflow="ellipsis").join([header, *rows])
    console.print(table)
    short = short_id(run_id)
    listed = sum(1 for row in rows if not row.plain.startswith("  "))
    hidden = slugs[listed:]
    if hidden or cut:
        states: dict[str, int] = {}
        for slug in hidden:
            state = page.states[slug]
            states[state] = states.get(state, 0) + 1
        counted = ", ".join(f"{n:,} {s}" for s, n in sorted(states.items(), key=lambda x: -x[1]))
        left = f"{len(hidden):,} more tasks ({counted})" if hidden else "more mapped children"
        console.print(
            Text(
                f"… {left} not listed: the table stops after {limit:,} rows. "
                f"`lockgate show {short} --limit {page.total}` lists everything; "
                "`--task NAME` shows one task.",
                style="dim",
            )
        )
    for title, tb in failures(page.failed):
        console.print()
        console.print(Rule(Text(title), align="left", style="red"))
        console.print(Text(tb))
    if page.failed_total > _TRACEBACKS:
        console.print()
        console.print(
            f"… and {page.failed_total - _TRACEBACKS:,} more tracebacks; `lockgate show {short} --task NAME` "
            "shows one task's."
        )


def _show_task(
    console: "Console",
    run: "FlowRunRecord",
    history: "list[tuple[TaskRunRecord, list[Any]]]",
    limit: int,
) -> None:
    """``show --task``: a task run's details, state history and traceback.

    A mapped task shows its own history, then its children in a table (at most
    ``limit`` of them); ``NAME[i]`` shows one child's history.
    """
    from rich.rule import Rule
    from rich.text import Text

    from lockgate.cli.render import (
        history_table,
        short_id,
        task_header,
        tasks_table,
        trim_engine_frames,
    )

    short = short_id(run.id)
    end = None if run.state == "Running" and run.active else run.end_time
    parents = [(rec, ts) for rec, ts in history if rec.map_index < 0]
    children = [rec for rec, _ in history if rec.map_index >= 0]
    shown = parents if parents and children else history
    for i, (rec, transitions) in enumerate(shown):
        if i:
            console.print()
        console.print(task_header(run, rec))
        console.print()
        if transitions:
            console.print(history_table(transitions, rec.end_time or end))
        else:
            console.print("No state changes recorded.")
        if rec.traceback and rec.state != "TriggerFailed":
            console.print()
            console.print(Rule(Text("Traceback"), align="left", style="red"))
            console.print(Text(trim_engine_frames(rec.traceback.rstrip())))
    if shown is parents:
        console.print()
        table = tasks_table([p for p, _ in parents] + children, all_children=True)
        lines = table.split("\n")  # the header, the task's row (counting every child), ...
        kept = Text("\n", no_wrap=True, overflow="ellipsis").join(lines[: limit + 2])
        console.print(kept)
        if len(children) > limit:
            console.print(
                f"… {len(children) - limit:,} more children not listed; "
                f"`--limit {len(children)}` lists them all.",
                style="dim",
            )
        pick = next((c for c in children if c.state != "Success"), children[0])
        console.print(
            f"`lockgate show {short} --task {pick.task_name}[{pick.map_index}]` shows one "
            "child's history.",
            style="dim",
        )
    if history:
        console.print()
        console.print(
            f"`lockgate logs {short} --task {history[0][0].task_slug}` prints its log lines.",
            style="dim",
        )


@app.command()
def logs(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    task: Annotated[
        str | None,
        typer.Option("--task", "-t", metavar="NAME", help="Only this task's lines."),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Keep printing new lines until the run ends (Ctrl-C stops following).",
        ),
    ] = False,
    store: StoreOption = None,
) -> None:
    """Print the log lines recorded for a run (or one of its tasks)."""
    from lockgate import runs
    from lockgate.cli.render import log_lines

    console = _console()
    with _store(store, run_id) as opened, _user_errors():
        if follow:  # reads new lines only, each time (it checks --task first)
            try:
                printed = _follow(console, opened, run_id, task)
            except KeyboardInterrupt:
                raise typer.Exit(0) from None
            if not printed:
                console.print("No log lines recorded.")
            return
        lines = runs.logs(run_id, task=task, store=opened)
    if not lines:
        console.print("No log lines recorded.")
        return
    console.print(log_lines(lines), end="")


FOLLOW_INTERVAL = 0.5
"""Seconds between two looks at the store by ``lockgate logs --follow``."""


def _follow(console: "Console", store: "RunStore", run_id: str, task: str | None) -> int:
    """Print the run's lines, then each line recorded after them, until the run ends.

    The run has ended when no process records it any more (finished, crashed, or
    waiting for approval with no process); the lines it wrote last are printed first.
    Each look reads only the new lines (:meth:`RunStore.logs_since`). Returns how many
    lines were printed.
    """
    import time

    from lockgate import runs
    from lockgate.cli.render import log_lines

    full = store.get_run(run_id).id
    slugs = None if task is None else runs.task_slugs(full, task, store=store)
    seen = after = 0
    while True:
        live = store.get_run(full).active
        new, after = store.logs_since(full, after, slugs)
        if new:
            console.print(log_lines(new), end="")
            seen += len(new)
        if not live:
            return seen
        time.sleep(FOLLOW_INTERVAL)


@app.command()
def resume(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    task: Annotated[
        list[str] | None,
        typer.Option(
            "--task", "-t", metavar="NAME", help="Approve this paused task; repeat for more."
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Approve every paused task without asking.")
    ] = False,
    executor: ExecutorOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress display.")] = False,
    store: StoreOption = None,
) -> None:
    """Approve paused tasks and continue the run from its stored states.

    Without --task, lists what is waiting and asks before approving all of it.
    """
    from lockgate import runs
    from lockgate.cli.render import short_id, waiting_table

    console = _console()
    with _store(store, run_id) as opened:
        with _user_errors():
            run_record = opened.get_run(run_id)
            paused = runs.waiting(run_record.id, store=opened)
            short = short_id(run_record.id)
            if not task and paused:
                console.print(f"Run {short} ({run_record.flow_name}) is waiting for:")
                console.print(waiting_table(paused, _paused_since(opened, run_record.id, paused)))
                if not yes:
                    answer = _confirm(f"Approve all {len(paused)} and resume run {short}?")
                    if answer is None:
                        _fail(
                            f"No answer could be read (stdin is closed); run {short} is "
                            "unchanged. Approve with --yes, or name tasks with --task NAME."
                        )
                    if not answer:
                        _fail(
                            f"Nothing approved; run {short} is unchanged. Approve with "
                            "--task NAME, or --yes for all.",
                            EXIT_FAILED,
                        )

        def go(progress: "RunProgress") -> "State":
            with _user_errors():
                return runs.resume(
                    run_record.id,
                    tasks=task or None,
                    store=opened,
                    executor=executor,
                    hooks=[progress],
                )

        _drive(console, quiet, go, [run_record.id], opened, "resumed")


def _paused_since(
    store: "RunStore", run_id: str, paused: "list[TaskRunRecord]"
) -> "dict[tuple[str, int], datetime]":
    """When each paused task run last became Paused, from the recorded transitions."""
    since = {}
    for slug in sorted({r.task_slug for r in paused}):
        for t in store.transitions(run_id, task_slug=slug):
            if t.new_state == "Paused":
                since[(slug, t.map_index)] = t.timestamp
    return since


def _confirm(question: str) -> bool | None:
    """Ask a yes/no question on stdin: the answer, or None when stdin cannot be read."""
    stdin = sys.stdin
    if stdin is None or stdin.closed:
        return None
    try:
        return bool(typer.confirm(question, default=False))
    except typer.Abort:  # end of input, or Ctrl-C at the question: nothing approved
        return False
    except (RuntimeError, OSError):  # "lost sys.stdin"
        return None


@app.command()
def restart(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    executor: ExecutorOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress display.")] = False,
    store: StoreOption = None,
) -> None:
    """Re-run the tasks that failed or never finished, reusing everything that succeeded."""
    from lockgate import runs

    console = _console()
    with _store(store, run_id) as opened:
        with _user_errors():
            full_id = opened.get_run(run_id).id

        def go(progress: "RunProgress") -> "State":
            with _user_errors():
                return runs.restart(full_id, store=opened, executor=executor, hooks=[progress])

        _drive(console, quiet, go, [full_id], opened, "restarted")


@app.command()
def cancel(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    store: StoreOption = None,
) -> None:
    """Ask a running run to stop: calls in flight end Cancelled and nothing else starts."""
    from lockgate import runs

    console = _console()
    with _store(store, run_id) as opened, _user_errors():
        full_id = runs.cancel(run_id, store=opened)
    console.print(
        f"Asked run {full_id[:8]} to cancel; its process stops it within a second "
        f"(`lockgate show {full_id[:8]}`)."
    )


@app.command()
def visualize(
    target: Annotated[
        str | None,
        typer.Argument(
            metavar="[FILE[:FLOW]]",
            help="The flow file, and the flow's name; leave out with --run to draw the "
            "graph stored with the run, without loading any file.",
        ),
    ] = None,
    output: Annotated[
        str,
        typer.Option(
            "--output", "-o", metavar="OUT", help="Image to write: .svg, .png, .pdf, or .dot."
        ),
    ] = "flow.svg",
    run_id: Annotated[
        str | None,
        typer.Option("--run", "-r", metavar="RUN", help="Colour tasks by this run's states."),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Draw a flow with Graphviz, tasks coloured by a recorded run's states."""
    from lockgate import runs

    if target is None and run_id is None:
        _fail(
            "Give the flow to draw: `lockgate visualize FILE[:FLOW]`, or a recorded run: "
            "`lockgate visualize --run RUN`."
        )
    with _user_errors():
        if run_id is None:
            assert target is not None
            path = runs.visualize(target, output=output)
        else:
            with _store(store, run_id) as opened:
                path = runs.visualize(target, run_id=run_id, output=output, store=opened)
    typer.echo(f"Wrote {path}")


@app.command()
def flows(store: StoreOption = None) -> None:
    """List the flows the store has seen, with their latest run."""
    from lockgate import runs
    from lockgate.cli.render import flows_table

    try:
        with _store(store) as opened, _user_errors():
            records = runs.flows(store=opened)
    except _NoStore:
        records = []
    console = _console()
    if not records:
        console.print("No flows recorded yet; start a run with `lockgate run FILE`.")
        return
    console.print(flows_table(records))


@app.command()
def ui(
    host: Annotated[
        str,
        typer.Option(
            "--host", metavar="ADDRESS", help="Address to listen on (loopback by default)."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option(
            "--port", "-p", metavar="PORT", min=0, max=65535, help="Port (0: any free port)."
        ),
    ] = 8080,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            metavar="TOKEN",
            help=(
                "Access token for actions, and for every page off loopback (made up and "
                "printed when --host is not loopback)."
            ),
        ),
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            metavar="NAME",
            help="Also answer to this host name (repeatable); others are refused.",
        ),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Serve the web dashboard over the run store (needs the ui extra)."""
    try:
        from lockgate.ui import serve
    except ImportError as exc:
        _fail(
            f"The dashboard needs the ui extra ({exc.name or exc} is missing): "
            "pip install 'lockgate[ui]'."
        )
    with _user_errors():
        serve(
            store,
            host=host,
            port=port,
            token=token,
            echo=typer.echo,
            allowed_hosts=allowed_host or (),
        )
