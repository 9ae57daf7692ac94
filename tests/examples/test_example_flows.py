"""The README's main command runs examples/etl_with_approval.py; keep it working."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from lockgate.engine.state import Mapped, Paused, Skipped, Success, TriggerFailed
from lockgate.testing import FakeClock

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "etl_with_approval.py"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    monkeypatch.chdir(tmp_path)  # the example draws its graph under ./build
    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / "home"))  # its run store
    spec = importlib.util.spec_from_file_location("etl_with_approval", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "etl_with_approval", module)
    spec.loader.exec_module(module)
    return module


def test_first_run_stops_at_the_approval_gate(example: ModuleType) -> None:
    flow, tasks = example.build_flow()
    with FakeClock() as clock:
        state = flow.run(parameters={"batch_size": 8})
    assert state.is_running()
    assert isinstance(state.result[tasks["load"]], Paused)
    assert clock.sleeps == [0.2]  # one retry of extract, waited on the clock
    transform = state.result[tasks["transform"]]
    assert isinstance(transform, Mapped)
    assert [type(s) for s in transform.map_states].count(Skipped) == 2


def test_main_records_the_run_approves_it_and_finishes(
    example: ModuleType, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from lockgate.store import RunStore

    with FakeClock():
        final = example.main()
    assert isinstance(final, Success)
    states = {t.name: s for t, s in final.result.items()}
    assert states["load"].result == "loaded 6 orders worth 240.00"
    assert states["cleanup"].is_successful()
    assert isinstance(states["alert"], TriggerFailed)  # nothing failed: no page
    assert example.ATTEMPTS["extract"] == 2
    out = capsys.readouterr().out
    assert "Approving 'load'" in out and "8 children: 2 Skipped, 6 Success" in out
    # One run in the default store (under LOCKGATE_HOME), paused then resumed to the end.
    with RunStore.open() as store:
        [run] = store.list_runs()
        assert run.flow_name == "orders-etl" and run.state == "Success"
        assert str(EXAMPLE) in (run.source or "")
        tasks = {t.task_name: t for t in store.task_runs(run.id) if t.map_index == -1}
        assert tasks["load"].state == "Success" and tasks["extract"].state == "Success"
        load_history = [t.new_state for t in store.transitions(run.id, tasks["load"].task_slug)]
        assert "Paused" in load_history and load_history[-1] == "Success"
