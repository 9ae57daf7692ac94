"""A pytest plugin that runs Prefect Core 0.5.1's own tests against lockgate.

Loaded by ``bench/bench_conformance.py`` with ``-p prefect_alias`` (and ``--noconftest``,
so the checkout's own conftest, which needs Prefect's Cloud dependencies, stays out).
It does two things:

* **The import alias.** ``import prefect.X`` returns the module ``lockgate.X`` itself (the
  same object, registered under both names), so ``prefect.engine.state.Success is
  lockgate.engine.state.Success`` and ``monkeypatch.setattr(prefect.config, ...)`` patches
  lockgate. A name lockgate does not have fails as it would for a user: ``No module
  named 'prefect.X'``.
* **The executor fixtures** Prefect's suite expects (``local``, ``sync``, ``mthread``,
  ``mproc`` and the parametrizable ``executor``), built from lockgate's executors on a
  real ``dask.distributed`` cluster on loopback.

Nothing here is Prefect's code; the tests themselves are read from the checkout at run
time and never copied into this project.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

ALIAS = "prefect"
TARGET = "lockgate"


class PrefectAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serve ``prefect`` and ``prefect.*`` from ``lockgate`` and ``lockgate.*``."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != ALIAS and not fullname.startswith(ALIAS + "."):
            return None
        real = TARGET + fullname[len(ALIAS) :]
        try:
            found = importlib.util.find_spec(real)
        except ModuleNotFoundError:
            return None
        if found is None:
            return None
        return importlib.util.spec_from_loader(
            fullname, self, is_package=found.submodule_search_locations is not None
        )

    def create_module(self, spec: Any) -> ModuleType:
        return importlib.import_module(TARGET + spec.name[len(ALIAS) :])

    def exec_module(self, module: ModuleType) -> None:
        """The lockgate module is already executed; nothing to do."""


def install() -> None:
    """Put the alias first on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, PrefectAlias) for f in sys.meta_path):
        sys.meta_path.insert(0, PrefectAlias())


install()


# -- the executor fixtures Prefect's suite uses -------------------------------------------
@pytest.fixture(scope="session")
def mthread() -> Iterator[Any]:
    """A DaskExecutor on a threaded dask.distributed cluster in this process."""
    from distributed import Client

    from lockgate.engine.executors import DaskExecutor

    with Client(processes=False, dashboard_address=None) as client:
        yield DaskExecutor(client.scheduler.address)


@pytest.fixture()
def local() -> Any:
    """The LocalExecutor: everything inline."""
    from lockgate.engine.executors import LocalExecutor

    return LocalExecutor()


@pytest.fixture()
def sync() -> Any:
    """The SynchronousExecutor (dask's synchronous scheduler)."""
    from lockgate.engine.executors import SynchronousExecutor

    return SynchronousExecutor()


@pytest.fixture(scope="session")
def mproc() -> Iterator[Any]:
    """A DaskExecutor on a dask.distributed cluster of worker processes on loopback.

    Each worker installs the alias too (a worker plugin, so a restarted worker does as
    well): task code from Prefect's tests unpickles there and imports ``prefect.*``.
    """
    from distributed import Client, WorkerPlugin

    from lockgate.engine.executors import DaskExecutor

    class InstallAlias(WorkerPlugin):  # type: ignore[misc]
        def setup(self, worker: Any) -> None:
            install()

    with Client(processes=True, n_workers=2, dashboard_address=None) as client:
        client.register_plugin(InstallAlias(), name="prefect-alias")
        yield DaskExecutor(client.scheduler.address, local_processes=True)


@pytest.fixture()
def _switch(request: Any) -> Any:
    """Build only the executor a parametrized test asks for (clusters are slow to start)."""
    return lambda name: request.getfixturevalue(name)


@pytest.fixture()
def executor(request: Any, _switch: Any) -> Any:
    """``@pytest.mark.parametrize("executor", ["local", "sync", ...], indirect=True)``."""
    return _switch(request.param)


def pytest_configure(config: Any) -> None:
    for marker in ("airflow", "formatting"):
        config.addinivalue_line("markers", f"{marker}: marker used by Prefect's suite")
