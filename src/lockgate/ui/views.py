"""The pages: runs list, run detail (and its live fragment), task detail, flows list.

Each handler reads through :mod:`lockgate.runs` and :class:`~lockgate.store.RunStore`
(plus :mod:`lockgate.ui.queries` for what the store lacks) and renders a template.
They are plain functions: Starlette runs them in its thread pool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from lockgate import runs
from lockgate.store import (
    FlowRunRecord,
    RunStore,
    TaskRunRecord,
    TransitionRecord,
)
from lockgate.ui import formatting, queries
from lockgate.ui.base import dashboard, error_page, render, require_store, store_or_none
from lockgate.ui.charts import runs_per_day_svg
from lockgate.ui.security import TOKEN_FIELD

__all__ = [
    "PER_PAGE",
    "flows_page",
    "health",
    "run_fragment",
    "run_page",
    "runs_page",
    "task_page",
]

PER_PAGE = 25
"""Runs per page of the runs list."""
CHART_DAYS = 14
"""Days the chart shows when no date range is chosen."""
MAX_CHART_DAYS = 92
"""The most days the chart shows (a longer range shows its last days)."""
CHILDREN_SHOWN = 500
"""Mapped children listed under their task in the run page (all are on the task page)."""
RECENT_RUNS = 5
"""Recent runs shown per flow on the flows page."""

FAILED_STATES = frozenset({"Failed", "TimedOut", "TriggerFailed", "Cancelled"})


def url(path: str, **params: Any) -> str:
    """``path`` with the non-empty ``params`` as its query string."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def health(request: Request) -> Response:
    """``GET /healthz``: ``ok`` once the server answers."""
    return Response("ok", media_type="text/plain")


# -- runs list ------------------------------------------------------------------------------
def _day(text: str | None, name: str, problems: list[str]) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        problems.append(f"'{text}' is not a date for '{name}'; use YYYY-MM-DD.")
        return None


def _page_number(text: str | None) -> int:
    try:
        return max(1, int(text or 1))
    except ValueError:
        return 1


def runs_page(request: Request) -> Response:
    """``GET /``: runs newest first, filtered by flow, state and day, with the chart.

    Query parameters: ``flow``, ``state``, ``from`` and ``to`` (``YYYY-MM-DD``, local
    days, both included), ``page``. ``token`` (the access token) sets its cookie.
    """
    board = dashboard(request)
    q = request.query_params
    if TOKEN_FIELD in q:
        return _take_token(request, q[TOKEN_FIELD])
    problems: list[str] = []
    flow = q.get("flow") or None
    raw_state = q.get("state") or None
    state = None
    if raw_state:
        try:
            state = runs.state_name(raw_state)
        except runs.RunsError as exc:
            problems.append(str(exc))
    day_from = _day(q.get("from"), "from", problems)
    day_to = _day(q.get("to"), "to", problems)
    page = _page_number(q.get("page"))
    filters = {"flow": flow, "state": state, "from": day_from, "to": day_to}
    context: dict[str, Any] = {
        "filters": filters,
        "problems": problems,
        "states": runs.FLOW_STATES,
    }
    store = board.store.get()
    if store is None:
        return render(request, "runs.html", {**context, "empty_store": True})
    since = queries.day_bounds(day_from)[0] if day_from else None
    until = queries.day_bounds(day_to)[1] if day_to else None
    where = queries.RunFilter(flow=flow, state=state, since=since, until=until)
    records, total = queries.page_of_runs(store, where, PER_PAGE, (page - 1) * PER_PAGE)
    pages = max(1, math.ceil(total / PER_PAGE))

    last = day_to or date.today()
    first = day_from if day_from and day_from <= last else last - timedelta(days=CHART_DAYS - 1)
    first = max(first, last - timedelta(days=MAX_CHART_DAYS - 1))
    per_day = queries.runs_per_day(store, first, last, flow)
    chart = runs_per_day_svg(
        per_day,
        lambda d: url("/", flow=flow, state=state, **{"from": d.isoformat(), "to": d.isoformat()}),
    )

    def page_url(n: int) -> str:
        return url("/", flow=flow, state=state, page=n, **{"from": day_from, "to": day_to})

    context.update(
        runs=records,
        total=total,
        page=page,
        pages=pages,
        prev_url=page_url(page - 1) if page > 1 else None,
        next_url=page_url(page + 1) if page < pages else None,
        flows=queries.flow_names(store),
        chart=chart,
        chart_states=sorted({s for c in per_day.values() for s in c}),
        chart_first=first,
        chart_last=last,
    )
    return render(request, "runs.html", context)


def _local_path(text: str | None) -> str:
    """``text`` when it is a path of this dashboard (``/runs/...``), else ``/``.

    Only a path is followed after the token is taken, never another site's address
    (``//evil.example`` or ``https://...``).
    """
    if not text or not text.startswith("/") or text.startswith("//") or "\\" in text:
        return "/"
    if any(ord(c) < 32 for c in text):
        return "/"
    return text


