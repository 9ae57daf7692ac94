"""Placeholders for Prefect 0.5.1's Cloud engine parts: lockgate has no Prefect Cloud.

Only :class:`~lockgate.engine.cloud.result_handler.CloudResultHandler` exists, so that
flows serialized by Prefect with that handler still load; using it raises
:class:`~lockgate.utilities.exceptions.CloudUnavailableError`.
"""

from lockgate.engine.cloud.result_handler import CloudResultHandler

__all__ = ["CloudResultHandler"]
