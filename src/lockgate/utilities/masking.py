"""Hiding secrets in what lockgate shows: store URLs and secret-looking parameters.

The CLI and the dashboard both print store URLs and run parameters; both mask them
through this module, so the rule lives in one place:

- a store URL keeps its scheme, user, host and database, and loses its password,
  whether given as ``user:password@`` or as a ``?password=`` query value;
- a parameter whose name looks secret (it contains ``password``, ``passwd``,
  ``token``, ``secret``, ``key`` or ``credential``, in any case) has its value shown
  as ``***`` unless the user asks to reveal it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

__all__ = ["MASK", "is_secret_name", "mask_parameters", "mask_url"]

MASK = "***"
"""What a hidden value is shown as."""

_SECRET_NAME = re.compile(r"pass(word|wd)?|token|secret|key|credential", re.IGNORECASE)
_SECRET_QUERY_KEYS = {"password", "passwd", "pass", "pwd", "token", "secret", "api_key", "key"}


def is_secret_name(name: str) -> bool:
    """Whether a parameter (or query) name looks like it holds a secret.

    Args:
        name: the name, as the user wrote it.

    Returns:
        True for names such as ``password``, ``db_pass``, ``API_TOKEN``,
        ``client_secret``, ``aws_key``.
    """
    return bool(_SECRET_NAME.search(name))


def mask_url(url: str) -> str:
    """``url`` with its password hidden, for printing.

    ``postgresql://ann:hunter2@db/runs?sslmode=require&password=x`` becomes
    ``postgresql://ann:***@db/runs?sslmode=require&password=***``. A URL with nothing
    secret (e.g. ``sqlite:////home/ann/.lockgate/store.db``) comes back unchanged, and
    so does anything that is not a URL.

    Args:
        url: a store URL (any SQLAlchemy URL) or a path.

    Returns:
        The URL to show.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostinfo = netloc.rpartition("@")
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{MASK}@{hostinfo}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in _SECRET_QUERY_KEYS or is_secret_name(k) for k, _ in pairs):
            query = "&".join(
                f"{quote(k, safe='')}="
                + (
                    MASK
                    if k.lower() in _SECRET_QUERY_KEYS or is_secret_name(k)
                    else quote(v, safe="")
                )
                for k, v in pairs
            )
    # Replace the parts in the text as given: urlunsplit would turn sqlite:////abs
    # (an empty host) into sqlite://abs.
    out = url
    if netloc != parts.netloc:
        out = out.replace(parts.netloc, netloc, 1)
    if query != parts.query:
        out = out.replace(f"?{parts.query}", f"?{query}", 1)
    return out


def mask_parameters(parameters: Mapping[str, Any], reveal: bool = False) -> dict[str, Any]:
    """The parameters to show: secret-looking names get :data:`MASK` as their value.

    Args:
        parameters: a run's parameters, by name.
        reveal: show every value as it is (the user asked, e.g. ``--show-secrets``).

    Returns:
        A new dict in the same order.
    """
    if reveal:
        return dict(parameters)
    return {k: (MASK if is_secret_name(k) else v) for k, v in parameters.items()}
