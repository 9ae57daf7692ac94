"""The live progress hook, and drawings coloured from recorded (not live) states."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import Result
from rich.console import Console

from lockgate import runs
from lockgate.cli.progress import RunProgress, category
from lockgate.core.task import Task
from lockgate.engine.state import (
    Cancelled,
    Failed,
    Mapped,
    Paused,
    Pending,
    Retrying,
    Running,
    Skipped,
    State,
    Success,
    TriggerFailed,
)
from lockgate.store import TaskRunRecord
from lockgate.utilities import context as ctx
from lockgate.utilities.graphviz import draw_flow

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None,
    reason="Graphviz 'dot' binary not installed; run `make test`, which installs it",
)


def test_category() -> None:
    assert category(Success()) == "done"
    assert category(Skipped()) == "done"
    assert category(Mapped(map_states=[])) == "done"
    assert category(Failed()) == "failed"
    assert category(TriggerFailed()) == "failed"
    assert category(Cancelled()) == "cancelled"
    assert category(Running()) == "running"
    assert category(Paused()) == "paused"
    assert category(Pending()) == "waiting"
    assert category(Retrying(run_count=1)) == "waiting"
    assert category(None) == "waiting"


def test_progress_counts_tasks_and_mapped_children(flows_dir: Path) -> None:
    flow, _ = runs.load_flow(str(flows_dir / "mapped.py"))
    progress = RunProgress()
    state = flow.run(hooks=[progress])
    assert state.is_failed()
    # items, total (TriggerFailed), and the 4 children of double (child 3 failed)
    assert progress.counts() == {
        "done": 4,
        "running": 0,
        "failed": 2,
        "cancelled": 0,
        "paused": 0,
        "waiting": 0,
        "total": 6,
    }
    ((task, counts),) = progress.mapped_counts()
    assert task.name == "double"
    assert (counts["done"], counts["failed"], counts["total"]) == (3, 1, 4)
    assert progress.running_names() == []
    # every child that ran has a duration, and so do the plain tasks
    assert {(t.name, i) for t, i in progress.durations} == {
        ("items", None),
        ("double", 0),
        ("double", 1),
        ("double", 2),
        ("double", 3),
    }
    console = Console(record=True, width=120, color_system=None)
    console.print(progress.render())
    text = console.export_text()
    assert "mapped" in text
    assert "4 done · 0 running · 2 failed · 0 paused · 0 waiting" in text
    assert "double" in text
    assert "4/4" in text


def _changed(progress: RunProgress, task: Task, new: State, index: int | None = None) -> None:
    """Tell the hook of a state change as the engine does (a child's index in context)."""
    token = ctx.set_values({**ctx.current(), "map_index": index})
    try:
        progress.task_state_changed(task, Pending(), new)
    finally:
        ctx.reset(token)


def _drawn(progress: RunProgress) -> str:
    console = Console(record=True, width=120, color_system=None)
    console.print(progress.render())
    return console.export_text()


def test_a_growing_map_marks_its_total_as_not_known_yet(tmp_path: Path) -> None:
    from lockgate import Flow, task

    @task
    def items() -> list[int]:
        return list(range(20))

    @task
    def double(x: int) -> int:
        return 2 * x

    with Flow("growing") as flow:
        double.map(items())
    (mapped,) = [t for t in flow.tasks if t.name == "double"]
    progress = RunProgress()
    progress.flow_run_started(flow, Running(), {})
    for i in range(6):  # six children seen so far, four of them finished
        _changed(progress, mapped, Success() if i < 4 else Running(), i)
    assert not progress.children_known(mapped)
    assert re.search(r"double\s+\S+\s+4/6\+\s", _drawn(progress))
    for i in range(20):
        _changed(progress, mapped, Success(), i)
    _changed(progress, mapped, Mapped(map_states=[Success() for _ in range(20)]))
    assert progress.children_known(mapped)
    drawn = _drawn(progress)
    assert re.search(r"double\s+\S+\s+20/20\s", drawn), drawn
    assert "20/20+" not in drawn


def test_cancelled_tasks_are_not_counted_as_failed(tmp_path: Path) -> None:
    from lockgate import Flow, task

    @task
    def one() -> int:
        return 1

    @task
    def two() -> int:
        return 2

    with Flow("stopped") as flow:
        one()
        two()
    first, second = sorted(flow.tasks, key=lambda t: t.name)
    progress = RunProgress()
    progress.flow_run_started(flow, Running(), {})
    _changed(progress, first, Success())
    _changed(progress, second, Cancelled("Flow run was cancelled."))
    counts = progress.counts()
    assert (counts["done"], counts["failed"], counts["cancelled"]) == (1, 0, 1)
    assert "1 done · 0 running · 0 failed · 1 cancelled · 0 paused · 0 waiting" in _drawn(progress)


def test_success_is_green_on_a_16_colour_terminal(
    lockgate: Callable[..., subprocess.CompletedProcess[str]], flows_dir: Path
) -> None:
    env: dict[str, str | None] = {"TERM": "xterm", "FORCE_COLOR": "1", "COLORTERM": None}
    env |= {"NO_COLOR": None, "TTY_COMPATIBLE": None, "TTY_INTERACTIVE": None}
    done = lockgate("run", str(flows_dir / "approval.py"), "-q", env=env)
    assert done.returncode == 3, done.stderr
    out = done.stdout
    assert "\x1b[1;32mSuccess\x1b[0m" in out, repr(out)  # basic green, not grey (90)
    assert "\x1b[1;35mPaused\x1b[0m" in out
    assert "\x1b[1;90m" not in out
    truecolor = lockgate(
        "run", str(flows_dir / "approval.py"), "-q", env={**env, "COLORTERM": "truecolor"}
    )
    assert "\x1b[1;38;2;67;160;71mSuccess" in truecolor.stdout  # Success.color, #43a047


def test_progress_shows_paused_tasks(flows_dir: Path) -> None:
    flow, _ = runs.load_flow(str(flows_dir / "approval.py"))
    progress = RunProgress()
    state = flow.run(hooks=[progress])
    assert state.is_running()
    counts = progress.counts()
    assert (counts["done"], counts["paused"], counts["total"]) == (3, 1, 4)


def _record(slug: str, name: str, index: int, state: str) -> TaskRunRecord:
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return TaskRunRecord(
        flow_run_id="f" * 32,
        task_slug=slug,
        task_name=name,
        map_index=index,
        state=state,
        message=f"{name} is {state}",
        run_count=1,
        start_time=now,
        end_time=now,
        result_location=None,
        result_handler=None,
        cached_inputs_location=None,
        traceback=None,
    )


def test_states_from_records_colour_the_drawing(flows_dir: Path) -> None:
    flow, _ = runs.load_flow(str(flows_dir / "mapped.py"))
    slugs = {t.name: s for t, s in flow.slugs().items()}
    records = [
        _record(slugs["items"], "items", -1, "Success"),
        _record(slugs["double"], "double", -1, "Mapped"),
        _record(slugs["double"], "double", 0, "Success"),
        _record(slugs["double"], "double", 1, "Failed"),
        _record(slugs["double"], "double", 2, "Paused"),
        _record(slugs["double"], "double", 3, "Success"),
        _record(slugs["total"], "total", -1, "TriggerFailed"),
        _record("not-in-flow-1", "gone", -1, "Success"),
    ]
    states = runs.task_states_from_records(flow, records)
    by_name = {t.name: s for t, s in states.items()}
    assert set(by_name) == {"items", "double", "total"}
    double = by_name["double"]
    assert isinstance(double, Mapped)
    assert [type(s) for s in double.map_states] == [Success, Failed, Paused, Success]
    assert isinstance(by_name["total"], TriggerFailed)
    assert by_name["total"].message == "total is TriggerFailed"

    source = draw_flow(flow, task_states=states, title="mapped · run ffffffff (Failed)").source
    assert 'label="mapped · run ffffffff (Failed)"' in source
    assert 'label="double (2 ✓ / 1 ✗ / 1 paused)"' in source
    assert f'fillcolor="{TriggerFailed.color}"' in source
    assert f'fillcolor="{Success.color}"' in source


def test_unknown_state_names_draw_grey(flows_dir: Path) -> None:
    flow, _ = runs.load_flow(str(flows_dir / "flaky.py"))
    slug = next(s for t, s in flow.slugs().items() if t.name == "prepare")
    states = runs.task_states_from_records(flow, [_record(slug, "prepare", -1, "Vanished")])
    (state,) = states.values()
    assert type(state).__name__ == "State"


@needs_dot
def test_visualize_without_a_run_writes_svg(
    cli: Callable[..., Result], flows_dir: Path, home: Path
) -> None:
    out = flows_dir / "mapped.svg"
    result = cli("visualize", str(flows_dir / "mapped.py"), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"Wrote {out}"
    svg = out.read_text()
    assert "<svg" in svg
    assert "double" in svg
    assert not home.exists(), "drawing without --run must not open the store"


def test_visualize_to_dot_needs_no_graphviz(flows_dir: Path, tmp_path: Path) -> None:
    out = runs.visualize(str(flows_dir / "two.py:second"), output=tmp_path / "second.dot")
    text = out.read_text()
    assert text.startswith('digraph "second"')


def test_visualize_without_dot_says_how_to_install(
    flows_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(runs.RunsError, match=r"'dot' program is not installed.*\.dot'"):
        runs.visualize(str(flows_dir / "approval.py"), output=tmp_path / "a.svg")
    assert not (tmp_path / "a.svg").exists()


def test_trim_engine_frames_keeps_user_frames() -> None:
    import lockgate
    from lockgate.cli.render import trim_engine_frames

    engine = str(Path(lockgate.__file__).parent / "engine" / "task_runner.py")
    text = "\n".join(
        [
            "Traceback (most recent call last):",
            f'  File "{engine}", line 555, in get_task_run_state',
            "    value = timeout_handler(task.run)",
            "            ^^^^^^^^^^^^^^^^^^^^^^^^^",
            '  File "/home/me/flows.py", line 16, in price',
            '    raise ConnectionError("down")',
            "ConnectionError: down",
        ]
    )
    assert trim_engine_frames(text).splitlines() == [
        "Traceback (most recent call last):",
        "  [1 lockgate frame(s) hidden]",
        '  File "/home/me/flows.py", line 16, in price',
        '    raise ConnectionError("down")',
        "ConnectionError: down",
    ]
    only_engine = "\n".join([*text.splitlines()[:4], "ValueError: x"])
    assert trim_engine_frames(only_engine) == only_engine
    assert trim_engine_frames("not a traceback") == "not a traceback"
