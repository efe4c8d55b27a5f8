"""An over-limit burst gets 429 in the JSON error shape with retry-after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import edge as edge_support
from tests.support.edge import EdgeMesh
from tests.support.rpc import edge_token

RATE = 5


@pytest.fixture(scope="module")
def slow_edge(database_url: str, service_env: dict[str, str], secrets_dir) -> Iterator[EdgeMesh]:  # type: ignore[no-untyped-def]
    mesh = edge_support.topology(instances=1, rate_per_second=RATE)
    with edge_support.running_edge(database_url, service_env, secrets_dir, mesh) as running:
        yield running


def test_a_burst_over_the_route_limit_is_429_with_retry_after(slow_edge: EdgeMesh) -> None:
    token = {"authorization": f"Bearer {edge_token(role='ops')}"}
    with slow_edge.client() as http:
        replies = [http.get("/v1/products", headers=token) for _ in range(RATE * 3)]
    limited = [r for r in replies if r.status_code == 429]
    assert limited, [r.status_code for r in replies]
    assert sum(r.status_code == 200 for r in replies) >= RATE - 1
    body = limited[0].json()
    assert body["code"] == 8 and set(body) == {"code", "message", "details"}
    assert limited[0].headers["retry-after"] == "1"
