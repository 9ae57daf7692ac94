"""The ``lockgate`` commands (typer); each calls its twin in :mod:`lockgate.runs`.

Only typer is imported at module level: the store, rich tables and executors are
imported inside the commands, so ``lockgate --help`` does not pay for them.

Exit codes: 0 success; 1 the run failed (or a question was declined); 2 bad input
(a one-line ``Error:`` on stderr; nothing in the store changed); 3 the run is not
finished (tasks are Paused, waiting for ``lockgate resume``).
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console

    from lockgate.cli.progress import RunProgress
    from lockgate.engine.state import State
    from lockgate.store import RunStore, TaskRunRecord

__all__ = ["EXIT_BAD_INPUT", "EXIT_FAILED", "EXIT_NOT_FINISHED", "app"]

EXIT_FAILED = 1
"""Exit code: the run ended Failed, or the user declined to approve."""
EXIT_BAD_INPUT = 2
"""Exit code: bad input (missing file, unknown run, ...); nothing was changed."""
EXIT_NOT_FINISHED = 3
"""Exit code: the run stopped with tasks Paused (or otherwise unfinished)."""

app = typer.Typer(
    name="lockgate",
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


# -- helpers ---------------------------------------------------------------------------
def _console() -> "Console":
    """Rich output: tables cropped to a terminal's width, kept whole in files and pipes."""
    from rich.console import Console

    console = Console(highlight=False)
    console.soft_wrap = not console.is_terminal
    return console


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    line = " ".join(str(message).split())
    typer.echo(f"Error: {line}", err=True)
    raise typer.Exit(code)


def _is_user_error(exc: BaseException) -> bool:
    import sys

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


def _exit_code(state: "State") -> int:
    from lockgate.engine.state import Failed, Success

    if isinstance(state, Success):
        return 0
    if isinstance(state, Failed):
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


def _with_progress(
    console: "Console", quiet: bool, go: Callable[["RunProgress"], Any]
) -> tuple["RunProgress", Any]:
    """Call ``go(progress)``, drawing the progress live on a terminal."""
    from lockgate.cli.progress import RunProgress

    progress = RunProgress()
    if console.is_terminal and not quiet:
        from rich.live import Live

        with Live(
            get_renderable=progress.render,
            console=console,
            refresh_per_second=8,
            transient=True,
        ):
            return progress, go(progress)
    return progress, go(progress)


def _finish(
    console: "Console", progress: "RunProgress", run_id: str, state: "State", verb: str
) -> NoReturn:
    from rich.text import Text

    from lockgate.cli.render import short_id, state_text, summary_table

    short = short_id(run_id)
    if progress.flow is not None:
        console.print(summary_table(progress, progress.flow, state))
        console.print()
    name = progress.flow.name if progress.flow is not None else "flow"
    line = Text.assemble(f"Run {short} ({name}) {verb}: ", state_text(type(state).__name__))
    if state.message:
        line.append(f" - {state.message}")
    console.print(line)
    code = _exit_code(state)
    if code == EXIT_FAILED:
        console.print(
            f"`lockgate show {short}` shows the failures; "
            f"`lockgate restart {short}` re-runs what failed."
        )
    elif code == EXIT_NOT_FINISHED:
        waiting = _paused_names(state)
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
        str, typer.Argument(metavar="FILE[:FLOW]", help="The flow file, and the flow's name.")
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
    """Run a flow from a file, with live progress, and record the run."""
    from lockgate import runs

    console = _console()
    with _user_errors():
        loaded = runs.load_flow_file(target)
        values = runs.check_parameters(loaded.flow, runs.parse_parameters(param or []))

    def go(progress: "RunProgress") -> tuple[str, "State"]:
        with _user_errors():  # the executor is checked before the store is opened
            return runs.run_flow(loaded, values, executor, address, store=store, hooks=[progress])

    progress, (run_id, state) = _with_progress(console, quiet, go)
    _finish(console, progress, run_id, state, "ended")


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
        int, typer.Option("--limit", "-n", min=1, help="At most this many runs.")
    ] = 50,
    store: StoreOption = None,
) -> None:
    """List recorded runs, newest first."""
    from lockgate import runs
    from lockgate.cli.render import runs_table

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
            else f"No runs recorded yet in {url}; start one with `lockgate run FILE`.",
            markup=False,
        )
        return
    console.print(runs_table(records))


@app.command()
def show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    all_children: Annotated[
        bool, typer.Option("--all", "-a", help="List every mapped child, not only failed ones.")
    ] = False,
    store: StoreOption = None,
) -> None:
    """Show a run: its details, a table of its tasks, and the tracebacks of failures."""
    from rich.rule import Rule
    from rich.text import Text

    from lockgate import runs
    from lockgate.cli.render import failures, run_header, tasks_table

    with _store(store, run_id) as opened, _user_errors():
        run_record, records = runs.show(run_id, store=opened)
    console = _console()
    console.print(run_header(run_record))
    console.print()
    if records:
        console.print(tasks_table(records, all_children=all_children))
    else:
        console.print("No task runs recorded.")
    for title, tb in failures(records):
        console.print()
        console.print(Rule(Text(title), align="left", style="red"))
        console.print(Text(tb))


@app.command()
def logs(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id (or a unique prefix).")],
    task: Annotated[
        str | None,
        typer.Option("--task", "-t", metavar="NAME", help="Only this task's lines."),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Print the log lines recorded for a run (or one of its tasks)."""
    from lockgate import runs
    from lockgate.cli.render import log_lines

    with _store(store, run_id) as opened, _user_errors():
        lines = runs.logs(run_id, task=task, store=opened)
    console = _console()
    if not lines:
        console.print("No log lines recorded.")
        return
    console.print(log_lines(lines), end="")


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
                if not yes and not _confirm(f"Approve all {len(paused)} and resume run {short}?"):
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

        progress, state = _with_progress(console, quiet, go)
    _finish(console, progress, run_record.id, state, "resumed")


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


def _confirm(question: str) -> bool:
    import click

    try:
        return bool(typer.confirm(question, default=False))
    except click.exceptions.Abort:
        return False


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

        progress, state = _with_progress(console, quiet, go)
    _finish(console, progress, full_id, state, "restarted")


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
        str, typer.Argument(metavar="FILE[:FLOW]", help="The flow file, and the flow's name.")
    ],
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

    with _user_errors():
        if run_id is None:
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
