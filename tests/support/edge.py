"""The whole mesh behind the real Envoy, for tests: every service twice (as
`make run` starts it), Envoy on free ports with the test secrets, waited for
until Envoy itself sees every instance healthy."""

from __future__ import annotations

import json
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from gateway_envoy import render
from gateway_envoy.topology import GRPC_SERVICES, Edge, EdgeFiles, Instance, Service, Topology
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, service_process


@dataclass
class EdgeMesh:
    topology: Topology
    instances: dict[str, list[ServiceProcess]]
    envoy: subprocess.Popen
    envoy_log: Path
    ca_file: Path

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self.topology.edge.https_port}"

    def client(self, timeout: float = 15) -> httpx.Client:
        """An HTTPS client that trusts the edge's development CA."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return httpx.Client(base_url=self.base_url, verify=context, timeout=timeout)

    @property
    def grpc_target(self) -> str:
        return f"localhost:{self.topology.edge.https_port}"

    def admin(self, path: str) -> str:
        url = f"http://127.0.0.1:{self.topology.edge.admin_port}{path}"
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.read().decode()

    def healthy_instances(self, service: str) -> set[int]:
        """Ports of the instances Envoy currently sends `service` traffic to."""
        healthy = set()
        for line in self.admin("/clusters").splitlines():
            parts = line.split("::")
            if parts[0] == service and parts[2:] == ["health_flags", "healthy"]:
                healthy.add(int(parts[1].rsplit(":", 1)[1]))
        return healthy

    def wait_healthy(self, service: str, ports: set[int], within: float = 20) -> None:
        deadline = time.monotonic() + within
        while self.healthy_instances(service) != ports:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Envoy sees {self.healthy_instances(service)} healthy, want {ports}"
                )
            time.sleep(0.1)

    def access_log(self) -> list[dict]:
        return [
            json.loads(line)
            for line in self.envoy_log.read_text().splitlines()
            if line.startswith("{")
        ]


def topology(instances: int = 2, rate_per_second: int = 1000) -> Topology:
    services = tuple(
        Service(
            name,
            grpc,
            tuple(Instance(name, n, "127.0.0.1", free_port()) for n in range(instances)),
        )
        for name, grpc in GRPC_SERVICES.items()
    )
    edge = Edge(
        https_port=free_port(),
        http_port=free_port(),
        admin_port=free_port(),
        rate_per_second=rate_per_second,
    )
    return Topology(services, edge)


@contextmanager
def running_edge(
    database_url: str, service_env: Mapping[str, str], secrets: Path, mesh: Topology
) -> Iterator[EdgeMesh]:
    env = {
        **service_env,
        "DATABASE_URL": database_url,
        "OUTBOX_BACKOFF_SECONDS": "0.1",
        **{f"{s.name.upper()}_TARGET": s.target for s in mesh.services},
    }
    with ExitStack() as stack:
        instances = {
            service.name: [
                stack.enter_context(service_process(service.name, env, port=instance.port))
                for instance in service.instances
            ]
            for service in mesh.services
        }
        yield stack.enter_context(envoy_in_front(mesh, instances, secrets))


@contextmanager
def envoy_in_front(
    mesh: Topology, instances: dict[str, list[ServiceProcess]], secrets: Path
) -> Iterator[EdgeMesh]:
    """Envoy on `mesh`'s edge ports in front of `instances` (already
    started, on the ports `mesh` lists); yields once Envoy itself sees every
    one of them healthy, stops Envoy at the end. The bench uses it too
    (bench/edge.py)."""
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edge-")))
        files = EdgeFiles(
            descriptor_set=render.DESCRIPTOR_SET,
            certificate=secrets / "server.pem",
            private_key=secrets / "server-key.pem",
            jwks=secrets / "edge-jwks.json",
        )
        config = render.write(mesh, files, scratch)
        log = scratch / "envoy.log"
        with log.open("wb") as output:
            envoy = subprocess.Popen(
                [
                    render.envoy_binary(),
                    "-c",
                    str(config),
                    "--use-dynamic-base-id",
                    "--log-level",
                    "warn",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        stack.callback(_stop, envoy)
        edge = EdgeMesh(mesh, instances, envoy, log, secrets / "ca.pem")
        _wait_ready(edge)
        for service in mesh.services:
            edge.wait_healthy(service.name, {i.port for i in service.instances})
        yield edge


def _wait_ready(edge: EdgeMesh, within: float = 20) -> None:
    deadline = time.monotonic() + within
    while True:
        if edge.envoy.poll() is not None:
            raise RuntimeError(f"envoy exited:\n{edge.envoy_log.read_text()[-3000:]}")
        try:
            if edge.admin("/ready").strip() == "LIVE":
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"envoy not ready:\n{edge.envoy_log.read_text()[-3000:]}")
        time.sleep(0.05)


def _stop(envoy: subprocess.Popen) -> None:
    envoy.terminate()
    try:
        envoy.wait(timeout=10)
    except subprocess.TimeoutExpired:
        envoy.kill()
        envoy.wait()
