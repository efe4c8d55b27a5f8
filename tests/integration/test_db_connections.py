"""Pooled connections that the database closed (a restart, a failover, an
administrator) are replaced without a round trip on every transaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from meshkit import callctx
from meshkit.db import (
    as_app_error,
    bounded,
    make_engine,
    make_sessions,
    reading,
    statement_timeout_ms,
)
from meshkit.errors import Kind


def backend_pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def terminate(admin: Engine, pid: int) -> None:
    with admin.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        # pg_terminate_backend only signals; wait until the backend is gone.
        # A transaction sees pg_stat_activity as it first read it, unless it
        # clears that snapshot: without the clear, a backend still there at
        # the first look was there for good, and this looped forever.
        connection.execute(
            text(
                "DO $$ BEGIN WHILE EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = "
                f"{pid}) LOOP PERFORM pg_sleep(0.01); PERFORM pg_stat_clear_snapshot(); "
                "END LOOP; END $$"
            )
        )


@pytest.fixture
def admin(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, application_name="tests-admin", pool_size=1)
    yield engine
    engine.dispose()


def engine_of_one(database_url: str, ping_after_idle: float) -> Engine:
    return make_engine(
        database_url,
        application_name="tests-pool",
        pool_size=1,
        ping_after_idle=ping_after_idle,
    )


def test_an_idle_connection_the_database_closed_is_replaced_before_use(
    database_url: str, admin: Engine
) -> None:
    engine = engine_of_one(database_url, ping_after_idle=0.0)  # every connection counts as idle
    try:
        first = backend_pid(engine)
        terminate(admin, first)

        assert backend_pid(engine) != first  # no error reached the caller
    finally:
        engine.dispose()


def test_a_busy_connection_found_closed_fails_once_then_the_pool_is_renewed(
    database_url: str, admin: Engine
) -> None:
    engine = engine_of_one(database_url, ping_after_idle=3600.0)  # never pinged
    try:
        first = backend_pid(engine)
        terminate(admin, first)

        with pytest.raises(DBAPIError) as failed:
            backend_pid(engine)
        error = as_app_error(failed.value)
        assert error is not None and error.kind is Kind.UNAVAILABLE  # the caller retries
        assert backend_pid(engine) != first
    finally:
        engine.dispose()


def test_a_bounded_read_stops_at_the_calls_deadline_and_leaves_no_timeout_behind(
    database_url: str,
) -> None:
    engine = make_engine(database_url, application_name="tests-read", pool_size=1)
    sessions = make_sessions(engine)
    try:
        with (
            callctx.bound("req-read", time_remaining=callctx.ANSWER_MARGIN + 0.2),
            reading(sessions) as connection,
            pytest.raises(DBAPIError) as stopped,
        ):
            connection.execute(
                bounded("SELECT pg_sleep(5)"), {"statement_timeout_ms": statement_timeout_ms()}
            )
        deadline = as_app_error(stopped.value)
        assert deadline is not None and deadline.kind is Kind.DEADLINE_EXCEEDED
        with reading(sessions) as connection:  # the pool's one connection again
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "0"
    finally:
        engine.dispose()
