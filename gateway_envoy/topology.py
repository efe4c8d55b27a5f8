"""The one description of the mesh that the Envoy config, the supervisor and
the tests are generated from: which service instances exist where, the edge's
ports, and the files Envoy reads."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshkit import auth

# The gRPC service each of our services serves, as the descriptor set names it.
GRPC_SERVICES = {
    "orders": "shopmesh.orders.v1.OrderService",
    "shipping": "shopmesh.shipping.v1.ShippingService",
    "notifications": "shopmesh.notifications.v1.NotificationService",
}
BASE_PORTS = {"orders": 50051, "shipping": 50052, "notifications": 50053}
# Instance n of a service listens on its base port + n * INSTANCE_STRIDE.
INSTANCE_STRIDE = 10


@dataclass(frozen=True)
class Instance:
    service: str
    index: int
    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Service:
    name: str
    grpc_service: str
    instances: tuple[Instance, ...]

    @property
    def target(self) -> str:
        """A gRPC target that resolves to every instance (client-side balancing)."""
        return "ipv4:" + ",".join(i.address for i in self.instances)


@dataclass(frozen=True)
class EdgeFiles:
    descriptor_set: Path
    certificate: Path
    private_key: Path
    # Public keys of the edge token issuer only: an internal token never passes the edge.
    jwks: Path


@dataclass(frozen=True)
class Edge:
    host: str = "127.0.0.1"
    https_port: int = 8443
    http_port: int = 8080
    admin_port: int = 9901
    # The same issuer and audience the services verify (meshkit.auth).
    issuer: str = auth.EDGE_ISSUER
    audience: str = auth.AUDIENCE
    max_body_bytes: int = 64 * 1024
    # Requests a second per route, with a burst of the same size.
    rate_per_second: int = 50


@dataclass(frozen=True)
class Topology:
    services: tuple[Service, ...]
    edge: Edge = field(default_factory=Edge)

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)


def from_env(env: Mapping[str, str] | None = None) -> Topology:
    """`INSTANCES` (default 2) of each service on `<SERVICE>_PORT` (+10 per
    instance), and the edge on `EDGE_HTTPS_PORT`, `EDGE_HTTP_PORT`,
    `EDGE_ADMIN_PORT`."""
    env = os.environ if env is None else env
    count = _int(env, "INSTANCES", 2)
    host = "127.0.0.1"
    services = tuple(
        Service(
            name,
            GRPC_SERVICES[name],
            tuple(
                Instance(
                    name, n, host, _int(env, f"{name.upper()}_PORT", base) + n * INSTANCE_STRIDE
                )
                for n in range(count)
            ),
        )
        for name, base in BASE_PORTS.items()
    )
    edge = Edge(
        https_port=_int(env, "EDGE_HTTPS_PORT", 8443),
        http_port=_int(env, "EDGE_HTTP_PORT", 8080),
        admin_port=_int(env, "EDGE_ADMIN_PORT", 9901),
        rate_per_second=_int(env, "EDGE_RATE_PER_SECOND", 50),
        issuer=env.get("JWT_ISSUER") or auth.EDGE_ISSUER,
        audience=env.get("JWT_AUDIENCE") or auth.AUDIENCE,
    )
    return Topology(services, edge)


class TopologyError(ValueError):
    pass


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        value = int(env.get(name) or default)
    except ValueError:
        raise TopologyError(f"{name} must be a whole number, not {env[name]!r}") from None
    if value < 1:
        raise TopologyError(f"{name} must be at least 1")
    return value
