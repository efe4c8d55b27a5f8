"""Envoy in front of the bench's Orders instances: the config `make run`
generates (gateway_envoy/), started as the tests start it, on free ports
with the bench's secrets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.mesh import Mesh
from gateway_envoy.topology import GRPC_SERVICES, Edge, Instance, Service, Topology
from tests.support.edge import EdgeMesh, envoy_in_front
from tests.support.ports import free_port

# The edge's token bucket per RPC, far above any rate the bench reaches: it
# measures what the edge costs, not where it limits.
RATE_PER_SECOND = 1_000_000


def topology(mesh: Mesh) -> Topology:
    """The Orders instances alone: Envoy needs routes only to what runs, and
    health-checks nothing else meanwhile."""
    orders = Service(
        "orders",
        GRPC_SERVICES["orders"],
        tuple(
            Instance("orders", n, "127.0.0.1", instance.process.port)
            for n, instance in enumerate(mesh.of("orders"))
        ),
    )
    edge = Edge(
        https_port=free_port(),
        http_port=free_port(),
        admin_port=free_port(),
        rate_per_second=RATE_PER_SECOND,
    )
    return Topology((orders,), edge)


@contextmanager
def in_front_of_orders(mesh: Mesh, secrets: Path) -> Iterator[EdgeMesh]:
    """Yields once Envoy sees every Orders instance healthy; stops it at the end."""
    orders = {"orders": [instance.process for instance in mesh.of("orders")]}
    with envoy_in_front(topology(mesh), orders, secrets) as edge:
        yield edge
