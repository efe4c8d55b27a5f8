"""Alembic environment: one history for the one shared database.

The metadata is the union of every service's tables; each table still has a
single owning service (docs/data.md).
"""

from alembic import context

import notifications.tables
import orders.tables
import shipping.tables
from meshkit.db import Base

# Imported for their side effect of adding tables to Base.metadata.
_ = (orders.tables, shipping.tables, notifications.tables)

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
