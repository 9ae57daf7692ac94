"""Live run pages: a server-sent event stream that says when a run's record changed.

``GET /runs/{run_id}/events`` looks at the store every ``poll_interval`` seconds (two
small indexed queries, :func:`lockgate.store.queries.run_activity`) and sends an
``update`` event whenever the run's stored version or its action's status changed;
the page's script then fetches the fresh fragment. When the run is no longer being
recorded and no action on it is going on, the stream sends ``done`` and ends.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from lockgate.store import queries
from lockgate.ui.base import dashboard, require_store

__all__ = ["MAX_STREAM_S", "run_events"]

MAX_STREAM_S = 600.0
"""A stream ends after this long; the browser's EventSource then reconnects by itself."""


def _event(name: str, data: dict[str, object]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


async def run_events(request: Request) -> Response:
    """``GET /runs/{run_id}/events[?v=VERSION&job=ID]``: a run's changes as SSE.

    ``v`` is the version the page was drawn from: a change made before the stream
    started is sent at once. ``job`` is an action the page follows.
    """
    board = dashboard(request)
    store = await run_in_threadpool(require_store, request)
    run = await run_in_threadpool(store.get_run, request.path_params["run_id"])
    seen = request.query_params.get("v", "")
    job_id = request.query_params.get("job")

    async def stream() -> AsyncIterator[str]:
        nonlocal seen
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MAX_STREAM_S
        yield "retry: 2000\n\n"
        while True:
            # The action first: once it has ended, the run read after it is its outcome.
            job = board.jobs.active(run.id) or board.jobs.get(job_id)
            if job is not None and job.run_id != run.id:
                job = None
            job_version = job.version if job is not None else ""
            job_done = job is None or job.done
            activity = await run_in_threadpool(queries.run_activity, store, run.id)
            version = activity.version + job_version
            if version != seen:
                seen = version
                yield _event("update", {"version": version, "live": activity.live})
            if not activity.live and job_done:
                yield _event("done", {"version": version})
                return
            if loop.time() > deadline:
                return
            await asyncio.sleep(board.poll_interval)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
