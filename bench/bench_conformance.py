"""Prefect Core 0.5.1 conformance: its own test-suite, run against lockgate.

Prefect 0.5.1's tests are read from a checkout (never copied into this project) and run
with pytest through an import alias (``bench/conformance/prefect_alias.py``): ``prefect.X``
is served by ``lockgate.X``. The 44 files are those that need no Cloud, container or
third-party service. The script prints per-file and total pass counts, and checks the
targets: at least 95% of the engine files' tests and at least 90% of all files' tests
pass, every file imports, and every test that still fails is listed, with its reason, in
the table at the end of ``docs/coming-from-prefect.md``.

    # a checkout of PrefectHQ/prefect at tag 0.5.1 (only its tests/ folder is read):
    git clone https://github.com/PrefectHQ/prefect && git -C prefect checkout 0.5.1
    python bench/bench_conformance.py prefect             # table + targets
    python bench/bench_conformance.py prefect --failures  # also each failing test, why
    python bench/bench_conformance.py prefect --files tests/test_schedules.py
    python bench/bench_conformance.py prefect --json out.json

Counting: a test that passes counts as passed; failed or errored counts as failed; a test
Prefect's own suite skips or marks ``xfail`` counts in neither (the column ``skip``). A
file that cannot be imported counts every test in it as failed; its tests are then
counted from its source (test functions times their literal ``parametrize`` lists), so
that figure is an estimate and marked ``~``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

ENGINE_FILES = [
    "tests/test_triggers.py",
    "tests/engine/test_signals.py",
    "tests/engine/test_state.py",
    "tests/engine/test_task_runner.py",
    "tests/engine/test_flow_runner.py",
    "tests/engine/test_runner.py",
    "tests/engine/test_cache_validators.py",
    "tests/core/test_task.py",
    "tests/core/test_flow.py",
    "tests/core/test_edge.py",
    "tests/core/test_task_map.py",
    "tests/core/test_task_operators.py",
    "tests/tasks/test_core.py",
    "tests/tasks/test_control_flow.py",
    "tests/flows/test_parameter.py",
    "tests/utilities/test_tasks.py",
    "tests/test_context.py",
    "tests/engine/test_result.py",
    "tests/engine/executors/test_executors.py",
]
LIBRARY_FILES = [
    "tests/test_schedules.py",
    "tests/test_configuration.py",
    "tests/utilities/test_configuration.py",
    "tests/utilities/test_collections.py",
    "tests/utilities/test_debug.py",
    "tests/utilities/test_executors.py",
    "tests/utilities/test_logging.py",
    "tests/utilities/test_notifications.py",
    "tests/utilities/test_serialization.py",
    "tests/engine/test_defaults.py",
    "tests/engine/result_handlers/test_result_handlers.py",
    "tests/serialization/test_states.py",
    "tests/serialization/test_tasks.py",
    "tests/serialization/test_flows.py",
    "tests/serialization/test_edges.py",
    "tests/serialization/test_schedules.py",
    "tests/serialization/test_result.py",
    "tests/serialization/test_result_handlers.py",
    "tests/client/test_secrets.py",
    "tests/environments/test_local_environment.py",
    "tests/tasks/test_shell.py",
    "tests/tasks/test_sqlite.py",
    "tests/tasks/templates/test_strings.py",
    "tests/tasks/templates/test_jinja.py",
    "tests/tasks/notifications/test_email_task.py",
]
ENGINE_TARGET = 0.95
ALL_TARGET = 0.90

# Prefect's setup.cfg sets these for its own runs; the alias serves them under our names.
SUITE_ENV = {"LOCKGATE__USER_CONFIG_PATH": ""}


def tests_root(checkout: Path) -> Path:
    """The folder holding ``tests/``: the checkout itself, or its parent for ``tests/``."""
    checkout = checkout.resolve()
    if (checkout / "tests" / "test_triggers.py").is_file():
        return checkout
    if (checkout / "test_triggers.py").is_file() and checkout.name == "tests":
        return checkout.parent
    raise SystemExit(
        f"{checkout} holds no Prefect test-suite (looked for tests/test_triggers.py). "
        "Pass a checkout of PrefectHQ/prefect at tag 0.5.1, or the folder made by "
        "`git archive 0.5.1 tests | tar -x -C DIR`."
    )


def run_pytest(root: Path, files: list[str], workers: int, timeout: int) -> Path:
    """Run the files under the alias; return the JUnit XML report's path."""
    out_dir = Path(tempfile.mkdtemp(prefix="lockgate-conformance-"))
    report = out_dir / "report.xml"
    ini = out_dir / "pytest.ini"
    # Our own, nearly empty ini: the checkout's setup.cfg is Prefect's, not ours.
    ini.write_text("[pytest]\nxfail_strict = false\njunit_family = xunit1\n")
    args = [
        sys.executable,
        "-m",
        "pytest",
        *files,
        "-c",
        str(ini),
        "--rootdir",
        str(root),
        "--noconftest",
        "-p",
        "prefect_alias",
        "-p",
        "no:cacheprovider",
        "--continue-on-collection-errors",
        "-q",
        "--tb=line",
        "-rN",
        f"--junitxml={report}",
    ]
    if workers > 1:
        args += ["-n", str(workers)]
    if timeout:
        args += ["-o", f"faulthandler_timeout={timeout}"]
        try:
            import pytest_timeout  # noqa: F401

            args += [f"--timeout={timeout}"]
        except ImportError:
            pass
    env = dict(os.environ)
    env.update(SUITE_ENV)
    env["LOCKGATE_HOME"] = str(out_dir / "home")
    env["PYTHONPATH"] = os.pathsep.join(
        # The checkout's root too: Dask worker processes unpickle task code by reference
        # to the test modules (``tests.core.test_task_map``) and must import them.
        [str(HERE / "conformance"), str(root), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    subprocess.run(args, cwd=root, env=env, stdout=subprocess.DEVNULL, check=False)
    if not report.is_file():
        raise SystemExit("pytest wrote no report; run it by hand to see why.")
    return report


def estimate_tests(path: Path) -> int:
    """Count the tests in a file pytest could not import: functions x literal parametrize."""
    try:
        tree = ast.parse(path.read_text())
    except SyntaxError:
        return 1

    def cases(fn: ast.AST) -> int:
        n = 1
        for deco in getattr(fn, "decorator_list", []):
            if (
                isinstance(deco, ast.Call)
                and getattr(deco.func, "attr", "") == "parametrize"
                and len(deco.args) >= 2
                and isinstance(deco.args[1], (ast.List, ast.Tuple))
            ):
                n *= max(1, len(deco.args[1].elts))
        return n

    total = 0
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith(
            "test"
        ):
            total += cases(node)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            per_class = cases(node)
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    item.name.startswith("test")
                ):
                    total += cases(item) * per_class
    return max(total, 1)


def read_report(report: Path, root: Path, files: list[str]) -> dict[str, dict[str, Any]]:
    """Per file: passed, failed, skipped, whether it imported, and the failing tests."""
    stats: dict[str, dict[str, Any]] = {
        f: {"passed": 0, "failed": 0, "skipped": 0, "imported": True, "failures": []} for f in files
    }
    module_to_file = {f[:-3].replace("/", "."): f for f in files}
    for case in ET.parse(report).getroot().iter("testcase"):
        file = case.get("file") or ""
        if file not in stats:
            classname = case.get("classname", "")
            file = next(
                (
                    f
                    for m, f in module_to_file.items()
                    if classname == m or classname.startswith(m + ".")
                ),
                "",
            )
        if file not in stats:
            continue
        entry = stats[file]
        # "tests.core.test_flow.TestCache" -> "TestCache::name"; a module-level test -> "name"
        module = file[:-3].replace("/", ".")
        owner = case.get("classname", "")[len(module) + 1 :]
        name = f"{owner}::{case.get('name')}" if owner else str(case.get("name"))
        failure = case.find("failure")
        error = case.find("error")
        skipped = case.find("skipped")
        if (error is not None and case.get("name") in ("", None)) or (
            error is not None and "collection failure" in (error.get("message") or "")
        ):
            entry["imported"] = False
            entry["import_error"] = (error.get("message") or "").strip()
            continue
        if failure is not None or error is not None:
            node = failure if failure is not None else error
            assert node is not None
            entry["failed"] += 1
            entry["failures"].append((name, one_line(node.get("message") or node.text or "")))
        elif skipped is not None:
            entry["skipped"] += 1
        else:
            entry["passed"] += 1
    for f, entry in stats.items():
        if not entry["imported"] or entry["passed"] + entry["failed"] + entry["skipped"] == 0:
            entry["imported"] = False
            entry["passed"] = entry["skipped"] = 0
            entry["failed"] = estimate_tests(root / f)
            entry["failures"] = [("(whole file)", entry.get("import_error", "did not import"))]
    return stats


def one_line(text: str) -> str:
    line = " ".join(text.strip().splitlines()[:1])
    return line[:160]


def summarize(stats: dict[str, dict[str, Any]], files: list[str]) -> tuple[int, int]:
    passed = sum(stats[f]["passed"] for f in files)
    counted = sum(stats[f]["passed"] + stats[f]["failed"] for f in files)
    return passed, counted


def print_table(stats: dict[str, dict[str, Any]], show_failures: bool) -> bool:
    """Print the per-file table and the targets; return whether every target is met."""
    width = max(len(f) for f in stats)
    header = f"{'file':<{width}}  {'pass':>5}  {'fail':>5}  {'skip':>4}  {'rate':>6}"
    ok = True
    for title, group in (("engine", ENGINE_FILES), ("library", LIBRARY_FILES)):
        files = [f for f in group if f in stats]
        if not files:
            continue
        print(f"\n{title}\n{header}\n{'-' * len(header)}")
        for f in files:
            e = stats[f]
            counted = e["passed"] + e["failed"]
            rate = f"{e['passed'] / counted:6.1%}" if counted else "     -"
            mark = "" if e["imported"] else "  ~ did not import"
            print(
                f"{f:<{width}}  {e['passed']:>5}  {e['failed']:>5}  {e['skipped']:>4}  {rate}{mark}"
            )
        passed, counted = summarize(stats, files)
        print(f"{'total ' + title:<{width}}  {passed:>5}  {counted - passed:>5}")
    checks = []
    engine = [f for f in ENGINE_FILES if f in stats]
    if engine:
        passed, counted = summarize(stats, engine)
        checks.append(("engine files", passed, counted, ENGINE_TARGET))
    passed, counted = summarize(stats, list(stats))
    checks.append(("all files", passed, counted, ALL_TARGET))
    print("\ntargets")
    for label, p, c, target in checks:
        rate = p / c if c else 0.0
        verdict = "PASS" if rate >= target else "FAIL"
        ok &= rate >= target
        print(f"  {label:<13} {p:>5} / {c:<5} = {rate:6.1%}  (target >= {target:.0%})  {verdict}")
    unimported = [f for f in stats if not stats[f]["imported"]]
    ok &= not unimported
    print(f"  every file imports: {'PASS' if not unimported else 'FAIL: ' + ', '.join(unimported)}")
    if show_failures:
        print("\nfailing tests")
        for f, e in stats.items():
            for name, why in e["failures"]:
                print(f"  {f}::{name}\n      {why}")
    return ok


DOCS_TABLE = HERE.parent / "docs" / "coming-from-prefect.md"
_DOC_ROW = re.compile(r"^\|\s*`(tests/[^`]+\.py)::([^`]+)`\s*\|")


def documented_failures(path: Path = DOCS_TABLE) -> set[str]:
    """Test ids listed in the docs' table of Prefect tests lockgate fails on purpose.

    A row reads ``| `tests/x.py::Class::name` | reason |``; a name ending in ``[*]``
    stands for every parametrized case of that test.
    """
    if not path.is_file():
        return set()
    rows = (_DOC_ROW.match(line) for line in path.read_text().splitlines())
    return {f"{m.group(1)}::{m.group(2)}" for m in rows if m}


def is_documented(test_id: str, documented: set[str]) -> bool:
    if test_id in documented:
        return True
    base, bracket, _ = test_id.partition("[")
    return bool(bracket) and f"{base}[*]" in documented


def check_documented(stats: dict[str, dict[str, Any]]) -> bool:
    """Print failing tests the docs do not explain, and documented ones that now pass."""
    documented = documented_failures()
    failing = [
        f"{f}::{name}" for f, e in stats.items() for name, _ in e["failures"] if e["imported"]
    ]
    undocumented = [t for t in failing if not is_documented(t, documented)]
    ran = {f for f, e in stats.items() if e["imported"]}
    stale = sorted(
        t
        for t in documented
        if t.split("::", 1)[0] in ran
        and not any(t == f or (t.endswith("[*]") and f.startswith(t[:-3] + "[")) for f in failing)
    )
    print(
        f"  every failing test documented: "
        f"{'PASS' if not undocumented else f'FAIL: {len(undocumented)} not in {DOCS_TABLE.name}'}"
    )
    for t in undocumented:
        print(f"      undocumented: {t}")
    for t in stale:
        print(f"      documented but passing now (remove the row): {t}")
    return not undocumented


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="a checkout of PrefectHQ/prefect at 0.5.1")
    parser.add_argument("--files", nargs="+", help="only these files (paths under the checkout)")
    parser.add_argument("--failures", action="store_true", help="list every failing test")
    parser.add_argument("--json", type=Path, help="write the per-file results here")
    parser.add_argument("-n", "--workers", type=int, default=2, help="pytest-xdist workers")
    parser.add_argument("--timeout", type=int, default=60, help="seconds a test may take")
    args = parser.parse_args()
    root = tests_root(args.checkout)
    files = args.files or ENGINE_FILES + LIBRARY_FILES
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise SystemExit(f"Not in the checkout: {', '.join(missing)}")
    report = run_pytest(root, files, args.workers, args.timeout)
    stats = read_report(report, root, files)
    ok = print_table(stats, args.failures)
    ok &= check_documented(stats)
    if args.json:
        args.json.write_text(json.dumps(stats, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
