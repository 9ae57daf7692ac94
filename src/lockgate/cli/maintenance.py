"""``lockgate gc``: drop the kept results of old runs (registered by :func:`lockgate.cli.main`).

Kept apart from :mod:`lockgate.cli.app` (the everyday commands) as store housekeeping.
"""

from __future__ import annotations

from typing import Annotated

import typer

from lockgate.cli.app import StoreOption, _NoStore, _store, _user_errors, app

__all__ = ["gc"]


@app.command()
def gc(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            metavar="AGE",
            help="Drop the results of runs that ended more than AGE ago: 30d, 12h, 2w...",
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="Only say what would be removed.")
    ] = False,
    store: StoreOption = None,
) -> None:
    """Free disk space: drop the kept results of runs that ended long ago.

    Their result files go, and their stored results and inputs; the runs' states,
    transitions and logs stay (a restart of such a run runs every task again).
    """
    from lockgate import runs

    with _user_errors():
        age = runs.parse_age(older_than)
    try:
        with _store(store) as opened, _user_errors():
            report = runs.gc(age, dry_run=dry_run, store=opened)
    except _NoStore as missing:
        typer.echo(f"Nothing to collect: no store at {missing} yet.")
        return
    verb = "Would drop" if dry_run else "Dropped"
    mib = report.bytes_freed / 2**20
    typer.echo(
        f"{verb} the kept results of {len(report.runs)} run(s) that ended more than "
        f"{older_than} ago: {len(report.files)} file(s), {mib:.1f} MiB."
    )
