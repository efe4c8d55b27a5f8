"""The shared PostgreSQL: engine, sessions and the declarative base every
service's tables derive from (one metadata, so one Alembic history)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    DateTime,
    Engine,
    MetaData,
    TextClause,
    create_engine,
    event,
    func,
    text,
)
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    SessionTransaction,
    mapped_column,
    sessionmaker,
)
from sqlalchemy.pool import ConnectionPoolEntry

from meshkit import callctx, errors
from meshkit.errors import AppError

# Stable constraint names, so that migrations can name what they alter.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Timestamps:
    # Read both back with RETURNING on every write, so that rows stay usable
    # after their session has closed.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 - SQLAlchemy reads it as is

    create_time: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    update_time: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


def sqlalchemy_url(url: str) -> str:
    """Accept the libpq form (`postgresql://`) everyone writes, and use psycopg2."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


# A pooled connection unused for this long is checked before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def make_engine(
    url: str,
    *,
    application_name: str,
    pool_size: int = 20,
    ping_after_idle: float = PING_AFTER_IDLE_SECONDS,
) -> Engine:
    engine = create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        # A fixed pool. SQLAlchemy closes an overflow connection as soon as it
        # is returned, and each new connection costs PostgreSQL a process
        # (fork, authentication, catalogue caches): under load that churn was
        # a third of the database's CPU (make bench: 12.9 -> 8.7 ms an order
        # with 20 fixed instead of 10 + 10 overflow, the same most at once).
        max_overflow=0,
        pool_timeout=5,
        connect_args={"application_name": application_name, "connect_timeout": 3},
    )
    _ping_when_idle(engine, ping_after_idle)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Hand out no connection that a database restart killed, without
    SQLAlchemy's `pool_pre_ping`, which costs a round trip on every
    transaction. A connection reused within `idle_seconds` was alive a
    moment ago; one that fails anyway is reported as a disconnect, and
    SQLAlchemy then replaces every older connection of the pool. One idle
    for longer (as every connection is across a restart when there is no
    traffic) is pinged first and, if dead, replaced before use."""

    def idle_from_now(_: object, record: ConnectionPoolEntry) -> None:
        record.info["idle_since"] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: ConnectionPoolEntry, _: object) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) > idle_seconds:
            try:
                engine.dialect.do_ping(dbapi_connection)
            except Exception:
                # The pool discards the connection and checks out another.
                raise DisconnectionError("the connection was closed while idle") from None

    event.listen(engine, "connect", idle_from_now)
    event.listen(engine, "checkin", idle_from_now)
    event.listen(engine, "checkout", checked_out)


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    sessions = sessionmaker(engine, expire_on_commit=False)
    event.listen(sessions, "after_begin", _bound_by_deadline)
    return sessions


# statement_timeout is a 32-bit number of milliseconds (about 24 days).
_MAX_TIMEOUT_MS = 2**31 - 1


def statement_timeout_ms() -> int:
    """The call's deadline as a statement_timeout; 0 (none) outside a call
    or for a call without a deadline."""
    budget = callctx.work_budget()
    return 0 if budget is None else min(max(1, int(budget * 1000)), _MAX_TIMEOUT_MS)


def _bound_by_deadline(_: Session, __: SessionTransaction, connection: Connection) -> None:
    # Inside a call, no statement may outlive the caller's deadline: a lock
    # wait would otherwise hold a connection and its place in the lock queue
    # long after the caller gave up, and could still commit then.
    if milliseconds := statement_timeout_ms():
        connection.exec_driver_sql(
            "SELECT set_config('statement_timeout', %s, true)", (str(milliseconds),)
        )


@contextmanager
def reading(bind: Engine | sessionmaker[Session]) -> Iterator[Connection]:
    """A connection for a read that is one statement (see `bounded`) and so
    needs no transaction of its own. In autocommit, psycopg2 sends no BEGIN
    and returning the connection sends no ROLLBACK: with the deadline in the
    statement's own round trip, one round trip where a session took four.
    (GetOrder, 3 x 2,000 reads each way: 491-523 -> 308-339 us of the
    caller's CPU a read, 425-460 -> 345-370 us of PostgreSQL's.)"""
    engine: Engine = bind if isinstance(bind, Engine) else bind.kw["bind"]
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        yield connection


def bounded(sql: str) -> TextClause:
    """`sql` for `reading`, bounded by the call's deadline: bind
    `statement_timeout_ms` to statement_timeout_ms(). The SET LOCAL goes in
    the same round trip; PostgreSQL runs a query string of several
    statements as one implicit transaction, so it holds for `sql` and ends
    with it."""
    return text(f"SET LOCAL statement_timeout = :statement_timeout_ms; {sql}")


# Statement cancelled, here by the statement_timeout set above.
_QUERY_CANCELED = "57014"
# Connection exceptions, and the server shutting down or restarting.
_CONNECTION_LOST = ("08", "57P")


def as_app_error(error: BaseException) -> AppError | None:
    """What a caller can act on in a database failure: UNAVAILABLE (retry
    shortly) when the database cannot be reached, DEADLINE_EXCEEDED when a
    statement ran into the call's deadline. None for anything else, which
    is a bug to log, not a condition to report."""
    if not isinstance(error, DBAPIError):
        return None
    code = getattr(error.orig, "pgcode", None) or ""
    if code == _QUERY_CANCELED:
        return errors.deadline_exceeded(
            "DEADLINE_EXCEEDED", "the call's deadline passed while the database worked on it"
        )
    unreachable = isinstance(error, OperationalError) and not code  # refused, timed out, reset
    if error.connection_invalidated or unreachable or code.startswith(_CONNECTION_LOST):
        return errors.unavailable(
            "DATABASE_UNAVAILABLE", "the database cannot be reached just now; retry shortly"
        )
    return None


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with sessions() as session, session.begin():
        yield session


def is_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True
