"""Prefect 0.5.1's handlers for third-party storage, which lockgate does not ship."""

from __future__ import annotations

from typing import Any

from lockgate.engine.result_handlers.result_handler import ResultHandler

__all__ = ["GCSResultHandler", "S3ResultHandler"]


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
