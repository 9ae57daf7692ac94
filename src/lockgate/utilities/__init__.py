"""Small shared helpers: the run context, configuration, collections, logging, the clock.

Submodules are imported on first use (``lockgate.utilities.logging`` works after a bare
``import lockgate``), so importing lockgate stays light.
"""

import importlib
from types import ModuleType


def __getattr__(name: str) -> ModuleType:
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
