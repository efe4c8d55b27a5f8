"""Envoy in front of the services: its config written from the topology, and
how to tell that it is ready (listening, and seeing every instance healthy)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from gateway_envoy import render
from gateway_envoy.topology import Topology
from shopctl import console, state

POLL = 0.1


def write_config(topology: Topology, secrets: Path) -> Path:
    """Generate envoy.json into the state folder and have Envoy check it."""
    try:
        path = render.write(topology, render.edge_files(secrets), state.state_dir() / "envoy")
        render.validate(path)
    except render.InvalidConfig as invalid:
        raise console.Failure(f"edge config: {invalid}") from None
    return path


def command(config: Path) -> list[str]:
    return [
        render.envoy_binary(),
        "-c",
        str(config),
        "--log-level",
        "warn",
        # Several meshes (tests) may run side by side on one machine.
        "--use-dynamic-base-id",
    ]


def admin(topology: Topology, path: str) -> str:
    url = f"http://127.0.0.1:{topology.edge.admin_port}{path}"
    with urllib.request.urlopen(url, timeout=2) as reply:
        return reply.read().decode()


def unhealthy(topology: Topology) -> list[str]:
    """The instances Envoy does not (yet) send traffic to, as `service address`."""
    flags = {}
    for line in admin(topology, "/clusters").splitlines():
        parts = line.split("::")
        if len(parts) == 4 and parts[2] == "health_flags":
            flags[(parts[0], parts[1])] = parts[3]
    return [
        f"{service.name} {instance.address}"
        for service in topology.services
        for instance in service.instances
        if flags.get((service.name, instance.address)) != "healthy"
    ]


def wait_ready(topology: Topology, *, within: float, failure: Callable[[], str | None]) -> None:
    """Return once Envoy is live and health-checks every instance as healthy."""
    deadline = time.monotonic() + within
    why = "not answering on its admin port"
    while True:
        if reason := failure():
            raise console.Failure(reason)
        try:
            if admin(topology, "/ready").strip() == "LIVE":
                waiting = unhealthy(topology)
                if not waiting:
                    return
                why = "waiting for health checks of " + ", ".join(waiting)
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise console.Failure(f"edge not ready within {within:g}s: {why}")
        time.sleep(POLL)
