"""Alembic environment: migrate the connection ``RunStore.open`` hands over.

``RunStore.open`` builds the Alembic ``Config`` in code and puts its open connection
(already inside a locked transaction) in ``config.attributes["connection"]``; there is
no ``alembic.ini``.
"""

from __future__ import annotations

from alembic import context

from lockgate.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
