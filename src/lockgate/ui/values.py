"""Reading stored results and inputs back for a task page, without running user code.

Stored values are pickles. Unpickling imports the module of every class a pickle
names and runs what those classes do on load, and a custom result handler runs its
own ``read``: a page view would run the flow's code. So the dashboard unpickles with
a restricted unpickler that only builds plain data (numbers, strings, bytes, lists,
tuples, dicts, sets, dates and times, decimals, UUIDs, paths), and reads only through
lockgate's own result handlers (inline in the store, a local file, JSON). Anything
else is reported by name, not loaded; ``lockgate show`` still reads it.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
from typing import Any

__all__ = ["NotShown", "read_inputs", "read_result", "safe_loads"]

_PLAIN = {
    "builtins": {
        "bool",
        "bytearray",
        "bytes",
        "complex",
        "dict",
        "float",
        "frozenset",
        "int",
        "list",
        "object",
        "range",
        "set",
        "slice",
        "str",
        "tuple",
    },
    "collections": {"Counter", "OrderedDict", "defaultdict", "deque"},
    "datetime": {"date", "datetime", "time", "timedelta", "timezone"},
    "decimal": {"Decimal"},
    "fractions": {"Fraction"},
    "uuid": {"UUID", "SafeUUID"},
    "pathlib": {"Path", "PosixPath", "PurePath", "PurePosixPath", "PureWindowsPath", "WindowsPath"},
    # How protocol 2 pickles rebuild objects and bytes: they only combine allowed names.
    "copyreg": {"_reconstructor"},
    "_codecs": {"encode"},
}
"""Module and names a stored value may use to be shown: plain data only."""

_WRAPPERS = {
    "lockgate.engine.result": {"SafeResult"},
    "lockgate.engine.result_handlers.local_result_handler": {"LocalResultHandler"},
    "lockgate.engine.result_handlers.json_result_handler": {"JSONResultHandler"},
}
"""lockgate's own classes a stored location may name (a SafeResult and its handler)."""


class NotShown(Exception):
    """A stored value is not shown: loading it would import or run code (says which)."""


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, allowed: dict[str, set[str]]) -> None:
        super().__init__(io.BytesIO(data))
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        # Protocols 0-2 use Python 2 names (__builtin__, copy_reg): map them as pickle
        # does, so the allow-list is checked against what would really be imported.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        else:
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if name in self._allowed.get(module, ()):
            return super().find_class(module, name)
        raise NotShown(
            f"it holds a {module}.{name} object, and the dashboard imports no code to "
            "show a value (`lockgate show` reads it)"
        )


def safe_loads(data: bytes) -> Any:
    """Unpickle plain data only.

    Args:
        data: a pickle.

    Returns:
        The value.

    Raises:
        NotShown: the pickle names a class or function other than plain data's.
        pickle.UnpicklingError: the bytes are not a pickle.
    """
    return _Unpickler(data, _PLAIN).load()


def _through_handler(blob: bytes) -> Any:
    """The value behind a pickled SafeResult (a location and lockgate's own handler)."""
    from lockgate.engine.result_handlers.json_result_handler import JSONResultHandler
    from lockgate.engine.result_handlers.local_result_handler import LocalResultHandler

    safe = _Unpickler(blob, {**_PLAIN, **_WRAPPERS}).load()
    handler = getattr(safe, "result_handler", None)
    location = getattr(safe, "value", None)
    if type(handler) is JSONResultHandler and isinstance(location, str):
        return handler.read(location)
    if type(handler) is LocalResultHandler and isinstance(location, str):
        with open(location, "rb") as stored:
            return safe_loads(stored.read())
    raise NotShown(f"it was stored by {type(handler).__name__}, whose reading is not shown here")


def read_result(handler_name: str | None, blob: bytes) -> Any:
    """A stored result, read back without running user code.

    Args:
        handler_name: the task run's ``result_handler`` (inline: the blob is the pickle).
        blob: the stored blob.

    Returns:
        The value.

    Raises:
        NotShown: reading it would import or run code.
        Exception: the blob or its file cannot be read.
    """
    from lockgate.store.results import INLINE_HANDLER_NAME

    if handler_name == INLINE_HANDLER_NAME:
        return safe_loads(blob)
    return _through_handler(blob)


def read_inputs(location: str | None, blob: bytes) -> Any:
    """A task run's stored inputs, read back without running user code.

    Args:
        location: the task run's ``cached_inputs_location`` (inline: the blob is the pickle).
        blob: the stored blob.

    Returns:
        The inputs (a dict by argument name, as stored).

    Raises:
        NotShown: reading them would import or run code.
        Exception: the blob or its file cannot be read.
    """
    from lockgate.store.states import INLINE_LOCATION

    if location == INLINE_LOCATION:
        return safe_loads(blob)
    return _through_handler(blob)
