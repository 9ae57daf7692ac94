"""Where the store lives: ``LOCKGATE_HOME`` and ``LOCKGATE_STORE_URL``, else the settings
``home_dir`` and ``store.url``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_home", "default_url", "sqlite_url"]


def default_home() -> Path:
    """The lockgate home directory: ``$LOCKGATE_HOME``, else the setting ``home_dir``
    (``~/.lockgate`` unless you change it).

    Returns:
        The directory (not created here).
    """
    value = os.environ.get("LOCKGATE_HOME")
    if not value:
        from lockgate.configuration import config

        value = config.get_nested("home_dir")
    return Path(str(value)).expanduser() if value else Path.home() / ".lockgate"


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of a SQLite database file at ``path``.

    Args:
        path: the database file.

    Returns:
        ``sqlite:///<absolute path>``.
    """
    return f"sqlite:///{path.expanduser().absolute()}"


def default_url(home: Path | None = None) -> str:
    """The store URL: ``$LOCKGATE_STORE_URL``, else the setting ``store.url``, else SQLite
    at ``<home>/store.db``.

    Args:
        home: the home directory (default :func:`default_home`).

    Returns:
        A SQLAlchemy URL such as ``sqlite:////home/me/.lockgate/store.db`` or
        ``postgresql+psycopg://me@db.example.com/lockgate``.
    """
    value = os.environ.get("LOCKGATE_STORE_URL")
    if not value:
        from lockgate.configuration import config

        value = config.get_nested("store.url")
    if value:
        return str(value)
    return sqlite_url((home if home is not None else default_home()) / "store.db")
