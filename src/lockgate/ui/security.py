"""What keeps the dashboard's actions safe: CSRF tokens, origin checks, an access token.

Every action is a POST that must pass three checks (see :func:`refusal`):

* **Same origin**: the request's ``Origin`` header (or, without one, its ``Referer``)
  names this server, so a page of another site cannot post to it.
* **CSRF token** (double submit): the form's ``csrf_token`` field equals the
  ``lockgate_csrf`` cookie, and the token is signed with a secret made when the process
  starts, so only tokens this server handed out pass.
* **Access token**, when the server has one (it always does when bound to a
  non-loopback address): the form's ``token`` field or the ``lockgate_token`` cookie
  (set by opening ``/?token=...`` once, or by a form that carried it).

:class:`Guard` is an ASGI middleware that, when bound to loopback, refuses requests
whose ``Host`` is not a loopback name (DNS rebinding), and adds security headers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "LOOPBACK_HOSTS",
    "TOKEN_COOKIE",
    "TOKEN_FIELD",
    "AccessToken",
    "Csrf",
    "Guard",
    "refusal",
    "same_origin",
]

CSRF_COOKIE = "lockgate_csrf"
CSRF_FIELD = "csrf_token"
TOKEN_COOKIE = "lockgate_token"
TOKEN_FIELD = "token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
"""Host names a loopback-bound dashboard answers to."""

_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    ),
]


class Csrf:
    """Signed double-submit CSRF tokens (``nonce.signature``).

    Args:
        secret: the signing key (default: random, made once per process).
    """

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._secret, nonce.encode(), hashlib.sha256).hexdigest()[:32]

    def new_token(self) -> str:
        """A fresh token signed by this process."""
        nonce = secrets.token_urlsafe(18)
        return f"{nonce}.{self._sign(nonce)}"

    def signed(self, token: str | None) -> bool:
        """Whether ``token`` was made by :meth:`new_token` of this process."""
        if not token or token.count(".") != 1:
            return False
        nonce, signature = token.split(".")
        return hmac.compare_digest(signature, self._sign(nonce))

    def token_for(self, request: Request) -> tuple[str, bool]:
        """The token to put in the page's forms, and whether its cookie must be set.

        Args:
            request: the request being answered.

        Returns:
            The browser's cookie token when it is valid (and False), else a new token
            (and True: send it as the cookie).
        """
        cookie = request.cookies.get(CSRF_COOKIE)
        if cookie and self.signed(cookie):
            return cookie, False
        return self.new_token(), True

    def accepts(self, request: Request, form: Mapping[str, Sequence[str]]) -> bool:
        """Whether the form's token matches the cookie and is signed by this process."""
        field = (form.get(CSRF_FIELD) or [""])[0]
        cookie = request.cookies.get(CSRF_COOKIE, "")
        return bool(field) and hmac.compare_digest(field, cookie) and self.signed(field)


class AccessToken:
    """The token actions need when the dashboard is reachable from other machines.

    Args:
        token: the token; None means actions need none (loopback only).
    """

    def __init__(self, token: str | None) -> None:
        self.token = token

    @property
    def required(self) -> bool:
        """Whether actions need the token."""
        return self.token is not None

    def matches(self, text: str | None) -> bool:
        """Whether ``text`` is the token (constant-time)."""
        return self.token is not None and bool(text) and hmac.compare_digest(text or "", self.token)

    def cookie_ok(self, request: Request) -> bool:
        """Whether the request carries the token in its cookie (or none is needed)."""
        return not self.required or self.matches(request.cookies.get(TOKEN_COOKIE))

    def granted(self, request: Request, form: Mapping[str, Sequence[str]]) -> bool:
        """Whether an action may run: the token is in the form or the cookie."""
        if not self.required:
            return True
        return self.cookie_ok(request) or self.matches((form.get(TOKEN_FIELD) or [""])[0])

    def remember(self, response: Response) -> None:
        """Set the token cookie on ``response``, so later actions need not repeat it."""
        if self.token is not None:
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")


def same_origin(request: Request) -> bool:
    """Whether a POST comes from a page of this server (``Origin``, else ``Referer``).

    Args:
        request: the request.

    Returns:
        True when the header's scheme, host and port are this request's.
    """
    host = request.headers.get("host", "").lower()
    expected = (request.url.scheme, host)
    origin = request.headers.get("origin")
    if origin is None:
        origin = request.headers.get("referer")
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    return (parts.scheme, parts.netloc.lower()) == expected


def refusal(
    request: Request, form: Mapping[str, Sequence[str]], csrf: Csrf, access: AccessToken
) -> str | None:
    """Why an action request must be refused, or None when it may run.

    Args:
        request: the POST request.
        form: its parsed form fields.
        csrf: the CSRF token maker.
        access: the access token.

    Returns:
        A sentence for the person who submitted the form, or None.
    """
    if not same_origin(request):
        return (
            "The request did not come from a page of this dashboard (its Origin or "
            "Referer header names another site, or is missing)."
        )
    if not csrf.accepts(request, form):
        return (
            "The form's security token is missing or out of date (the dashboard may have "
            "restarted); go back, reload the page and try again."
        )
    if not access.granted(request, form):
        return (
            "This dashboard needs its access token for actions: enter the token printed "
            "when `lockgate ui` started."
        )
    return None


def _host_name(value: str) -> str:
    """The host of a ``Host`` header, without the port (``[::1]:8080`` -> ``::1``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Guard:
    """ASGI middleware: a Host check (when given host names) and security headers.

    Args:
        app: the application.
        allowed_hosts: host names to answer to (e.g. :data:`LOOPBACK_HOSTS` for a
            loopback-bound server); None answers to any.
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Sequence[str] | None = None) -> None:
        self.app = app
        self.allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.allowed is not None:
            headers = dict(scope.get("headers") or [])
            host = _host_name(headers.get(b"host", b"").decode("latin-1"))
            if host not in self.allowed:
                response = Response(
                    "This dashboard only answers to loopback host names.",
                    status_code=400,
                    media_type="text/plain",
                )
                await response(scope, receive, send)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
