"""SQLiteQuery and SQLiteScript on a real SQLite file."""

from __future__ import annotations

import sqlite3

import pytest

from lockgate import Flow, Parameter
from lockgate.engine.executors import ThreadExecutor
from lockgate.tasks.database import SQLiteQuery, SQLiteScript

SCHEMA = """
CREATE TABLE city (name TEXT PRIMARY KEY, population INTEGER);
INSERT INTO city VALUES ('Lyon', 522000), ('Porto', 232000), ('Graz', 291000);
"""


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "cities.db")
    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA)
    connection.close()
    return path


def test_query_returns_rows_as_tuples(db):
    query = SQLiteQuery(db=db, query="SELECT name FROM city ORDER BY population DESC")
    flow = Flow("q", tasks=[query])
    state = flow.run()
    assert state.result[query].result == [("Lyon",), ("Graz",), ("Porto",)]


def test_query_given_at_call_time_wins(db):
    query = SQLiteQuery(db=db, query="SELECT 'init'")
    with Flow("q") as flow:
        rows = query(query="SELECT count(*) FROM city")
    assert flow.run().result[rows].result == [(3,)]


def test_script_changes_are_committed_and_seen_by_a_later_query(db):
    with Flow("etl") as flow:
        grow = SQLiteScript(db=db)(
            script="UPDATE city SET population = population + 1000; "
            "INSERT INTO city VALUES ('Turku', 195000);"
        )
        rows = SQLiteQuery(db=db)(
            query="SELECT name, population FROM city WHERE population < 300000 ORDER BY name",
            upstream_tasks=[grow],
        )
    state = flow.run()
    assert state.result[grow].result is None
    assert state.result[rows].result == [("Graz", 292000), ("Porto", 233000), ("Turku", 195000)]
    with sqlite3.connect(db) as connection:  # committed: visible to another connection
        assert connection.execute("SELECT count(*) FROM city").fetchone() == (4,)
    connection.close()


def test_insert_through_query_is_committed(db):
    SQLiteQuery(db=db).run(query="INSERT INTO city VALUES ('Oslo', 700000)")
    assert SQLiteQuery(db=db).run(query="SELECT name FROM city WHERE name = 'Oslo'") == [("Oslo",)]


def test_query_from_a_parameter(db):
    with Flow("q") as flow:
        rows = SQLiteQuery(db=db)(query=Parameter("sql"))
    state = flow.run(parameters={"sql": "SELECT max(population) FROM city"})
    assert state.result[rows].result == [(522000,)]


def test_unknown_table_fails_with_sqlites_message(db):
    query = SQLiteQuery(db=db, query="SELECT * FROM town")
    state = Flow("q", tasks=[query]).run()
    assert state.is_failed()
    assert isinstance(state.result[query].result, sqlite3.OperationalError)
    assert "no such table: town" in str(state.result[query].result)


def test_query_refuses_two_statements_and_changes_nothing(db):
    query = SQLiteQuery(db=db, query="DELETE FROM city; SELECT * FROM city")
    state = Flow("q", tasks=[query]).run()
    assert state.is_failed()
    assert "one statement at a time" in str(state.result[query].result)
    assert SQLiteQuery(db=db).run(query="SELECT count(*) FROM city") == [(3,)]


def test_script_syntax_error_fails(db):
    script = SQLiteScript(db=db, script="CREATE TABEL x (a);")
    state = Flow("s", tasks=[script]).run()
    assert state.is_failed()
    assert "syntax error" in str(state.result[script].result)


def test_missing_sql_and_missing_db_are_clear_errors(db):
    with pytest.raises(TypeError, match="no SQL to run; give it with SQLiteQuery"):
        SQLiteQuery(db=db).run()
    with pytest.raises(TypeError, match="no SQL to run; give it with SQLiteScript"):
        SQLiteScript(db=db).run()
    with pytest.raises(TypeError):
        SQLiteQuery()  # type: ignore[call-arg]


def test_parallel_queries_on_threads_share_the_file(db):
    with Flow("fan-out") as flow:
        counts = [
            SQLiteQuery(db=db)(query=f"SELECT count(*) FROM city WHERE population > {n}")
            for n in (0, 250000, 500000)
        ]
    state = flow.run(executor=ThreadExecutor(3))
    assert [state.result[c].result for c in counts] == [[(3,)], [(2,)], [(1,)]]
