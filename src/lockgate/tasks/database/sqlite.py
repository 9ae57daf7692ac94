"""Tasks that run SQL against a SQLite database file.

Each run opens its own connection to ``db``, runs the SQL, commits and closes, so the tasks
can run on threads or worker processes and several tasks can share one database file::

    from lockgate import Flow
    from lockgate.tasks.database import SQLiteQuery, SQLiteScript

    with Flow("inventory") as flow:
        setup = SQLiteScript(db="shop.db", script="CREATE TABLE IF NOT EXISTS item (name TEXT);")
        names = SQLiteQuery(db="shop.db")(query="SELECT name FROM item", upstream_tasks=[setup])
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import Any

from lockgate.core.task import Task
from lockgate.utilities.tasks import defaults_from_attrs

__all__ = ["SQLiteQuery", "SQLiteScript"]


def _missing_sql(task: Task, argument: str) -> TypeError:
    cls = type(task).__name__
    return TypeError(
        f"{task.name}: no SQL to run; give it with {cls}(db=..., {argument}=...) or as "
        f"the {argument}= argument when calling the task."
    )


class SQLiteQuery(Task):
    """A task that runs one SQL statement and returns the rows it produced.

    Args:
        db: path of the SQLite database file (created if it does not exist).
        query: the statement to run; can also be given when the task is called, which
            wins. It must be a single statement: use :class:`SQLiteScript` for several.
        **kwargs: any other :class:`~lockgate.core.task.Task` argument.
    """

    def __init__(self, db: str, query: str | None = None, **kwargs: Any) -> None:
        self.db = db
        self.query = query
        super().__init__(**kwargs)

    @defaults_from_attrs("query")
    def run(self, query: str | None = None) -> list[tuple[Any, ...]]:
        """Run the statement, commit, and return its rows.

        Args:
            query: the statement to run (default: the one given at initialization).

        Returns:
            The rows as a list of tuples; an empty list for a statement that returns none
            (``INSERT``, ``CREATE TABLE``, ...).

        Raises:
            TypeError: if no query was given, neither here nor at initialization.
            sqlite3.Error: from SQLite, e.g. for an unknown table or for several statements
                ("You can only execute one statement at a time.").
        """
        if query is None:
            raise _missing_sql(self, "query")
        with closing(sqlite3.connect(self.db)) as connection:
            with closing(connection.cursor()) as cursor:
                cursor.execute(query)
                rows: list[tuple[Any, ...]] = cursor.fetchall()
            connection.commit()
        return rows


class SQLiteScript(Task):
    """A task that runs a script of one or more SQL statements.

    Args:
        db: path of the SQLite database file (created if it does not exist).
        script: the statements to run, separated by ``;``; can also be given when the task
            is called, which wins.
        **kwargs: any other :class:`~lockgate.core.task.Task` argument.
    """

    def __init__(self, db: str, script: str | None = None, **kwargs: Any) -> None:
        self.db = db
        self.script = script
        super().__init__(**kwargs)

    @defaults_from_attrs("script")
    def run(self, script: str | None = None) -> None:
        """Run every statement of the script and commit.

        Args:
            script: the statements to run (default: the one given at initialization).

        Raises:
            TypeError: if no script was given, neither here nor at initialization.
            sqlite3.Error: from SQLite, e.g. for an unknown table or a syntax error.
        """
        if script is None:
            raise _missing_sql(self, "script")
        with closing(sqlite3.connect(self.db)) as connection:
            with closing(connection.cursor()) as cursor:
                cursor.executescript(script)
            connection.commit()
