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

:class:`Guard` is an ASGI middleware that refuses requests whose ``Host`` is not a
name the server was started for (DNS rebinding), asks for the access token before
serving any page when reads need it (a server bound off loopback), and adds security
headers.

Tokens are compared as UTF-8 bytes: a cookie or form value with non-ASCII characters
(which another web app on the same host name can plant) is simply a wrong token.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
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
    "equal",
    "is_ip_literal",
    "refusal",
    "same_origin",
]

CSRF_COOKIE = "lockgate_csrf"
CSRF_FIELD = "csrf_token"
TOKEN_COOKIE = "lockgate_token"
TOKEN_FIELD = "token"
_COOKIE_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/=:@!")
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


def equal(given: str | None, expected: str) -> bool:
    """Whether two secrets are equal, in constant time, whatever characters they hold.

    ``hmac.compare_digest`` refuses ``str`` with non-ASCII characters (a TypeError, so
    an HTTP 500), so both sides are compared as UTF-8 bytes.

    Args:
        given: what the request carried (None or empty never matches).
        expected: the secret.

    Returns:
        True when they are the same text.
    """
    if not given:
        return False
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


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
        return equal(signature, self._sign(nonce))

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
        return equal(field, cookie) and self.signed(field)


class AccessToken:
    """The token actions need when the dashboard is reachable from other machines.

    Args:
        token: the token; None means actions need none (loopback only).
        for_reads: every page needs the token too, not only actions (a dashboard
            reachable from other machines: runs' parameters, inputs and logs are data).

    Raises:
        ValueError: ``token`` is empty or blank (no request could ever carry it), or
            ``for_reads`` without a token.
    """

    def __init__(self, token: str | None, for_reads: bool = False) -> None:
        if token is not None and not token.strip():
            raise ValueError("The access token must not be empty.")
        if token is not None and not _COOKIE_SAFE.issuperset(token):
            # It travels in a cookie and a URL: other characters would be mangled.
            raise ValueError(
                "The access token may only hold ASCII letters, digits and - _ . ~ + / = : @ !"
            )
        if for_reads and token is None:
            raise ValueError("Reads can only need the access token when there is one.")
        self.token = token
        self.for_reads = for_reads

    @property
    def required(self) -> bool:
        """Whether actions need the token."""
        return self.token is not None

    def matches(self, text: str | None) -> bool:
        """Whether ``text`` is the token (constant-time)."""
        return self.token is not None and equal(text, self.token)

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


def is_ip_literal(host: str) -> bool:
    """Whether ``host`` (from a ``Host`` header, without port) is an IP address.

    Args:
        host: a host name or an address (``192.0.2.7``, ``fe80::1%eth0``).

    Returns:
        True for IPv4 and IPv6 addresses, False for names.
    """
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


Refuse = Callable[[Scope, Receive, Send], Awaitable[None]]
"""Sends the page that asks for the access token (the app renders it)."""

_OPEN_PATHS = ("/static/", "/healthz")
"""What a dashboard whose reads need the token still serves without it (no run data)."""


class Guard:
    """ASGI middleware: a Host check, the access token for reads, and security headers.

    DNS rebinding: a web page the user visits can point its own name at this machine
    and then read the dashboard as if it were its own site, with its own name in the
    ``Host`` header (and in ``Origin``, so the CSRF check's origin test passes too).
    Answering only the names the server was started for stops that. An IP address in
    ``Host`` cannot be such a page (the attacker's page would be on the attacker's
    name), so ``any_address`` accepts every IP literal for a server listening on all
    addresses, whose own addresses are not all known.

    Args:
        app: the application.
        allowed_hosts: host names to answer to (e.g. :data:`LOOPBACK_HOSTS` for a
            loopback-bound server); None answers to any.
        any_address: also answer to any IP address in ``Host``.
        access: when its ``for_reads`` is set, every page but the static files and
            ``/healthz`` needs the token's cookie (or ``/?token=`` to set it).
        locked: sends the page that asks for the token (required with ``access``).
    """

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Sequence[str] | None = None,
        *,
        any_address: bool = False,
        access: AccessToken | None = None,
        locked: Refuse | None = None,
    ) -> None:
        self.app = app
        self.allowed = None if allowed_hosts is None else {h.lower() for h in allowed_hosts}
        self.any_address = any_address
        self.access = access if access is not None and access.for_reads else None
        self.locked = locked

    def host_allowed(self, header: str) -> bool:
        """Whether a request with this ``Host`` header may be answered.

        Args:
            header: the ``Host`` header (with or without a port).

        Returns:
            True for the names the server answers to (and IP literals with
            ``any_address``).
        """
        if self.allowed is None:
            return True
        host = _host_name(header)
        return host in self.allowed or (self.any_address and is_ip_literal(host))

    def _needs_token(self, scope: Scope) -> bool:
        if self.access is None:
            return False
        path: str = scope.get("path", "")
        if path.startswith(_OPEN_PATHS):
            return False
        request = Request(scope)
        if path == "/" and TOKEN_FIELD in request.query_params:
            return False  # the page that checks a token and sets its cookie
        return not self.access.cookie_ok(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *_HEADERS]
            await send(message)

        headers = dict(scope.get("headers") or [])
        if not self.host_allowed(headers.get(b"host", b"").decode("latin-1")):
            response = Response(
                "This dashboard does not answer to this host name (the Host header). "
                "Use the address `lockgate ui` printed, or start it with "
                "--allowed-host NAME for a name it should answer to.",
                status_code=400,
                media_type="text/plain",
            )
            await response(scope, receive, send_with_headers)
            return
        if self._needs_token(scope):
            if self.locked is None:
                response = Response(
                    "This dashboard needs its access token.", 401, media_type="text/plain"
                )
                await response(scope, receive, send_with_headers)
            else:
                await self.locked(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)
