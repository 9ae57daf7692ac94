"""LocalResultHandler: results as pickle files on a local or shared disk."""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
from typing import Any

from lockgate.engine.result_handlers.result_handler import ResultHandler

__all__ = ["DEFAULT_RESULTS_DIR_NAME", "LocalResultHandler"]

DEFAULT_RESULTS_DIR_NAME = "lockgate-results"
"""The folder, in the system's temporary directory, of handlers made without a ``dir``."""


class LocalResultHandler(ResultHandler):
    """Store results as cloudpickle files in a directory.

    Files are written to a temporary name and renamed into place, so a crash never
    leaves a half-written result where a reader would find it. Each write makes a new
    file named ``lockgate-<random>.pickle``.

    Args:
        dir: the directory (created on first write). None (the default) means the
            ``lockgate-results`` folder of the system's temporary directory; ``dir``
            itself stays None, so the handler serializes as "no directory chosen".
    """

    def __init__(self, dir: str | os.PathLike[str] | None = None) -> None:
        self.dir = os.fspath(dir) if dir is not None else None

    def directory(self) -> str:
        """The directory files are written to (see ``dir``).

        Returns:
            ``dir``, or the default folder in the system's temporary directory.
        """
        if self.dir is not None:
            return self.dir
        return os.path.join(tempfile.gettempdir(), DEFAULT_RESULTS_DIR_NAME)

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
        """Write already-pickled ``data`` to a new file in :meth:`directory`; return its path.

        The file is written under a temporary name, flushed to disk and renamed, so a
        crash never leaves a half-written result behind.
        """
        directory = self.directory()
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"lockgate-{uuid.uuid4().hex}.pickle")
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
