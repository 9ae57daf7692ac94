"""Opening the store: creation at the head revision, migrations, refusals that change nothing."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from lockgate.store import (
    RunStore,
    SchemaTooNewError,
    StoreError,
    default_home,
    default_url,
    schema,
)
from lockgate.store.run_store import migrations_dir


def _version(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")]
    finally:
        engine.dispose()


def test_shipped_migrations_end_at_the_head_the_code_expects() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(migrations_dir()))
    assert script.get_heads() == [schema.HEAD_REVISION]
    revisions = [r.revision for r in script.walk_revisions()]
    assert sorted(revisions) == sorted(schema.KNOWN_REVISIONS)


def test_a_fresh_store_is_created_at_head(store_url: str, home: Path, backend: str) -> None:
    with RunStore.open(store_url, home=home) as store:
        names = set(sa.inspect(store.engine).get_table_names())
        assert {"flows", "flow_runs", "task_runs", "logs", "alembic_version"} <= names
        assert store.results_dir == home / "results"
        if backend.startswith("sqlite"):
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    assert _version(store_url) == [schema.HEAD_REVISION]
    # Opening again (already at head) works and changes nothing.
    RunStore.open(store_url, home=home).close()
    assert _version(store_url) == [schema.HEAD_REVISION]


def test_the_migrated_schema_matches_the_tables_in_code(store_url: str, home: Path) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with RunStore.open(store_url, home=home) as store, store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, schema.metadata)
    assert diffs == []


def _snapshot(url: str) -> object:
    """What the store holds: the SQLite file's bytes, or PostgreSQL's tables and versions."""
    if url.startswith("sqlite"):
        return hashlib.sha256(Path(sa.make_url(url).database or "").read_bytes()).hexdigest()
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sorted(sa.inspect(conn).get_table_names())
            versions = [
                r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")
            ]
            runs = conn.exec_driver_sql("SELECT count(*) FROM flow_runs").scalar()
        return tables, versions, runs
    finally:
        engine.dispose()


def test_a_store_of_a_newer_schema_is_refused_and_left_unchanged(
    store_url: str, home: Path
) -> None:
    RunStore.open(store_url, home=home).close()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    before = _snapshot(store_url)

    with pytest.raises(SchemaTooNewError) as info:
        RunStore.open(store_url, home=home)

    message = str(info.value)
    assert "9999" in message and schema.HEAD_REVISION in message
    assert "upgrade lockgate" in message and "\n" not in message
    assert _snapshot(store_url) == before


def test_a_database_with_foreign_tables_of_our_names_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE flows (x INTEGER)")
    engine.dispose()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a lockgate store"):
        RunStore.open(f"sqlite:///{path}", home=tmp_path)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "is not a SQLAlchemy URL"),
        ("mysql://user@localhost/db", "supports SQLite"),
        ("postgresql+psycopg://nobody:secret@127.0.0.1:1/none", "Cannot connect to the run store"),
    ],
)
def test_bad_urls_give_one_line_errors(url: str, expected: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        RunStore.open(url, home=tmp_path)
    message = str(info.value)
    assert expected in message
    assert "\n" not in message
    assert "secret" not in message  # passwords are never shown


def test_default_home_and_url_follow_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LOCKGATE_STORE_URL", raising=False)
    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / "lg"))
    assert default_home() == tmp_path / "lg"
    assert default_url() == f"sqlite:///{tmp_path / 'lg' / 'store.db'}"
    monkeypatch.setenv("LOCKGATE_STORE_URL", "postgresql+psycopg://me@db/lockgate")
    assert default_url() == "postgresql+psycopg://me@db/lockgate"
    monkeypatch.delenv("LOCKGATE_HOME")
    assert default_home() == Path.home() / ".lockgate"


def test_open_with_no_arguments_uses_lockgate_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LOCKGATE_STORE_URL", raising=False)
    monkeypatch.setenv("LOCKGATE_HOME", str(tmp_path / "lg"))
    with RunStore.open() as store:
        assert store.home == tmp_path / "lg"
    assert (tmp_path / "lg" / "store.db").exists()


def test_importing_lockgate_and_the_store_records_does_not_import_sqlalchemy() -> None:
    code = (
        "import sys, lockgate, lockgate.store\n"
        "from lockgate.store import FlowRunRecord, StoreError, default_url, graph_hash\n"
        "assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'\n"
        "assert 'alembic' not in sys.modules, 'alembic imported'\n"
        "from lockgate.store import RunStore\n"
        "assert 'sqlalchemy' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_store_at_the_first_revision_is_upgraded_keeping_its_runs(
    store_url: str, home: Path
) -> None:
    from alembic import command
    from alembic.config import Config

    from lockgate import Flow, task

    @task
    def one() -> int:
        return 1

    with Flow("old-store") as flow:
        one()

    # A store as lockgate wrote it at revision 0001, holding one recorded run.
    with RunStore.open(store_url, home=home) as store:
        flow.run(store=store)
        [run] = store.list_runs()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(migrations_dir()))
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    engine.dispose()
    assert _version(store_url) == ["0001"]

    with RunStore.open(store_url, home=home) as store:
        assert _version(store_url) == [schema.HEAD_REVISION]
        [again] = store.list_runs()
        assert (again.id, again.state) == (run.id, "Success")
        assert store.cancel_requested(run.id) is None
