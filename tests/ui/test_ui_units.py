"""The dashboard's small pieces on their own: tokens, host names, the chart, timelines, jobs."""

from __future__ import annotations

import re
import threading
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from lockgate.runs import RunsError
from lockgate.store import TaskRunRecord, TransitionRecord
from lockgate.ui.charts import runs_per_day_svg
from lockgate.ui.jobs import JobBusyError, Jobs
from lockgate.ui.security import AccessToken, Csrf, _host_name
from lockgate.ui.views import task_rows, timeline, url

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_csrf_tokens_are_signed_by_the_process_that_made_them() -> None:
    mine, other = Csrf(), Csrf()
    token = mine.new_token()
    assert mine.signed(token)
    assert not other.signed(token)  # a dashboard restarted since the page loaded
    assert not mine.signed(token.split(".")[0] + ".0000")
    assert not mine.signed("") and not mine.signed(None) and not mine.signed("a.b.c")


def test_access_token_compares_exactly() -> None:
    assert not AccessToken(None).required
    access = AccessToken("s3cret")
    assert access.required and access.matches("s3cret")
    assert not access.matches("s3cre") and not access.matches("") and not access.matches(None)


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("127.0.0.1:8080", "127.0.0.1"),
        ("LOCALHOST", "localhost"),
        ("[::1]:8080", "::1"),
        ("::1", "::1"),
        ("evil.example:80", "evil.example"),
    ],
)
def test_host_header_names(header: str, host: str) -> None:
    assert _host_name(header) == host


def test_chart_stacks_states_per_day_and_links_each_day() -> None:
    days = {date(2026, 3, 1) + timedelta(days=i): {} for i in range(3)}
    days[date(2026, 3, 2)] = {"Success": 3, "Failed": 1}
    svg = runs_per_day_svg(days, lambda d: f"/?from={d}")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('class="day"') == 3
    assert '<a href="/?from=2026-03-02" class="day" data-day="2026-03-02">' in svg
    segments = re.findall(r'data-state="(\w+)" data-count="(\d+)"', svg)
    assert segments == [("Success", "3"), ("Failed", "1")]  # Success at the bottom
    assert ">4</text>" in svg  # the axis says the highest day's total


def test_chart_of_no_runs() -> None:
    svg = runs_per_day_svg({date(2026, 3, 1): {}}, lambda d: "/")
    assert "data-count" not in svg and ">0</text>" in svg


def transition(seconds: float, new: str, old: str | None = None) -> TransitionRecord:
    return TransitionRecord("r" * 32, "t-1", -1, old, new, None, T0 + timedelta(seconds=seconds))


def test_timeline_widths_follow_durations() -> None:
    segments = timeline(
        [transition(0, "Pending"), transition(1, "Running"), transition(9, "Success")],
        end=T0 + timedelta(seconds=9),
    )
    assert [s.state for s in segments] == ["Pending", "Running", "Success"]
    assert [s.seconds for s in segments] == [1.0, 8.0, 0.0]
    assert sum(s.percent for s in segments) == pytest.approx(100.0)
    assert segments[1].percent > segments[0].percent > segments[2].percent > 0
    assert timeline([], end=None) == []


def record(slug: str, index: int, state: str) -> TaskRunRecord:
    return TaskRunRecord(
        "r" * 32, slug, slug.split("-")[0], index, state, None, 1, T0, T0, None, None, None, None
    )


def test_task_rows_put_children_under_their_task() -> None:
    rows = task_rows(
        [
            record("a-1", -1, "Success"),
            record("m-1", -1, "Mapped"),
            record("m-1", 0, "Success"),
            record("m-1", 1, "Failed"),
            record("m-1", 2, "Success"),
            record("z-1", 0, "Failed"),  # a child stored without its parent (a crash mid-map)
        ]
    )
    assert [r.record.task_slug for r in rows] == ["a-1", "m-1", "z-1"]
    assert [c.map_index for c in rows[1].children] == [0, 1, 2]
    assert rows[1].child_counts == [("Success", 2), ("Failed", 1)]
    assert rows[0].children == []


