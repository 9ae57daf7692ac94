"""What every route handler shares: the dashboard's state, the store, page rendering."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from lockgate.store import RunStore, UnknownRunError
from lockgate.ui import formatting
from lockgate.ui.graphs import FlowGraphs
from lockgate.ui.jobs import Jobs
from lockgate.ui.security import CSRF_COOKIE, CSRF_FIELD, TOKEN_FIELD, AccessToken, Csrf

__all__ = [
    "HERE",
    "Dashboard",
    "StoreHolder",
    "dashboard",
    "error_page",
    "render",
    "require_store",
    "store_or_none",
]

HERE = Path(__file__).parent
"""The package directory: ``templates/`` and ``static/`` live here."""


class StoreHolder:
    """Opens the run store on first use and keeps it open; never creates a SQLite file.

    A dashboard pointed at a SQLite store that does not exist yet shows no runs (and
    says so) instead of creating an empty database; it opens it once a run made it.

    Args:
        url: the store's URL (None: the default store).
    """

    def __init__(self, url: str | None) -> None:
        from lockgate.store import default_url

        self.url = url or default_url()
        self._lock = threading.Lock()
        self._store: RunStore | None = None

    def missing(self) -> bool:
        """Whether the URL names a SQLite file that does not exist (yet)."""
        prefix = "sqlite:///"
        if not self.url.startswith(prefix):
            return False
        path = self.url[len(prefix) :].split("?", 1)[0]
        return bool(path) and path != ":memory:" and not os.path.exists(path)

    def get(self) -> RunStore | None:
        """The open store, or None while its SQLite file does not exist.

        Raises:
            lockgate.store.StoreError: the store cannot be opened.
        """
        with self._lock:
            if self._store is None:
                if self.missing():
                    return None
                self._store = RunStore.open(self.url, create=False)  # a read never makes a store
            return self._store

    def close(self) -> None:
        """Close the store, if it was opened."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    @property
    def label(self) -> str:
        """The URL with any password hidden (``user:***@``, ``?password=***``), for pages."""
        from lockgate.utilities.masking import mask_url

        return mask_url(self.url)

    def hide_url(self, text: str) -> str:
        """``text`` (e.g. an error message) with the store's URL, if in it, masked."""
        return text.replace(self.url, self.label) if self.url else text


@dataclass
class Dashboard:
    """Everything the handlers of one dashboard share.

    Attributes:
        store: the run store (opened on first use).
        jobs: the background actions.
        graphs: flows loaded to draw, and drawings.
        csrf: the CSRF token maker (its secret is made per process).
        access: the access token actions need (when set).
        templates: the Jinja templates.
        poll_interval: seconds between two looks at the store for live pages.
    """

    store: StoreHolder
    jobs: Jobs
    graphs: FlowGraphs
    csrf: Csrf
    access: AccessToken
    templates: Jinja2Templates
    poll_interval: float


def make_templates() -> Jinja2Templates:
    """The Jinja environment: the package's templates, autoescaped, with our filters."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.trim_blocks = True
    env.lstrip_blocks = True
    env.filters.update(
        state_color=formatting.state_color,
        text_color=formatting.text_color,
        timestamp=formatting.timestamp,
        short=formatting.short_id,
        slug_path=formatting.slug_path,
        counts=formatting.counts_list,
    )
    env.globals["duration"] = formatting.duration
    return templates


def dashboard(request: Request) -> Dashboard:
    """The dashboard serving ``request``."""
    board: Dashboard = request.app.state.dashboard
    return board


def store_or_none(request: Request) -> RunStore | None:
    """The open store, or None while its SQLite file does not exist yet."""
    return dashboard(request).store.get()


def require_store(request: Request) -> RunStore:
    """The open store; a store with nothing recorded yet has no run (a 404).

    Raises:
        UnknownRunError: the store does not exist yet.
    """
    store = store_or_none(request)
    if store is None:
        run_id = request.path_params.get("run_id", "")
        raise UnknownRunError(f"No run '{run_id}': nothing was recorded in this store yet.")
    return store


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    """Render a page template, with the CSRF token its forms need (and its cookie).

    Args:
        request: the request.
        name: the template's file name.
        context: the template's values.
        status_code: the response's status.

    Returns:
        The HTML response.
    """
    board = dashboard(request)
    token, fresh = board.csrf.token_for(request)
    values: dict[str, Any] = {
        "csrf_field": CSRF_FIELD,
        "csrf_token": token,
        "token_field": TOKEN_FIELD,
        "need_token": not board.access.cookie_ok(request),
        "store_label": board.store.label,
        **(context or {}),
    }
    response = board.templates.TemplateResponse(request, name, values, status_code=status_code)
    if fresh:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict")
    return response


def error_page(request: Request, status_code: int, title: str, message: str) -> Response:
    """A page that says what went wrong, with the given status.

    Args:
        request: the request.
        status_code: e.g. 404.
        title: the page's heading.
        message: one or two sentences saying what to do.

    Returns:
        The HTML response.
    """
    return render(
        request,
        "error.html",
        {"status": status_code, "title": title, "message": message},
        status_code=status_code,
    )
