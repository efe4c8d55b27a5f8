"""Killing an instance under a steady stream of idempotent requests fails
none of them; the instance leaves rotation within seconds and comes back
once restarted."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from tests.support import data
from tests.support import edge as edge_support
from tests.support.edge import EdgeMesh
from tests.support.rpc import edge_token
from tests.support.waiting import until

REQUESTS = 400  # bounded: the stream stops after this many or 60 seconds


@pytest.fixture
def edge(database_url: str, service_env: dict[str, str], secrets_dir) -> Iterator[EdgeMesh]:  # type: ignore[no-untyped-def]
    mesh = edge_support.topology(instances=2)
    with edge_support.running_edge(database_url, service_env, secrets_dir, mesh) as running:
        yield running


def requests_per_host(edge: EdgeMesh, service: str) -> dict[int, int]:
    counts = {}
    for line in edge.admin("/clusters").splitlines():
        parts = line.split("::")
        if parts[0] == service and len(parts) == 4 and parts[2] == "rq_total":
            counts[int(parts[1].rsplit(":", 1)[1])] = int(parts[3])
    return counts


def test_killing_an_instance_fails_no_idempotent_request(
    edge: EdgeMesh, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as s:
        customer_id = data.customer(s, "berlin").id
    headers = {"authorization": f"Bearer {edge_token(customer_id=customer_id)}"}
    victim, survivor = edge.instances["orders"]
    outcomes: list[int] = []
    warmed_up = threading.Event()

    def stream() -> None:
        deadline = time.monotonic() + 60
        with edge.client(timeout=10) as http:
            while len(outcomes) < REQUESTS and time.monotonic() < deadline:
                outcomes.append(http.get("/v1/orders", headers=headers).status_code)
                if len(outcomes) == REQUESTS // 4:
                    warmed_up.set()
                    # Keep going at once: the kill lands mid-stream.

    client = threading.Thread(target=stream)
    client.start()
    assert warmed_up.wait(timeout=30)
    assert victim.proc is not None
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    client.join(timeout=90)

    assert len(outcomes) == REQUESTS
    failures = [code for code in outcomes if code != 200]
    assert failures == [], f"{len(failures)} failed: {sorted(set(failures))}"

    # Out of rotation within seconds of dying...
    edge.wait_healthy("orders", {survivor.port}, within=5)
    # ...and back once restarted, taking traffic again (once any outlier
    # ejection from the failures around the kill has run out).
    victim.start()
    edge.wait_healthy("orders", {victim.port, survivor.port}, within=10)
    before = requests_per_host(edge, "orders").get(victim.port, 0)
    with edge.client(timeout=10) as http:

        def victim_served() -> bool:
            assert http.get("/v1/orders", headers=headers).status_code == 200
            return requests_per_host(edge, "orders").get(victim.port, 0) > before

        until(victim_served, within=20, what="the restarted instance to take requests")
