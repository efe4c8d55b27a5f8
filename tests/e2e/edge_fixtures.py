"""Fixtures for tests through the real Envoy over TLS."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import edge as edge_support
from tests.support.edge import EdgeMesh


@pytest.fixture(scope="module")
def edge(database_url: str, service_env: dict[str, str], secrets_dir) -> Iterator[EdgeMesh]:  # type: ignore[no-untyped-def]
    mesh = edge_support.topology(rate_per_second=1000)
    with edge_support.running_edge(database_url, service_env, secrets_dir, mesh) as running:
        yield running


@pytest.fixture(scope="module")
def http(edge: EdgeMesh) -> Iterator[httpx.Client]:
    with edge.client(timeout=15) as client:
        yield client
