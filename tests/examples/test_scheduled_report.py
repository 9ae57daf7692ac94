"""examples/scheduled_report.py: a weekday 07:00 London report, followed on a fake clock."""

from __future__ import annotations

import importlib.util
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from zoneinfo import ZoneInfo

import pytest

from lockgate.engine import task_runner as task_runner_module
from lockgate.engine.state import Success
from lockgate.testing import FakeClock

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scheduled_report.py"
LONDON = ZoneInfo("Europe/London")


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    monkeypatch.chdir(tmp_path)  # reports are written under ./build/reports
    monkeypatch.setattr(task_runner_module, "_CACHES", type(task_runner_module._CACHES)())
    spec = importlib.util.spec_from_file_location("scheduled_report", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "scheduled_report", module)
    spec.loader.exec_module(module)
    return module


def test_a_week_of_reports_keeps_seven_am_london_across_the_clock_change(
    example: ModuleType, tmp_path: Path
) -> None:
    start = datetime(2026, 3, 26, 12, 0, tzinfo=LONDON)  # Thursday noon
    flow = example.build_flow(start, end=datetime(2026, 3, 31, 12, 0, tzinfo=LONDON))
    with FakeClock(start=start) as clock:
        state = flow.run()
    assert isinstance(state, Success)
    # Fri 27 07:00 GMT; Mon 30 07:00 BST (the weekend is 71 hours, one lost to BST); Tue 31.
    assert [s / 3600 for s in clock.sleeps] == [19.0, 71.0, 24.0]
    reports = sorted(p.name for p in (tmp_path / "build" / "reports").iterdir())
    assert reports == ["sales-2026-03-27.txt", "sales-2026-03-30.txt", "sales-2026-03-31.txt"]
    friday = (tmp_path / "build" / "reports" / "sales-2026-03-27.txt").read_text(encoding="utf-8")
    monday = (tmp_path / "build" / "reports" / "sales-2026-03-30.txt").read_text(encoding="utf-8")
    assert friday.startswith("Fri 27 Mar 07:00 GMT (UTC 07:00)")
    assert monday.startswith("Mon 30 Mar 07:00 BST (UTC 06:00)")


def test_the_cached_calendar_is_downloaded_only_when_three_days_old(example: ModuleType) -> None:
    start = datetime(2026, 3, 23, 0, 0, tzinfo=LONDON)
    flow = example.build_flow(start, end=datetime(2026, 3, 28, tzinfo=LONDON))
    with FakeClock(start=start):
        flow.run()
    assert example.DOWNLOADS == ["2026-03-23", "2026-03-26"]


def test_replay_prints_two_weeks_and_the_holiday(
    example: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    state = example.main(["--replay"])
    assert isinstance(state, Success)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 11  # ten weekdays and the download summary
    assert lines[4].startswith("Fri 27 Mar 07:00 GMT (UTC 07:00)")
    assert lines[5].startswith("Mon 30 Mar 07:00 BST (UTC 06:00)")
    assert lines[9] == "Fri 03 Apr 07:00 BST (UTC 06:00): 0 orders, £0.00"  # Good Friday


def test_the_module_level_flow_starts_from_now(example: ModuleType) -> None:
    [first] = example.flow.schedule.next(1, after=datetime(2100, 1, 1, tzinfo=timezone.utc))
    assert first.tzinfo == LONDON and (first.hour, first.minute) == (7, 0)
    assert first.weekday() < 5
