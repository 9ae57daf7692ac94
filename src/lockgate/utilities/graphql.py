"""Query results as attribute-access mappings (kept for code written for Prefect 0.5).

lockgate talks to no GraphQL server; :class:`GraphQLResult` remains because code that
handled Prefect Cloud responses, or serialized flows, may build one.
"""

from __future__ import annotations

import json

from lockgate.utilities.collections import DotDict, as_nested_dict

__all__ = ["GraphQLResult"]


class GraphQLResult(DotDict):
    """A :class:`~lockgate.utilities.collections.DotDict` for query results.

    Any key is allowed (a result may well have a field called ``update``), and the
    ``repr`` is indented JSON, falling back to the ``dict`` repr when a value is not
    JSON-serializable.
    """

    __protect_critical_keys__ = False

    def __repr__(self) -> str:
        try:
            return json.dumps(as_nested_dict(self, dict), indent=4)
        except TypeError:
            return repr(self.to_dict())
