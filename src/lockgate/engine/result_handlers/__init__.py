"""Result handlers: write a task's result somewhere durable and read it back.

The same module layout as Prefect 0.5.1: one module per handler, every handler
importable from here.
"""

from lockgate.engine.result_handlers._third_party import GCSResultHandler, S3ResultHandler
from lockgate.engine.result_handlers.json_result_handler import JSONResultHandler
from lockgate.engine.result_handlers.local_result_handler import LocalResultHandler
from lockgate.engine.result_handlers.result_handler import ResultHandler

__all__ = [
    "GCSResultHandler",
    "JSONResultHandler",
    "LocalResultHandler",
    "ResultHandler",
    "S3ResultHandler",
]
