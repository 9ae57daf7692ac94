"""The dashboard's application factory: routes, error pages, middleware."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from lockgate.store import StoreError, UnknownRunError
from lockgate.ui import actions, live, views
from lockgate.ui.base import HERE, Dashboard, StoreHolder, error_page, make_templates, render
from lockgate.ui.graphs import FlowGraphs
from lockgate.ui.jobs import Jobs
from lockgate.ui.security import AccessToken, Csrf, Guard

__all__ = ["create_app"]


def create_app(
    store_url: str | None = None,
    token: str | None = None,
    *,
    allowed_hosts: Sequence[str] | None = None,
    any_address: bool = False,
    reads_need_token: bool = False,
    poll_interval: float = 0.5,
) -> Starlette:
    """Build the dashboard as an ASGI application (serve it with any ASGI server).

    Nothing is opened here: the store is opened on the first request that needs it
    (and a SQLite store that does not exist yet is never created).

    Args:
        store_url: the run store's URL (default: ``$LOCKGATE_STORE_URL``, else
            ``sqlite:///$LOCKGATE_HOME/store.db``).
        token: when given, actions (resume, restart, cancel) need it, in the form or
            in the cookie ``/?token=TOKEN`` sets. ``lockgate ui`` makes one when it
            listens on a non-loopback address.
        allowed_hosts: answer only requests whose ``Host`` is one of these names
            (against DNS rebinding: ``lockgate ui`` passes the names of the address
            it listens on, and ``--allowed-host``); None answers any.
        any_address: also answer requests whose ``Host`` is an IP address (for a
            server listening on every address of the machine).
        reads_need_token: every page needs the token, not only actions (``lockgate
            ui`` sets it when listening on a non-loopback address).
        poll_interval: seconds between two looks at the store for live run pages.

    Returns:
        The Starlette application.

    Raises:
        ValueError: ``token`` is empty (no action could ever be allowed) or holds
            characters a cookie cannot carry, or ``reads_need_token`` without a token.
    """
    board = Dashboard(
        store=StoreHolder(store_url),
        jobs=Jobs(),
        graphs=FlowGraphs(),
        csrf=Csrf(),
        access=AccessToken(token, for_reads=reads_need_token),
        templates=make_templates(),
        poll_interval=poll_interval,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        board.jobs.join(timeout=5.0)
        board.store.close()

    routes = [
        Route("/", views.runs_page, name="runs"),
        Route("/healthz", views.health),
        Route("/flows", views.flows_page, name="flows"),
        Route("/runs/{run_id}", views.run_page, name="run"),
        Route("/runs/{run_id}/fragment", views.run_fragment),
        Route("/runs/{run_id}/events", live.run_events),
        Route("/runs/{run_id}/tasks/{slug:path}", views.task_page, name="task"),
        Route("/runs/{run_id}/{action}", _confirm, methods=["GET"]),
        Route("/runs/{run_id}/{action}", _perform, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                Guard,
                allowed_hosts=allowed_hosts,
                any_address=any_address,
                access=board.access,
                locked=_locked,
            )
        ],
        exception_handlers={
            UnknownRunError: _unknown_run,
            StoreError: _store_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
        lifespan=lifespan,
    )
    app.state.dashboard = board
    return app


async def _locked(scope: Scope, receive: Receive, send: Send) -> None:
    """The page that asks for the access token before showing anything (status 401)."""
    request = Request(scope, receive)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    # Not even the store's address is shown before the token is given.
    context = {"next": here, "store_label": "", "locked": True}
    response = render(request, "locked.html", context, status_code=401)
    await response(scope, receive, send)


def _confirm(request: Request) -> Response:
    if request.path_params["action"] not in actions.ACTIONS:
        return _not_found(request)
    return actions.confirm_page(request)


async def _perform(request: Request) -> Response:
    if request.path_params["action"] not in actions.ACTIONS:
        return _not_found(request)
    return await actions.perform(request)


def _not_found(request: Request) -> Response:
    return error_page(
        request, 404, "Not found", f"There is no page at {request.url.path}; start from the runs."
    )


async def _unknown_run(request: Request, exc: Exception) -> Response:
    return error_page(request, 404, "No such run", str(exc))


async def _store_error(request: Request, exc: Exception) -> Response:
    board: Dashboard = request.app.state.dashboard
    return error_page(request, 503, "The run store cannot be read", board.store.hide_url(str(exc)))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return _not_found(request)
    return error_page(request, exc.status_code, "Request not handled", str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    # Starlette re-raises the exception after this page is sent: the server logs it.
    return error_page(
        request,
        500,
        "Something went wrong",
        f"The dashboard hit an error ({type(exc).__name__}); the server's log has the details.",
    )
