"""The package's layers, checked on the import graph itself.

The engine (``core``, ``engine``, ``serialization``, ``tasks``, ``utilities``) runs a
flow without the store, the CLI or the dashboard: importing any of its modules loads
none of them, nor their third-party libraries. The store is reached only through the
seam ``Flow.run(store=...)`` calls (see docs/architecture.md, "Seams"). The CLI and
the dashboard share display helpers from a rich-free module, so neither imports the
other at module level.

Each check imports modules in a fresh interpreter, so what one test imported cannot
hide what another needs.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import lockgate

SRC = Path(lockgate.__file__).parent

ENGINE_PACKAGES = ("core", "engine", "serialization", "tasks", "utilities")
ENGINE_FORBIDDEN = (
    "lockgate.store",
    "lockgate.cli",
    "lockgate.ui",
    "sqlalchemy",
    "typer",
    "rich",
    "starlette",
)


def modules_of(package: str) -> list[str]:
    """Every module of ``lockgate.<package>`` (the package itself included)."""
    names = [f"lockgate.{package}"]
    for info in pkgutil.walk_packages([str(SRC / package)], prefix=f"lockgate.{package}."):
        names.append(info.name)
    return sorted(names)


_PROBE = """
import importlib, json, sys
modules, forbidden = json.loads(sys.argv[1]), json.loads(sys.argv[2])
skipped = []
for name in modules:
    try:
        importlib.import_module(name)
    except ImportError as exc:  # an optional extra that is not installed
        if (exc.name or "").startswith("lockgate"):
            raise
        skipped.append(name)
loaded = sorted(
    m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in forbidden)
)
print(json.dumps({"loaded": loaded, "skipped": skipped}))
"""


def probe(modules: list[str], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Import ``modules`` in a fresh interpreter; which ``forbidden`` modules it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(modules), json.dumps(forbidden)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def offenders(modules: list[str], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Each module that loads a forbidden one on its own (run only once a probe failed)."""
    found = {}
    for name in modules:
        loaded = probe([name], forbidden)["loaded"]
        if loaded:
            found[name] = loaded[:5]
    return found


@pytest.mark.parametrize("package", ENGINE_PACKAGES)
def test_engine_layers_import_no_store_cli_or_ui(package: str) -> None:
    modules = modules_of(package)
    assert len(modules) > 1 or package == "utilities"
    if probe(modules, ENGINE_FORBIDDEN)["loaded"]:
        pytest.fail(
            f"lockgate.{package} must not import the store, CLI or dashboard at module "
            f"level (reach the store through lockgate.store.seam): {offenders(modules, ENGINE_FORBIDDEN)}"
        )


def test_top_level_lockgate_import_stays_light() -> None:
    assert probe(["lockgate"], ENGINE_FORBIDDEN)["loaded"] == []


def test_dashboard_does_not_import_the_cli() -> None:
    modules = modules_of("ui")
    result = probe(modules, ("lockgate.cli", "typer", "rich"))
    if result["skipped"]:
        pytest.skip(f"the ui extra is not installed ({result['skipped'][0]})")
    assert result["loaded"] == [], offenders(modules, ("lockgate.cli", "typer", "rich"))


def test_cli_does_not_import_the_dashboard() -> None:
    modules = modules_of("cli")
    result = probe(modules, ("lockgate.ui", "starlette"))
    assert result["loaded"] == [], offenders(modules, ("lockgate.ui", "starlette"))


def _imports_inside_functions(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every ``lockgate.store`` import inside a function body."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            found.extend((node.lineno, n) for n in names if n.startswith("lockgate.store"))
    return found


def test_engine_reaches_the_store_only_through_the_seam() -> None:
    # A lazy import is invisible to the probes above; this keeps it to the one seam.
    elsewhere = []
    for package in ENGINE_PACKAGES:
        for path in sorted((SRC / package).rglob("*.py")):
            for line, module in _imports_inside_functions(path):
                if module != "lockgate.store.seam":
                    elsewhere.append(f"{path.relative_to(SRC)}:{line} imports {module}")
    assert elsewhere == []
