"""Database tasks: queries and scripts against SQLite files."""

from lockgate.tasks.database.sqlite import SQLiteQuery, SQLiteScript

__all__ = ["SQLiteQuery", "SQLiteScript"]
