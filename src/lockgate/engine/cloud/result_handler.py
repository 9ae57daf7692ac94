"""A stand-in for Prefect Cloud's result handler (lockgate has no Prefect Cloud)."""

from __future__ import annotations

from typing import Any, NoReturn

from lockgate.engine.result_handlers import ResultHandler

__all__ = ["CloudResultHandler"]


def _configured_service() -> Any:
    """``cloud.result_handler`` from lockgate's configuration, if it is set."""
    try:
        import lockgate

        return lockgate.config.cloud.get("result_handler")
    except Exception:  # no configuration, or no [cloud] section: nothing was chosen
        return None


class CloudResultHandler(ResultHandler):
    """Stands in for Prefect 0.5.1's Cloud result handler, which lockgate does not have.

    It can be created, compared and (de)serialized, so a flow serialized with it still
    loads; reading or writing a result raises, because there is no Cloud service to
    talk to. Use :class:`~lockgate.engine.result_handlers.LocalResultHandler` (files)
    or :class:`~lockgate.engine.result_handlers.JSONResultHandler` instead.

    Args:
        result_handler_service: the address of the Cloud result service; None reads
            ``cloud.result_handler`` from the configuration.
    """

    def __init__(self, result_handler_service: str | None = None) -> None:
        self._client: Any = None
        self.result_handler_service = (
            _configured_service() if result_handler_service is None else result_handler_service
        )

    def _unavailable(self, action: str) -> NoReturn:
        from lockgate.utilities.exceptions import CloudUnavailableError

        raise CloudUnavailableError(
            f"CloudResultHandler cannot {action}: lockgate has no Prefect Cloud. Give the "
            "task or flow a LocalResultHandler(dir=...) or a JSONResultHandler instead."
        )

    def write(self, result: Any) -> NoReturn:
        """Not available without Prefect Cloud.

        Args:
            result: the value that would be written.

        Raises:
            CloudUnavailableError: always.
        """
        self._unavailable("write a result")

    def read(self, loc: Any) -> NoReturn:
        """Not available without Prefect Cloud.

        Args:
            loc: the location that would be read.

        Raises:
            CloudUnavailableError: always.
        """
        self._unavailable("read a result")

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is CloudResultHandler
            and self.result_handler_service == other.result_handler_service
        )

    __hash__ = ResultHandler.__hash__