def _take_token(request: Request, token: str) -> Response:
    """``/?token=...[&next=PATH]``: remember a valid access token in a cookie, then go to
    ``next`` (or the runs), dropping the token from the address."""
    access = dashboard(request).access
    if not access.matches(token):
        next_path = _local_path(request.query_params.get("next"))
        context = {
            "title": "Wrong access token",
            "status": 403,
            "problem": "That is not the token `lockgate ui` printed when it started.",
            "next": next_path,
            "store_label": "" if access.for_reads else dashboard(request).store.label,
            "locked": access.for_reads,
        }
        return render(request, "locked.html", context, status_code=403)
    response = RedirectResponse(_local_path(request.query_params.get("next")), status_code=303)
    access.remember(response)
    return response


# -- run detail -----------------------------------------------------------------------------
@dataclass
class TaskRow:
    """One row of the run page's task table: a task, and its mapped children if any.

    Attributes:
        record: the task's own record (map_index -1).
        children: its mapped children's records.
        child_counts: the children counted by state, largest first.
    """

    record: TaskRunRecord
    children: list[TaskRunRecord] = field(default_factory=list)
    child_counts: list[tuple[str, int]] = field(default_factory=list)


def task_rows(records: list[TaskRunRecord]) -> list[TaskRow]:
    """Group a run's task runs into one row per task, children under their task.

    Args:
        records: the run's task runs (parents before their children, as stored).

    Returns:
        The rows, in the order the tasks started.
    """
    rows: dict[str, TaskRow] = {}
    for rec in records:
        row = rows.get(rec.task_slug)
        if rec.map_index < 0:
            if row is None:
                rows[rec.task_slug] = TaskRow(rec)
            else:
                row.record = rec
        elif row is None:  # a child stored before its parent (a crash mid-map)
            rows[rec.task_slug] = TaskRow(rec, [rec])
        else:
            row.children.append(rec)
    for row in rows.values():
        counts: dict[str, int] = {}
        for child in row.children:
            counts[child.state] = counts.get(child.state, 0) + 1
        row.child_counts = formatting.counts_list(counts)
    return list(rows.values())


def _run_context(request: Request, run_id: str) -> dict[str, Any]:
    board = dashboard(request)
    store = require_store(request)
    # The action's status is read before the run: an action that ends while the run is
    # read leaves the page following it, so the next event shows the run's new state.
    job = board.jobs.active_for_prefix(run_id)
    if job is None:
        named = board.jobs.get(request.query_params.get("job"))
        job = named if named is not None and named.run_id.startswith(run_id.lower()) else None
    job_done = job is not None and job.done
    # The version before the records: what is drawn is never older than the version it is
    # cached under, and a change in between makes the next event refresh the page.
    activity = queries.run_activity(store, store.get_run(run_id).id)
    run, records = runs.show(run_id, store=store)
    job_param = job.id if job is not None else None
    following = activity.live or (job is not None and not job_done)
    drawing = board.graphs.draw(run, records, activity.version)
    return {
        "run": run,
        "rows": task_rows(records),
        "children_shown": CHILDREN_SHOWN,
        "drawing": drawing,
        "live": activity.live,
        "following": following,
        "version": activity.version + (f"{job.id}:{job_done}" if job is not None else ""),
        "job": job,
        "paused": [r for r in records if r.state == "Paused"],
        "can_restart": _can_restart(run, records, activity.live),
        "fragment_url": url(f"/runs/{run.id}/fragment", job=job_param),
        "events_url": url(f"/runs/{run.id}/events", job=job_param),
    }


def _can_restart(run: FlowRunRecord, records: list[TaskRunRecord], live: bool) -> bool:
    if live or run.state == "Success":
        return False
    return run.state in ("Failed", "Crashed") or any(r.state in FAILED_STATES for r in records)


def run_page(request: Request) -> Response:
    """``GET /runs/{run_id}``: the run, its graph and task table (live while it runs)."""
    return render(request, "run.html", _run_context(request, request.path_params["run_id"]))


def run_fragment(request: Request) -> Response:
    """``GET /runs/{run_id}/fragment``: the live part of the run page, for refreshes."""
    return render(request, "_run.html", _run_context(request, request.path_params["run_id"]))


