"""Serialize lockgate objects to JSON-compatible dictionaries and load them back.

Each module holds the marshmallow schemas of one kind of object, with Prefect Core
0.5.1's field names and a ``__version__`` field: :mod:`.state`, :mod:`.task`,
:mod:`.edge`, :mod:`.flow`, :mod:`.schedule`, :mod:`.result`, :mod:`.result_handlers`
and :mod:`.environment`. The usual entry points are ``flow.serialize()``,
``task.serialize()`` and ``state.serialize()``, and ``FlowSchema().load(...)`` (etc.)
to load back. See ``docs/serialization.md``.

Importing this package imports marshmallow; ``import lockgate`` alone does not.
"""

import lockgate.serialization.edge
import lockgate.serialization.environment
import lockgate.serialization.flow
import lockgate.serialization.result
import lockgate.serialization.result_handlers
import lockgate.serialization.schedule
import lockgate.serialization.state
import lockgate.serialization.task  # noqa: F401
