"""Result handlers: write a task's result somewhere durable and read it back."""

from __future__ import annotations

import abc
import contextlib
import json
import logging
import os
import tempfile
import uuid
from typing import Any

__all__ = [
    "GCSResultHandler",
    "JSONResultHandler",
    "LocalResultHandler",
    "ResultHandler",
    "S3ResultHandler",
]


class ResultHandler(abc.ABC):
    """Interface: ``write(value) -> location`` and ``read(location) -> value``.

    Subclasses implement both methods (a class missing one cannot be instantiated).
    Handlers compare equal when they have the same class and the same settings, and
    they must pickle: they travel with tasks to other processes.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> ResultHandler:
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        if missing:
            # Name every missing method, in one stable wording whatever the Python version.
            raise TypeError(
                f"Can't instantiate abstract class {cls.__name__} with abstract methods "
                f"{', '.join(missing)}: a ResultHandler must implement write(result) and "
                "read(location)."
            )
        return super().__new__(cls)

    @abc.abstractmethod
    def write(self, result: Any) -> Any:
        """Store ``result`` and return where it went.

        Args:
            result: the value to store.

        Returns:
            The location, which :meth:`read` turns back into the value.
        """

    @abc.abstractmethod
    def read(self, loc: Any) -> Any:
        """Return the value stored at ``loc``.

        Args:
            loc: a location returned by :meth:`write`.

        Returns:
            The stored value.
        """

    @property
    def logger(self) -> logging.Logger:
        """The handler's logger, ``lockgate.<class name>``."""
        return logging.getLogger(f"lockgate.{type(self).__name__}")

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({settings})"


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


class _ThirdPartyHandler(ResultHandler):
    """A Prefect 0.5.1 handler for a third-party storage service lockgate does not ship."""

    service = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise ImportError(
            f"{type(self).__name__} is not part of lockgate: storing results in {self.service} "
            "needs that service's client library, which lockgate does not include. Use "
            "LocalResultHandler(dir=...) or JSONResultHandler, or subclass ResultHandler "
            "with write() and read() for your storage."
        )

    def write(self, result: Any) -> Any:
        """Never reached: the handler cannot be created.

        Args:
            result: the value.
        """
        raise NotImplementedError

    def read(self, loc: Any) -> Any:
        """Never reached: the handler cannot be created.

        Args:
            loc: the location.
        """
        raise NotImplementedError


class GCSResultHandler(_ThirdPartyHandler):
    """Prefect 0.5.1's Google Cloud Storage handler; creating one raises ImportError.

    Args:
        *args: ignored.
        **kwargs: ignored.

    Raises:
        ImportError: always; lockgate has no Google Cloud Storage client.
    """

    service = "Google Cloud Storage"


class S3ResultHandler(_ThirdPartyHandler):
    """Prefect 0.5.1's AWS S3 handler; creating one raises ImportError.

    Args:
        *args: ignored.
        **kwargs: ignored.

    Raises:
        ImportError: always; lockgate has no S3 client.
    """

    service = "AWS S3"