# -- task detail ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """One stretch of a task's state timeline.

    Attributes:
        state: the state's name.
        start: when the task entered it.
        seconds: how long it stayed (until the next change, or until now/the end).
        percent: its share of the timeline's width.
        message: the state's message.
    """

    state: str
    start: datetime
    seconds: float
    percent: float
    message: str | None


def timeline(transitions: list[TransitionRecord], end: datetime | None) -> list[Segment]:
    """Turn a task run's transitions into timeline segments.

    Args:
        transitions: its transitions, oldest first.
        end: when the last state ends (the task's end time, or now while unfinished).

    Returns:
        One segment per transition; each at least 2% wide so short states show.
    """
    if not transitions:
        return []
    stops = [t.timestamp for t in transitions[1:]] + [end or transitions[-1].timestamp]
    spans = [max(0.0, (stop - t.timestamp).total_seconds()) for t, stop in zip(transitions, stops)]
    total = sum(spans) or 1.0
    shares = [max(2.0, 100.0 * s / total) for s in spans]
    scale = 100.0 / sum(shares)
    return [
        Segment(t.new_state, t.timestamp, s, share * scale, t.message)
        for t, s, share in zip(transitions, spans, shares)
    ]


def _stored(store: RunStore, run_id: str, rec: TaskRunRecord) -> dict[str, tuple[bool, str]]:
    """Previews of a task run's stored result and inputs: ``{name: (found, text)}``."""
    from lockgate.store.states import read_inputs, read_value

    values = queries.stored_values(store, run_id, rec.task_slug, rec.map_index)
    out: dict[str, tuple[bool, str]] = {}
    if rec.state == "Mapped":
        out["result"] = (False, "A mapped task's result is the list of its children's results.")
    elif values is None or values.result_blob is None:
        why = (
            "Not stored (the task has not succeeded)."
            if rec.state not in ("Success", "Cached")
            else "Not stored (the task does not keep its result: checkpoint=False)."
        )
        out["result"] = (False, why)
    else:
        try:
            value = read_value(values.result_handler, values.result_blob).value
            out["result"] = (True, formatting.preview(value))
        except Exception as exc:
            out["result"] = (False, f"Cannot be read back: {type(exc).__name__}: {exc}")
    inputs = None if values is None else read_inputs(values.inputs_location, values.inputs_blob)
    if inputs is not None:
        out["inputs"] = (
            True,
            "\n".join(f"{k} = {formatting.preview(v)}" for k, v in inputs.items()),
        )
    elif values is not None and values.inputs_blob is not None:
        out["inputs"] = (False, "Stored, but cannot be read back.")
    else:
        out["inputs"] = (
            False,
            "Not stored: inputs are kept for paused, failed and retrying tasks only.",
        )
    return out


def task_page(request: Request) -> Response:
    """``GET /runs/{run_id}/tasks/{slug}[?child=N]``: one task run in detail.

    Its state timeline, stored inputs and result, the traceback of a failure, its log
    lines, and for a mapped task the list of its children.
    """
    from lockgate.cli.render import trim_engine_frames

    store = require_store(request)
    run = store.get_run(request.path_params["run_id"])
    slug = request.path_params["slug"]
    child = request.query_params.get("child")
    index = int(child) if child is not None and child.isdigit() else -1
    rows = [r for r in store.task_runs(run.id) if r.task_slug == slug]
    rec = next((r for r in rows if r.map_index == index), None)
    if rec is None:
        name = f"{slug}[{index}]" if index >= 0 else slug
        return error_page(
            request,
            404,
            "No such task",
            f"Run {run.id[:8]} has no task run '{name}'.",
        )
    transitions = [t for t in store.transitions(run.id, slug) if t.map_index == index]
    lines = store.logs(run.id, slug)
    if index >= 0:
        lines = [ln for ln in lines if ln.map_index == index]
    unfinished = rec.end_time is None and run.state == "Running"
    end = datetime.now(timezone.utc) if unfinished else rec.end_time
    parent = next((r for r in rows if r.map_index < 0), None)
    return render(
        request,
        "task.html",
        {
            "run": run,
            "task": rec,
            "parent": parent if index >= 0 else None,
            "children": [r for r in rows if r.map_index >= 0] if index < 0 else [],
            "timeline": timeline(transitions, end),
            "transitions": transitions,
            "logs": lines,
            "stored": _stored(store, run.id, rec),
            "traceback": trim_engine_frames(rec.traceback.rstrip()) if rec.traceback else None,
        },
    )


# -- flows ----------------------------------------------------------------------------------
@dataclass
class FlowSummary:
    """A flow name on the flows page.

    Attributes:
        name: the flow's name.
        run_count: its runs, all versions and sources together.
        sources: the files it was run from.
        versions: how many different graphs it had.
        recent: its latest runs.
    """

    name: str
    run_count: int
    sources: list[str]
    versions: int
    recent: list[FlowRunRecord]


def flows_page(request: Request) -> Response:
    """``GET /flows``: every flow the store has seen, with its latest runs."""
    store = store_or_none(request)
    if store is None:
        return render(request, "flows.html", {"flows": [], "empty_store": True})
    summaries: dict[str, FlowSummary] = {}
    hashes: dict[str, set[str]] = {}
    for rec in runs.flows(store=store):
        summary = summaries.setdefault(rec.name, FlowSummary(rec.name, 0, [], 0, []))
        summary.run_count += rec.run_count
        if rec.source and rec.source not in summary.sources:
            summary.sources.append(rec.source)
        hashes.setdefault(rec.name, set()).add(rec.graph_hash)
    for summary in summaries.values():
        summary.versions = len(hashes[summary.name])
        summary.recent = store.list_runs(flow=summary.name, limit=RECENT_RUNS)
    return render(request, "flows.html", {"flows": list(summaries.values())})
