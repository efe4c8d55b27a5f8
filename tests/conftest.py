"""Fixtures shared by every test: a real PostgreSQL database, migrated, and
the keys that callers' tokens are signed and verified with.

With DATABASE_URL set, tests use that server (CI points it at the machine's
PostgreSQL); otherwise they start the embedded one. Either way each test run
gets a database of its own, dropped at the end.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from meshkit.db import make_engine, make_sessions, sqlalchemy_url
from shopctl import database, secrets
from tests.support import keys


@pytest.fixture(scope="session", autouse=True)
def secrets_dir() -> Iterator[Path]:
    """Signing keys, key sets and TLS files, generated once per session as
    `shopmesh run` generates them; every token a test sends is signed with them."""
    with tempfile.TemporaryDirectory(prefix="shopmesh-secrets-") as folder:
        keys.use(secrets.ensure(Path(folder) / "secrets"))
        try:
            yield Path(folder) / "secrets"
        finally:
            keys.use(None)


@pytest.fixture(scope="session")
def service_env(secrets_dir: Path) -> dict[str, str]:
    """What every service a test starts needs: JWKS_FILE, INTERNAL_SIGNING_KEY_FILE."""
    return keys.service_env()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    name = f"shopmesh_test_{uuid.uuid4().hex[:10]}"
    if os.environ.get("DATABASE_URL"):
        admin_url = os.environ["DATABASE_URL"]
        database.ensure_database(admin_url, name)
        url = (
            make_url(sqlalchemy_url(admin_url))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    else:
        data_dir = tmp_path_factory.mktemp("pg") / "data"
        url = database.embedded_url(data_dir, name)
        admin_url = url.replace(f"/{name}?", "/postgres?")
    engine = create_engine(sqlalchemy_url(url))
    database.upgrade(engine)
    engine.dispose()
    yield url
    drop = create_engine(sqlalchemy_url(admin_url), isolation_level="AUTOCOMMIT")
    with drop.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    drop.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, application_name="tests")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessions(engine)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Anything that touches PostgreSQL is marked, so CI can rerun just those
    # against DATABASE_URL.
    for item in items:
        if "database_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.database)
    # The default gRPC ports (50051-50063) lie inside Linux's ephemeral range
    # (32768-60999), where every loopback connection the suite opens takes a
    # local port that lingers in TIME_WAIT for a minute. Tests on the default
    # ports therefore run before the rest has opened any.
    items.sort(key=lambda item: item.get_closest_marker("default_ports") is None)
