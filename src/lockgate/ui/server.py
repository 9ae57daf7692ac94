"""``lockgate ui``: serve the dashboard with uvicorn on a socket bound here.

The socket is bound (and listening) before the address is printed, so the printed
URL answers at once, and ``--port 0`` prints the port the system chose.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import Callable, Sequence

from lockgate.runs import RunsError
from lockgate.ui.app import create_app
from lockgate.ui.security import LOOPBACK_HOSTS

__all__ = ["bind", "host_names", "is_loopback", "serve"]

_ANY_ADDRESS = ("0.0.0.0", "::", "")


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is a loopback address.

    Args:
        host: a host name or an IP address.

    Returns:
        True for ``127.0.0.1``, ``::1``, ``localhost``...; False for ``0.0.0.0``,
        other addresses, and names that do not resolve.
    """
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(a).split("%", 1)[0]).is_loopback for a in addresses
    )


def host_names(host: str, extra: Sequence[str] = ()) -> tuple[list[str], bool]:
    """The ``Host`` names a dashboard listening on ``host`` answers to.

    Against DNS rebinding, every bind checks the ``Host`` header (see
    :class:`lockgate.ui.security.Guard`): the address it was started with, the
    loopback names when that is loopback, and the machine's names when it listens on
    every address (``0.0.0.0``, ``::``), plus the names given with ``--allowed-host``.

    Args:
        host: the address given to ``--host``.
        extra: more names to answer to (``--allowed-host``; a ``:port`` is ignored).

    Returns:
        The names, and whether any IP address in ``Host`` is answered too (for a
        server on every address, whose addresses are not all known here).
    """
    from lockgate.ui.security import _host_name

    given = host.strip().strip("[]").lower()
    names = [_host_name(name) for name in extra if name.strip()]
    any_address = given in _ANY_ADDRESS
    if any_address:
        names += [socket.gethostname().lower(), socket.getfqdn().lower(), *LOOPBACK_HOSTS]
    else:
        names.append(given)
        if is_loopback(host):
            names += LOOPBACK_HOSTS
    return list(dict.fromkeys(names)), any_address


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening.

    Raises:
        RunsError: the address cannot be used (in use, not this machine's, ...).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise RunsError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise RunsError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port."
        ) from None
    return sock


def _url(host: str, port: int) -> str:
    if host in _ANY_ADDRESS:
        host = socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def serve(
    store_url: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    echo: Callable[[str], None] = print,
    allowed_hosts: Sequence[str] = (),
) -> None:
    """Serve the dashboard until interrupted (Ctrl+C).

    It answers only the host names of the address it listens on (see
    :func:`host_names`) and ``allowed_hosts``. Bound to a loopback address, actions
    need no token (unless one is given). Bound to any other address, every page and
    action needs an access token: ``token``, or a random one; it is printed with the
    URL.

    Args:
        store_url: the run store's URL (default: the default store).
        host: the address to listen on.
        port: the port (0: any free port; the one chosen is printed).
        token: the access token.
        echo: where the startup lines go.
        allowed_hosts: more host names to answer to (e.g. a proxy's, or a DNS name
            of this machine).

    Raises:
        RunsError: the address cannot be listened on, or the token is empty or holds
            characters a cookie cannot carry.
        lockgate.store.StoreError: the store cannot be opened.
    """
    import uvicorn

    loopback = is_loopback(host)
    if not loopback and token is None:
        token = secrets.token_urlsafe(18)
    names, any_address = host_names(host, allowed_hosts)
    try:
        app = create_app(
            store_url,
            token=token,
            allowed_hosts=names,
            any_address=any_address,
            reads_need_token=not loopback,
        )
    except ValueError as exc:
        raise RunsError(f"--token: {exc}") from None
    board = app.state.dashboard
    board.store.get()  # a store that cannot be opened is an error now, not on each page
    sock = bind(host, port)
    url = _url(host, sock.getsockname()[1])
    echo(f"lockgate ui: {url} (run store {board.store.label}); Ctrl+C stops it.")
    if token is not None:
        echo(
            f"{'Pages and actions' if not loopback else 'Actions (resume, restart, cancel)'} "
            f"need the access token {token}: open {url}?token={token} once in your "
            "browser, or enter it when asked."
        )
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, timeout_graceful_shutdown=5, lifespan="on"
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