def test_url_keeps_only_given_parameters() -> None:
    assert url("/", flow=None, state="", page=2) == "/?page=2"
    assert url("/runs/x") == "/runs/x"


def test_jobs_run_in_the_background_one_at_a_time_per_run() -> None:
    from lockgate.engine.state import Success

    gate = threading.Event()
    jobs = Jobs()

    def work() -> Any:
        gate.wait(30)
        return Success("All reference tasks succeeded.")

    job = jobs.start("restart", "a" * 32, work)
    assert not job.done and job.summary == "Restart is running…"
    assert jobs.active("a" * 32) is job and jobs.active_for_prefix("aaaa") is job
    with pytest.raises(JobBusyError, match="still going on"):
        jobs.start("resume", "a" * 32, work)
    other = jobs.start("cancel", "b" * 32, lambda: "cancel requested")
    gate.set()
    assert jobs.join(30)
    assert job.summary == "Restart finished: the run is Success - All reference tasks succeeded."
    assert other.summary == "Cancel: cancel requested."
    assert jobs.get(job.id) is job and jobs.get("nope") is None and jobs.active("a" * 32) is None


def test_job_errors_become_its_outcome() -> None:
    from lockgate.engine.state import Running

    def bad_input() -> Any:
        raise RunsError("Run aaaaaaaa has nothing paused to resume.")

    def paused() -> Any:
        return Running("Flow run in progress.")

    jobs = Jobs()
    failed = jobs.start("resume", "a" * 32, bad_input)
    waiting = jobs.start("restart", "b" * 32, paused)
    assert jobs.join(30)
    assert failed.summary == "Resume failed: Run aaaaaaaa has nothing paused to resume."
    assert waiting.summary == "Restart finished: the run waits for approval of its paused tasks."


def test_host_names_of_each_kind_of_bind() -> None:
    import socket

    from lockgate.ui.server import host_names

    names, any_address = host_names("127.0.0.2")
    assert names == ["127.0.0.2", "127.0.0.1", "localhost", "::1"] and not any_address
    names, any_address = host_names("192.0.2.5", ["Dash.Example:8080", " "])
    assert names == ["dash.example", "192.0.2.5"] and not any_address
    names, any_address = host_names("0.0.0.0")
    assert socket.gethostname().lower() in names and "localhost" in names and any_address
    assert host_names("[::]")[1]


class _RunsACommand:
    def __reduce__(self) -> Any:
        import os

        return (os.system, ("echo this must never run",))


def test_safe_loads_builds_plain_data_only() -> None:
    import pickle
    from collections import OrderedDict
    from decimal import Decimal
    from pathlib import Path
    from uuid import UUID

    from lockgate.ui.values import NotShown, safe_loads

    value = {
        "numbers": [1, 2.5, 3j, True, None],
        "text": ("x", b"y", bytearray(b"z")),
        "sets": ({1}, frozenset({2})),
        "when": (T0, T0.date(), timedelta(seconds=3)),
        "exact": Decimal("1.5"),
        "id": UUID(int=7),
        "path": Path("/tmp/x"),
        "ordered": OrderedDict(a=1),
    }
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert safe_loads(pickle.dumps(value, protocol=protocol)) == value
    with pytest.raises(NotShown, match=r"system object"):
        safe_loads(pickle.dumps(_RunsACommand()))
    with pytest.raises(NotShown, match=r"test_ui_units.record object"):
        safe_loads(pickle.dumps(record))


def test_the_dashboard_never_initialises_an_empty_store_file(tmp_path: Any) -> None:
    from lockgate.store import StoreError
    from lockgate.ui.base import StoreHolder

    empty = tmp_path / "store.db"
    empty.write_bytes(b"")
    holder = StoreHolder(f"sqlite:///{empty}")
    with pytest.raises(StoreError):
        holder.get()
    assert empty.stat().st_size == 0  # a read refused it instead of writing tables in
    assert StoreHolder(f"sqlite:///{tmp_path / 'none.db'}").get() is None
    assert not (tmp_path / "none.db").exists()
