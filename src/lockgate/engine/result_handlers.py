"""Result handlers: write a task's result somewhere durable and read it back."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from typing import Any

__all__ = ["JSONResultHandler", "LocalResultHandler", "ResultHandler"]


class ResultHandler:
    """Interface: ``write(value) -> location`` and ``read(location) -> value``."""

    def write(self, result: Any) -> Any:
        """Store ``result`` and return where it went."""
        raise NotImplementedError

    def read(self, loc: Any) -> Any:
        """Return the value stored at ``loc``."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = object.__hash__


class LocalResultHandler(ResultHandler):
    """Store results as cloudpickle files in a directory.

    Files are written to a temporary name and renamed into place, so a crash never
    leaves a half-written result where a reader would find it.

    Args:
        dir: the directory (created on first write); defaults to a fresh temporary one.
    """

    def __init__(self, dir: str | os.PathLike[str] | None = None) -> None:
        self.dir = os.fspath(dir) if dir is not None else tempfile.mkdtemp(prefix="lockgate-")

    def write(self, result: Any) -> str:
        """Pickle ``result`` to a new file and return its path.

        Raises:
            TypeError: when ``result`` cannot be pickled (names its type).
        """
        import cloudpickle

        try:
            data = cloudpickle.dumps(result)
        except Exception as exc:
            raise TypeError(
                f"LocalResultHandler cannot store a result of type {type(result).__name__}: "
                f"it does not pickle ({exc})."
            ) from exc
        return self.write_pickled(data)

    def write_pickled(self, data: bytes) -> str:
        """Write already-pickled ``data`` to a new file in :attr:`dir`; return its path.

        The file is written under a temporary name, flushed to disk and renamed, so a
        crash never leaves a half-written result behind.
        """
        os.makedirs(self.dir, exist_ok=True)
        path = os.path.join(self.dir, f"{uuid.uuid4().hex}.pickle")
        tmp = path + ".tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
        return path

    def read(self, loc: str) -> Any:
        """Unpickle the file at ``loc``.

        Raises:
            FileNotFoundError: when the file is gone (names the path).
        """
        import cloudpickle

        with open(loc, "rb") as f:
            return cloudpickle.loads(f.read())


class JSONResultHandler(ResultHandler):
    """ "Store" results as JSON text: the location *is* the JSON document."""

    def write(self, result: Any) -> str:
        """Return ``result`` as JSON text.

        Raises:
            TypeError: when ``result`` is not JSON-serialisable (names its type).
        """
        try:
            return json.dumps(result)
        except TypeError as exc:
            raise TypeError(
                f"JSONResultHandler cannot store a result of type {type(result).__name__}: {exc}."
            ) from exc

    def read(self, loc: str) -> Any:
        """Parse the JSON text ``loc``."""
        return json.loads(loc)
