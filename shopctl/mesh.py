"""The mesh `shopmesh run` starts: every instance of the three services and
the edge, their ports (from gateway_envoy.topology, the one source of truth)
and the environment each instance gets."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from gateway_envoy import topology as topologies
from gateway_envoy.topology import Topology
from shopctl import console, secrets


@dataclass(frozen=True)
class ServiceSpec:
    """One instance of a service."""

    name: str
    index: int
    port: int
    # Where the server listens (GRPC_HOST) and where it is reached.
    bind: str
    host: str

    @property
    def label(self) -> str:
        return f"{self.name}-{self.index + 1}"

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"


# Where a server bound to every interface is reached from this machine.
_ANY = {"", "0.0.0.0", "::", "[::]"}


class MeshConfigError(Exception):
    pass


def topology(env: Mapping[str, str] | None = None) -> Topology:
    """INSTANCES of each service on `<SERVICE>_PORT` (+10 for each further
    instance) and the edge on EDGE_HTTPS_PORT, EDGE_HTTP_PORT, EDGE_ADMIN_PORT."""
    try:
        return topologies.from_env(os.environ if env is None else env)
    except topologies.TopologyError as error:
        raise MeshConfigError(str(error)) from None


def services(env: Mapping[str, str] | None = None) -> list[ServiceSpec]:
    env = os.environ if env is None else env
    bind = env.get("GRPC_HOST", "127.0.0.1")
    host = "127.0.0.1" if bind in _ANY else bind
    return [
        ServiceSpec(service.name, instance.index, instance.port, bind, host)
        for service in topology(env).services
        for instance in service.instances
    ]


def targets(specs: list[ServiceSpec]) -> dict[str, str]:
    return {spec.label: spec.target for spec in specs}


def child_env(
    spec: ServiceSpec, mesh: Topology, database_url: str, base: Mapping[str, str]
) -> dict[str, str]:
    """The instance's environment: ours, plus its database, its port, every
    instance of the other services (it balances over the healthy ones) and
    the keys in the state folder's secrets (`prepare.ensure_secrets`)."""
    return {
        **base,
        **secrets.Secrets(secrets.folder(base)).service_env(),
        "DATABASE_URL": database_url,
        "GRPC_PORT": str(spec.port),
        **{
            f"{other.name.upper()}_TARGET": other.target
            for other in mesh.services
            if other.name != spec.name
        },
    }


def ports_taken(specs: list[ServiceSpec], mesh: Topology) -> str | None:
    """Why the mesh cannot listen where it should, if it cannot."""
    wanted = [
        (f"{spec.label} {spec.bind}", spec.bind, spec.port, f"{spec.name.upper()}_PORT")
        for spec in specs
    ]
    edge = mesh.edge
    wanted += [
        (f"edge {edge.host}", edge.host, port, variable)
        for port, variable in (
            (edge.https_port, "EDGE_HTTPS_PORT"),
            (edge.http_port, "EDGE_HTTP_PORT"),
            (edge.admin_port, "EDGE_ADMIN_PORT"),
        )
    ]
    taken = [
        (label, port, variable) for label, host, port, variable in wanted if _in_use(host, port)
    ]
    if not taken:
        return None
    ports = ", ".join(f"{label}:{port}" for label, port, _ in taken)
    names = ", ".join(sorted({variable for _, _, variable in taken}))
    return f"already in use: {ports} (another mesh running? `shopmesh down`, or set {names})"


def _in_use(bind: str, port: int) -> bool:
    host = bind.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        # As gRPC does, so that connections in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def endpoints(specs: list[ServiceSpec], mesh: Topology) -> dict[str, list[str]]:
    """What a developer needs to start calling the mesh, by heading."""
    edge = mesh.edge
    base = f"https://localhost:{edge.https_port}"
    width = max(len(s.name) for s in mesh.services)
    token = '"authorization: Bearer $(shopmesh token --customer-id 1)"'
    ca = console.show(secrets.folder(os.environ) / secrets.CA)
    return {
        "edge": [
            f"{base}  (REST and gRPC over TLS; http://localhost:{edge.http_port} redirects)",
            f"{base}/docs  (OpenAPI, interactive)",
            f"http://127.0.0.1:{edge.admin_port}/stats/prometheus  (metrics)",
        ],
        "services": [
            f"{service.name:<{width}}  "
            + ", ".join(i.address for i in service.instances)
            + "  (gRPC, plaintext, loopback)"
            for service in mesh.services
        ],
        "try": [
            f"curl --cacert {ca} -H {token} {base}/v1/products",
            f"grpcurl -insecure -H {token} localhost:{edge.https_port} "
            "shopmesh.orders.v1.OrderService/ListProducts",
        ],
    }
