"""The ResultHandler interface: write a result somewhere, read it back."""

from __future__ import annotations

import abc
import logging
from typing import Any

__all__ = ["ResultHandler"]


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
