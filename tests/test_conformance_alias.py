"""The import alias the Prefect 0.5.1 conformance run uses (bench/conformance/prefect_alias.py).

Run in a child interpreter, so ``prefect.*`` names never enter this test process.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

PLUGIN_DIR = Path(__file__).resolve().parents[1] / "bench" / "conformance"


def run_child(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(PLUGIN_DIR), "PATH": ""},
        check=False,
    )


def test_prefect_modules_are_the_lockgate_modules_themselves() -> None:
    child = run_child(
        """
        import prefect_alias
        import prefect
        import lockgate
        from prefect.engine.state import Success
        from prefect import triggers
        import prefect.engine.task_runner as tr
        import lockgate.engine.state, lockgate.engine.task_runner
        assert prefect is lockgate
        assert Success is lockgate.engine.state.Success
        assert triggers is lockgate.triggers
        assert tr is lockgate.engine.task_runner
        print("ok")
        """
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "ok"


def test_a_module_lockgate_lacks_fails_with_the_prefect_name() -> None:
    child = run_child(
        """
        import prefect_alias
        try:
            import prefect.tasks.kubernetes
        except ModuleNotFoundError as exc:
            print(exc.name)
        """
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "prefect.tasks.kubernetes"
