"""The ``lockgate`` command: run flows and operate recorded runs from a terminal.

``lockgate --help`` lists the commands; each has a Python twin in :mod:`lockgate.runs`.
This package only defines :func:`main`; the commands live in :mod:`lockgate.cli.app`,
which imports typer, and the heavy parts (the store, rich tables, executors) are
imported by each command when it runs, so ``lockgate --help`` stays fast.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Run the ``lockgate`` command line (the console-script entry point)."""
    from lockgate.cli import maintenance  # noqa: F401  (registers `lockgate gc`)
    from lockgate.cli.app import app

    app()
