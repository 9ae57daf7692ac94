"""JSONResultHandler: a JSON-serialisable result kept as its own JSON text."""

from __future__ import annotations

import json
from typing import Any

from lockgate.engine.result_handlers.result_handler import ResultHandler

__all__ = ["JSONResultHandler"]


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
