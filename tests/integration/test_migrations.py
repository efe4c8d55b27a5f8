from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

import notifications.tables
import orders.tables
import shipping.tables
from meshkit.db import Base

_ = (orders.tables, shipping.tables, notifications.tables)


def test_migrations_match_the_mapped_tables(engine: Engine) -> None:
    """A model change without its migration (or the reverse) fails here."""
    with engine.connect() as connection:
        drift = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert drift == []
