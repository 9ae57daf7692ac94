"""The local web dashboard over the run store (``lockgate ui``).

Runs list with a chart, run pages with the flow graph coloured by state (live while the
run goes on), task pages, flows, and the actions of the CLI (approve and resume,
restart, cancel), each confirmed and protected against cross-site requests.

Serve it with ``lockgate ui``, or build the ASGI application yourself::

    import uvicorn
    from lockgate.ui import create_app

    uvicorn.run(create_app("sqlite:////srv/lockgate/store.db"), host="127.0.0.1", port=8080)

It needs the ``ui`` extra (Starlette, Jinja2, uvicorn): ``pip install 'lockgate[ui]'``.
"""

from __future__ import annotations

from lockgate.ui.app import create_app
from lockgate.ui.server import serve

__all__ = ["create_app", "serve"]
