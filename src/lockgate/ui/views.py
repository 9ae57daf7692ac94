"""The pages: runs list, run detail (and its live fragment), task detail, flows list.

Each handler reads through :mod:`lockgate.runs` and :class:`~lockgate.store.RunStore`
(and :mod:`lockgate.store.queries` for browsing) and renders a template.
They are plain functions: Starlette runs them in its thread pool.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
    queries,
)
from lockgate.ui import formatting
from lockgate.ui.base import dashboard, error_page, render, require_store, store_or_none
from lockgate.ui.charts import runs_per_day_svg
from lockgate.ui.graphs import NOT_STARTED
from lockgate.ui.queries import action_lines
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
FIRST_DAY = date(1970, 1, 1)
"""The earliest day a filter accepts (runs are stamped with seconds since 1970)."""
LAST_DAY = date(9998, 12, 31)
"""The latest day a filter accepts (a day's end must still be a date)."""
MAX_FLOW_CHARS = 255
"""The longest flow name a filter accepts (the store's limit): it is echoed in every link."""


def _day(text: str | None, name: str, problems: list[str]) -> date | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        problems.append(f"'{_cut(text)}' is not a date for '{name}'; use YYYY-MM-DD.")
        return None
    if not FIRST_DAY <= day <= LAST_DAY:
        problems.append(
            f"'{text}' is out of range for '{name}': use a day from {FIRST_DAY} to {LAST_DAY}."
        )
        return None
    return day


BEYOND = 10**18
"""Stands for any number too long to be a page or a child (``int`` refuses 4,300 digits)."""


def _whole_number(text: str) -> int | None:
    """``text`` as a whole number (ASCII digits only), :data:`BEYOND` when longer than 18
    digits, or None when it is not one (``str.isdigit`` also accepts ``²``)."""
    if not (text.isascii() and text.isdigit()):
        return None
    return int(text) if len(text) <= 18 else BEYOND


def _page_number(text: str | None, problems: list[str]) -> int:
    if not text:
        return 1
    number = _whole_number(text)
    if number is None or number < 1:
        problems.append(f"'{_cut(text)}' is not a page number; pages count from 1.")
        return 1
    return number


def _cut(text: str, limit: int = 60) -> str:
    """``text`` cut short for a message (a filter value is echoed, never in full)."""
    return text if len(text) <= limit else text[:limit] + "…"


def runs_page(request: Request) -> Response:
    """``GET /``: runs newest first, filtered by flow, state and day, with the chart.

    Query parameters: ``flow``, ``state``, ``from`` and ``to`` (``YYYY-MM-DD``, local
    days, both included), ``page``. ``token`` (the access token) sets its cookie. A
    filter that cannot be used answers 400 with the form and what is wrong; a page
    past the last one answers 404.
    """
    board = dashboard(request)
    q = request.query_params
    if TOKEN_FIELD in q:
        return _take_token(request, q[TOKEN_FIELD])
    problems: list[str] = []
    flow = q.get("flow") or None
    if flow is not None and len(flow) > MAX_FLOW_CHARS:
        problems.append(
            f"'{_cut(flow)}' is not a flow name: names have at most {MAX_FLOW_CHARS} characters."
        )
        flow = None
    raw_state = q.get("state") or None
    state = None
    if raw_state:
        try:
            state = runs.state_name(_cut(raw_state))
        except runs.RunsError as exc:
            problems.append(str(exc))
    day_from = _day(q.get("from"), "from", problems)
    day_to = _day(q.get("to"), "to", problems)
    page = _page_number(q.get("page"), problems)
    filters = {"flow": flow, "state": state, "from": day_from, "to": day_to}
    context: dict[str, Any] = {
        "filters": filters,
        "problems": problems,
        "states": runs.FLOW_STATES,
    }
    store = board.store.get()
    if problems:
        flows = queries.flow_names(store) if store is not None else []
        return render(request, "runs.html", {**context, "flows": flows}, status_code=400)
    if store is None:
        return render(request, "runs.html", {**context, "empty_store": True})
    since = queries.day_bounds(day_from)[0] if day_from else None
    until = queries.day_bounds(day_to)[1] if day_to else None
    where = queries.RunFilter(flow=flow, state=state, since=since, until=until)
    # The offset is capped: SQL offsets are 64-bit, and a page past the end is a 404.
    offset = min((page - 1) * PER_PAGE, BEYOND)
    records, total = queries.page_of_runs(store, where, PER_PAGE, offset)
    pages = max(1, math.ceil(total / PER_PAGE))
    if page > pages:
        return error_page(
            request,
            404,
            "No such page",
            f"The list has {pages} page{'s' if pages != 1 else ''} of runs; "
            f"there is no page {_cut(q.get('page') or str(page))}.",
        )

    last = day_to or date.today()
    first = day_from if day_from and day_from <= last else last - timedelta(days=CHART_DAYS - 1)
    first = max(first, last - timedelta(days=MAX_CHART_DAYS - 1), FIRST_DAY)
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


# -- secrets --------------------------------------------------------------------------------
REVEAL = "secrets"
"""The query parameter (``?secrets=1``) that shows secret-looking values as they are."""


def wants_secrets(request: Request) -> bool:
    """Whether the page may show secret-looking parameters and inputs as they are.

    Only when asked (``?secrets=1``), and, when the dashboard has an access token,
    only to a browser that holds it.

    Args:
        request: the request.

    Returns:
        True to show the values.
    """
    asked = request.query_params.get(REVEAL) == "1"
    return asked and dashboard(request).access.cookie_ok(request)


def _masked(values: dict[str, Any], reveal: bool) -> tuple[dict[str, Any], bool]:
    """``values`` with secret-looking names masked, and whether any was."""
    from lockgate.utilities.masking import is_secret_name, mask_parameters

    return mask_parameters(values, reveal=reveal), not reveal and any(
        is_secret_name(k) for k in values
    )


# -- run detail -----------------------------------------------------------------------------
@dataclass
class TaskRow:
    """One row of the run page's task table: a task, and its mapped children if any.

    Attributes:
        record: the task's own record (map_index -1).
        children: its mapped children's records.
        child_counts: the children counted by state, largest first.
        started: False for a task of the graph that has no record (never started).
    """

    record: TaskRunRecord
    children: list[TaskRunRecord] = field(default_factory=list)
    child_counts: list[tuple[str, int]] = field(default_factory=list)
    started: bool = True


def _not_started(run_id: str, slug: str, name: str) -> TaskRunRecord:
    """A row's record for a task of the graph the run has no record of."""
    return TaskRunRecord(
        flow_run_id=run_id,
        task_slug=slug,
        task_name=name,
        map_index=-1,
        state=NOT_STARTED,
        message=None,
        run_count=0,
        start_time=None,
        end_time=None,
        result_location=None,
        result_handler=None,
        cached_inputs_location=None,
        traceback=None,
    )


def mapped_parent(children: list[TaskRunRecord], run_state: str) -> TaskRunRecord:
    """A stand-in for a mapped task whose own record is not stored yet.

    A mapped task is recorded once all its children have ended; until then (or for
    good, when the run died mid-map) only the children are in the store.

    Args:
        children: the task's children recorded so far (at least one).
        run_state: the run's state: ``Running`` while it is recorded.

    Returns:
        A record for the task itself (map index -1), ``Running`` while the run runs,
        else in the run's state.
    """
    first = children[0]
    starts = [c.start_time for c in children if c.start_time is not None]
    return TaskRunRecord(
        flow_run_id=first.flow_run_id,
        task_slug=first.task_slug,
        task_name=first.task_name,
        map_index=-1,
        state=run_state,
        message=f"Mapping: {len(children)} children recorded so far.",
        run_count=1,
        start_time=min(starts) if starts else None,
        end_time=None,
        result_location=None,
        result_handler=None,
        cached_inputs_location=None,
        traceback=None,
    )


def task_rows(
    records: list[TaskRunRecord],
    run_state: str = "Running",
    graph: Mapping[str, Any] | None = None,
) -> list[TaskRow]:
    """Group a run's task runs into one row per task, children under their task.

    Args:
        records: the run's task runs (parents before their children, as stored).
        run_state: the run's state, for a mapped task whose own record is missing
            (see :func:`mapped_parent`).
        graph: the run's stored graph: its tasks that never started get a row too
            (after the others, in the flow's order), as the graph shows them.

    Returns:
        The rows, in the order the tasks started, then the tasks that did not.
    """
    rows: dict[str, TaskRow] = {}
    orphans: set[str] = set()
    for rec in records:
        row = rows.get(rec.task_slug)
        if rec.map_index < 0:
            if row is None:
                rows[rec.task_slug] = TaskRow(rec)
            else:
                row.record = rec
                orphans.discard(rec.task_slug)
        elif row is None:  # a child stored before its parent (the map is still going)
            rows[rec.task_slug] = TaskRow(rec, [rec])
            orphans.add(rec.task_slug)
        else:
            row.children.append(rec)
    for slug in orphans:
        rows[slug].record = mapped_parent(rows[slug].children, run_state)
    run_id = records[0].flow_run_id if records else ""
    for task in (graph or {}).get("tasks") or []:
        slug = str(task["slug"])
        if slug not in rows:
            rows[slug] = TaskRow(_not_started(run_id, slug, str(task.get("name", slug))))
            rows[slug].started = False
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
    graph = board.graphs.graph(run, lambda: store.get_run_graph(run.id))
    drawing = board.graphs.draw(run, graph, records, activity.version)
    reveal = wants_secrets(request)
    parameters, hidden = _masked(run.parameters, reveal)
    secrets_param = "1" if reveal else None
    return {
        "run": run,
        "parameters": parameters,
        "secrets_hidden": hidden,
        "reveal_url": url(f"/runs/{run.id}", job=job_param, **{REVEAL: "1"}),
        "rows": task_rows(records, run.state, graph),
        "children_shown": CHILDREN_SHOWN,
        "drawing": drawing,
        "live": activity.live,
        "following": following,
        "version": activity.version + (f"{job.id}:{job_done}" if job is not None else ""),
        "job": job,
        "paused": [r for r in records if r.state == "Paused"],
        "can_restart": _can_restart(run, records, activity.live),
        "restarts": queries.restarts(store, run.id),
        "actions": action_lines(store, run.id),
        "fragment_url": url(f"/runs/{run.id}/fragment", job=job_param, **{REVEAL: secrets_param}),
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


def _stored(
    store: RunStore, run_id: str, rec: TaskRunRecord, secret_result: bool, reveal: bool
) -> tuple[dict[str, tuple[bool, str]], bool]:
    """Previews of a task run's stored result and inputs, and whether any was masked.

    Inputs with secret-looking names, and the result when ``secret_result`` (a
    parameter with such a name), are masked unless ``reveal``.

    Returns:
        ``{"result": (found, text), "inputs": (found, text)}``, and True when a
        value is shown as ``***``.
    """
    from lockgate.ui.values import NotShown, read_inputs, read_result
    from lockgate.utilities.masking import MASK, is_secret_name

    values = queries.stored_values(store, run_id, rec.task_slug, rec.map_index)
    out: dict[str, tuple[bool, str]] = {}
    hidden = False
    if secret_result and not reveal and values is not None and values.result_blob is not None:
        out["result"] = (True, MASK)
        hidden = True
    elif rec.state == "Mapped":
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
            value = read_result(values.result_handler, values.result_blob)
            out["result"] = (True, formatting.preview(value))
        except NotShown as exc:
            out["result"] = (False, f"Stored, not shown: {exc}.")
        except Exception as exc:
            out["result"] = (False, f"Cannot be read back: {type(exc).__name__}: {exc}")
    blob = None if values is None else values.inputs_blob
    if blob is None or values is None:
        out["inputs"] = (
            False,
            "Not stored: inputs are kept for paused, failed and retrying tasks only.",
        )
        return out, hidden
    try:
        inputs = read_inputs(values.inputs_location, blob)
    except NotShown as exc:
        out["inputs"] = (False, f"Stored, not shown: {exc}.")
        return out, hidden
    except Exception:
        inputs = None
    if not isinstance(inputs, dict):
        out["inputs"] = (False, "Stored, but cannot be read back.")
        return out, hidden
    secret = set() if reveal else {k for k in inputs if is_secret_name(str(k))}
    out["inputs"] = (
        True,
        "\n".join(
            f"{k} = {MASK if k in secret else formatting.preview(v)}" for k, v in inputs.items()
        ),
    )
    return out, hidden or bool(secret)


def task_page(request: Request) -> Response:
    """``GET /runs/{run_id}/tasks/{slug}[?child=N]``: one task run in detail.

    Its state timeline, stored inputs and result, the traceback of a failure, its log
    lines, and for a mapped task the list of its children.
    """
    from lockgate.utilities.display import trim_engine_frames
    from lockgate.utilities.masking import MASK, is_secret_name

    store = require_store(request)
    run = store.get_run(request.path_params["run_id"])
    slug = request.path_params["slug"]
    child = request.query_params.get("child")
    index = -1
    if child is not None:
        number = _whole_number(child)
        if number is None:
            return error_page(
                request,
                400,
                "Bad request",
                f"'{_cut(child)}' is not a child's number; mapped children count from 0.",
            )
        index = number
    rows = [r for r in store.task_runs(run.id) if r.task_slug == slug]
    rec = next((r for r in rows if r.map_index == index), None)
    if rec is None and index < 0 and rows:  # a mapped task whose children still run
        rec = mapped_parent(rows, "Running" if run.state == "Running" else run.state)
    if rec is None:
        name = f"{slug}[{_cut(child or '')}]" if index >= 0 else slug
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
    reveal = wants_secrets(request)
    secret_result = rec.task_slug in run.parameters and is_secret_name(rec.task_slug)
    stored, hidden = _stored(store, run.id, rec, secret_result, reveal)
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
            "stored": stored,
            # A JSON result handler's location is the value itself.
            "result_location": MASK if secret_result and not reveal else rec.result_location,
            "secrets_hidden": hidden,
            "reveal_url": url(
                f"/runs/{run.id}/tasks/{formatting.slug_path(slug)}", child=child, **{REVEAL: "1"}
            ),
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
