"""Bad input to `lockgate run` / `visualize`: one-line errors, exit code 2, no store written.

Also loading flow files (``FILE[:FLOW]``) and parsing ``--param NAME=VALUE``, through
the CLI and through their Python twins in :mod:`lockgate.runs`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from lockgate import runs

ErrorLine = Callable[[Result], str]


# -- loading flow files (the Python twin) ---------------------------------------------------
def test_load_flow_finds_the_only_flow_and_records_its_source(flows_dir: Path) -> None:
    flow, source = runs.load_flow(str(flows_dir / "approval.py"))
    assert flow.name == "approval"
    assert source == f"{flows_dir / 'approval.py'}:approval"
    assert {t.name for t in flow.tasks} == {"n", "extract", "total", "publish"}


def test_load_flow_does_not_run_the_main_block(flows_dir: Path) -> None:
    # approval.py raises SystemExit under `if __name__ == "__main__":`.
    loaded = runs.load_flow_file(str(flows_dir / "approval.py"))
    assert loaded.selector == "approval"


def test_load_flow_picks_a_flow_by_name_or_variable(flows_dir: Path) -> None:
    two = flows_dir / "two.py"
    assert runs.load_flow(f"{two}:second")[0].name == "second"
    assert runs.load_flow(f"{two}:first")[0].name == "first"
    assert runs.load_flow(f"{two}:second")[1] == f"{two}:second"


def test_load_flow_relative_path_is_recorded_absolute(
    flows_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(flows_dir)
    _, source = runs.load_flow("two.py:first")
    assert source == f"{flows_dir / 'two.py'}:first"


def test_two_flows_with_one_name_are_told_apart_by_variable(tmp_path: Path) -> None:
    path = tmp_path / "same.py"
    path.write_text(
        "from lockgate import Flow, task\n"
        "@task\ndef one():\n    return 1\n"
        "with Flow('same') as a:\n    one()\n"
        "with Flow('same') as b:\n    one()\n"
    )
    with pytest.raises(runs.RunsError, match=r"several flows \('a', 'b'\)"):
        runs.load_flow(str(path))
    with pytest.raises(runs.RunsError, match="several flows named 'same'"):
        runs.load_flow(f"{path}:same")
    flow, source = runs.load_flow(f"{path}:b")
    assert source == f"{path}:b"
    assert flow.name == "same"


def test_flow_names_may_contain_colons(tmp_path: Path) -> None:
    path = tmp_path / "versions.py"
    path.write_text(
        "from lockgate import Flow, task\n"
        "@task\ndef one():\n    return 1\n"
        "with Flow('etl:v1') as old:\n    one()\n"
        "with Flow('etl:v2') as new:\n    one()\n"
    )
    flow, source = runs.load_flow(f"{path}:etl:v2")
    assert flow.name == "etl:v2"
    assert source == f"{path}:etl:v2"
    assert runs.load_flow(source)[0].name == "etl:v2"
    with pytest.raises(runs.RunsError, match=r"/missing\.py' does not exist"):
        runs.load_flow(str(tmp_path / "missing.py:etl:v2"))


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("missing.py", r"Flow file '.*missing\.py' does not exist; pass the path"),
        ("noflow.py", r"defines no Flow at module level; build one there"),
        ("two.py", r"defines several flows \('first', 'second'\); pick one with 'two\.py:NAME'"),
        ("two.py:third", r"has no flow named 'third'; its flows are: 'first', 'second'"),
        ("broken.py", r"Loading '.*broken\.py' failed at line 4: RuntimeError: cannot build"),
        ("", r"No flow file given"),
    ],
)
def test_load_flow_errors(flows_dir: Path, target: str, message: str) -> None:
    with pytest.raises(runs.RunsError, match=message):
        runs.load_flow(str(flows_dir / target) if target else "")


def test_a_directory_is_not_a_flow_file(flows_dir: Path) -> None:
    with pytest.raises(runs.RunsError, match="is a directory"):
        runs.load_flow(str(flows_dir))


def test_load_flow_puts_the_file_directory_on_sys_path(
    flows_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))
    before = list(sys.path)
    broken_dir = tmp_path / "broken"
    broken_dir.mkdir()
    (broken_dir / "bad.py").write_text("raise ValueError('no')\n")
    with pytest.raises(runs.RunsError):
        runs.load_flow(str(broken_dir / "bad.py"))
    assert sys.path == before, "a file that fails to load leaves sys.path alone"
    runs.load_flow(str(flows_dir / "approval.py"))
    assert sys.path == [str(flows_dir), *before]
    runs.load_flow(str(flows_dir / "flaky.py"))
    assert sys.path == [str(flows_dir), *before], "added once"


def test_a_flow_importing_a_sibling_module_runs_on_worker_processes(
    tmp_path: Path, cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))
    directory = tmp_path / "sibling"
    directory.mkdir()
    (directory / "lg_sibling_helpers.py").write_text("def double(x):\n    return 2 * x\n")
    (directory / "sib.py").write_text(
        "from lockgate import Flow, task\n"
        "import lg_sibling_helpers\n"
        "@task\ndef items():\n    return [1, 2, 3]\n"
        "@task\ndef work(x):\n    return lg_sibling_helpers.double(x)\n"
        "with Flow('sib') as flow:\n    work.map(items())\n"
    )
    result = cli("run", str(directory / "sib.py"), "--executor", "processes:2")
    assert result.exit_code == 0, result.output
    assert "3 Success" in result.stdout


# -- parameters ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n=8", ("n", 8)),
        ("ratio=0.5", ("ratio", 0.5)),
        ("flag=true", ("flag", True)),
        ("items=[1, 2]", ("items", [1, 2])),
        ('conf={"a": 1}', ("conf", {"a": 1})),
        ('quoted="8"', ("quoted", "8")),
        ("region=eu-west", ("region", "eu-west")),
        ("empty=", ("empty", "")),
        ("eq=a=b", ("eq", "a=b")),
        (" spaced =null", ("spaced", None)),
    ],
)
def test_parse_parameter(text: str, expected: tuple[str, object]) -> None:
    assert runs.parse_parameter(text) == expected


@pytest.mark.parametrize("text", ["n", "=5", "  =x"])
def test_parse_parameter_needs_name_and_equals(text: str) -> None:
    with pytest.raises(runs.RunsError, match=r"is not NAME=VALUE; write it like --param"):
        runs.parse_parameter(text)


def test_check_parameters(flows_dir: Path) -> None:
    flow, _ = runs.load_flow(str(flows_dir / "approval.py"))
    assert runs.check_parameters(flow, {"n": 2}) == {"n": 2}
    assert runs.check_parameters(flow, None) == {}
    with pytest.raises(runs.RunsError, match=r"no parameter 'm'; its parameters are: n\."):
        runs.check_parameters(flow, {"m": 1})


def test_required_parameter_missing(tmp_path: Path) -> None:
    path = tmp_path / "req.py"
    path.write_text(
        "from lockgate import Flow, Parameter, task\n"
        "@task\ndef show(x):\n    return x\n"
        "with Flow('req') as flow:\n    show(Parameter('who'))\n"
    )
    flow, _ = runs.load_flow(str(path))
    with pytest.raises(runs.RunsError, match=r"needs a value for parameter 'who'; pass --param"):
        runs.check_parameters(flow, {})


# -- the CLI: one line, exit code 2, nothing written ----------------------------------------
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "{dir}/missing.py"], "missing.py' does not exist"),
        (["run", "{dir}/noflow.py"], "defines no Flow at module level"),
        (["run", "{dir}/two.py"], "defines several flows ('first', 'second')"),
        (["run", "{dir}/two.py:nope"], "has no flow named 'nope'"),
        (["run", "{dir}/broken.py"], "RuntimeError: cannot build the flow today"),
        (["run", "{dir}/approval.py", "--param", "n"], "Parameter 'n' is not NAME=VALUE"),
        (
            ["run", "{dir}/approval.py", "-p", "size=3"],
            "Flow 'approval' has no parameter 'size'; its parameters are: n.",
        ),
        (["run", "{dir}/approval.py", "--executor", "warp:9"], "Executor 'warp:9' cannot be used"),
        (
            ["run", "{dir}/approval.py", "--executor", "threads", "--address", "tcp://h:1"],
            "--address tcp://h:1 is for the Dask executor",
        ),
        (["visualize", "{dir}/missing.py", "-o", "{dir}/x.svg"], "does not exist"),
        (["visualize", "{dir}/approval.py", "-o", "{dir}/x.jpeg"], "end it with one of"),
        (["visualize", "{dir}/approval.py", "-o", "{dir}/nodir/x.dot"], "does not exist"),
    ],
)
def test_bad_input_is_one_line_and_touches_no_store(
    cli: Callable[..., Result],
    error_line: ErrorLine,
    flows_dir: Path,
    home: Path,
    args: list[str],
    fragment: str,
) -> None:
    result = cli(*[a.replace("{dir}", str(flows_dir)) for a in args])
    line = error_line(result)
    assert fragment.replace("{dir}", str(flows_dir)) in line
    assert not home.exists(), "a failed command must not create or change the store"
    assert not (flows_dir / "runs.log").exists(), "no task may run"


def test_help_lists_every_command(cli: Callable[..., Result]) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("run", "runs", "show", "logs", "resume", "restart", "visualize", "flows"):
        assert f"  {command} " in result.stdout


def test_no_arguments_prints_help(cli: Callable[..., Result]) -> None:
    result = cli()
    assert "Usage: lockgate" in result.output
    assert "resume" in result.output


def test_run_help_documents_param_and_executor(cli: Callable[..., Result]) -> None:
    result = cli("run", "--help")
    assert result.exit_code == 0
    for option in ("--param", "NAME=VALUE", "--executor", "--address", "--store"):
        assert option in result.stdout


def test_reading_commands_never_create_a_store(
    cli: Callable[..., Result], error_line: ErrorLine, home: Path, tmp_path: Path
) -> None:
    listed = cli("runs")
    assert listed.exit_code == 0
    assert listed.stdout.strip() == (
        f"No runs recorded yet in sqlite:///{home / 'store.db'}; start one with `lockgate run FILE`."
    )
    assert cli("flows").stdout.strip().startswith("No flows recorded yet")
    for command in ("show", "logs", "resume", "restart"):
        line = error_line(cli(command, "abcd1234"))
        assert f"No run 'abcd1234' in the store at sqlite:///{home / 'store.db'}" in line
    assert "Unknown run state 'exploded'" in error_line(cli("runs", "--state", "exploded"))
    typo = tmp_path / "typo.db"
    assert "No runs recorded yet" in cli("runs", "--store", f"sqlite:///{typo}").stdout
    assert not home.exists()
    assert not typo.exists()


def test_limit_must_be_positive(cli: Callable[..., Result], error_line: ErrorLine) -> None:
    line = error_line(cli("runs", "--limit", "0"))
    assert line == "Error: --limit must be 1 or more (got 0); e.g. `lockgate runs --limit 20`."
