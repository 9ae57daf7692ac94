"""The actions: approve and resume, restart, cancel — each confirmed, then run in the background.

``GET /runs/{run_id}/{action}`` shows a confirmation page (what will happen, and a
form); ``POST`` to the same address checks the request (:func:`lockgate.ui.security.
refusal`), starts a :class:`~lockgate.ui.jobs.Job` that calls the same function the CLI
calls (:func:`lockgate.runs.resume`, :func:`~lockgate.runs.restart`,
:func:`~lockgate.runs.cancel`), and redirects to the run's page, which follows the job
and shows how it ended.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from lockgate import runs
from lockgate.store import RunStore
from lockgate.ui import queries
from lockgate.ui.base import dashboard, error_page, render, require_store
from lockgate.ui.jobs import JobBusyError
from lockgate.ui.security import refusal

__all__ = ["ACTIONS", "confirm_page", "perform"]

ACTIONS = ("resume", "restart", "cancel")
MAX_FORM_BYTES = 64 * 1024


def confirm_page(request: Request) -> Response:
    """``GET /runs/{run_id}/{action}``: ask before acting, saying what will happen."""
    action = request.path_params["action"]
    store = require_store(request)
    run = store.get_run(request.path_params["run_id"])
    context: dict[str, Any] = {"run": run, "action": action}
    if action == "resume":
        context["paused"] = runs.waiting(run.id, store=store)
    busy = dashboard(request).jobs.active(run.id)
    context["busy"] = busy
    return render(request, "confirm.html", context)


async def _form(request: Request) -> dict[str, list[str]] | None:
    """The URL-encoded form of a POST, or None when it is too large or not a form."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


async def perform(request: Request) -> Response:
    """``POST /runs/{run_id}/{action}``: check the request, start the action, redirect."""
    board = dashboard(request)
    form = await _form(request)
    if form is None:
        return error_page(
            request, 400, "Bad request", "Actions are posted by the dashboard's own forms."
        )
    why = refusal(request, form, board.csrf, board.access)
    if why is not None:
        return error_page(request, 403, "Action refused", why)
    action = request.path_params["action"]
    run_id = request.path_params["run_id"]
    tasks = [t for t in form.get("tasks", []) if t]
    if action == "resume" and form.get("choose") and not tasks:
        return error_page(
            request,
            400,
            "Nothing chosen",
            "Tick at least one paused task to approve, then submit again.",
        )
    store = await run_in_threadpool(require_store, request)
    full_id = (await run_in_threadpool(store.get_run, run_id)).id
    work = _work(action, full_id, store, tasks)
    try:
        job = board.jobs.start(action, full_id, work, keep=_keeper(store, full_id))
    except JobBusyError as exc:
        return error_page(request, 409, "Busy", str(exc))
    response = RedirectResponse(f"/runs/{full_id}?job={job.id}", status_code=303)
    board.access.remember(response)
    return response


def _keeper(store: RunStore, run_id: str) -> Callable[[str, str], None]:
    """Keeps an action's start and outcome as log lines of the run, in the store."""

    def keep(level: str, message: str) -> None:
        queries.log_action(store, run_id, level, message)

    return keep


def _work(action: str, run_id: str, store: RunStore, tasks: list[str]) -> Callable[[], Any]:
    if action == "resume":
        return lambda: runs.resume(run_id, tasks=tasks or None, store=store)
    if action == "restart":
        return lambda: runs.restart(run_id, store=store)

    def cancel() -> str:
        runs.cancel(run_id, store=store)
        return "cancel requested; the run stops before its next task"

    return cancel
