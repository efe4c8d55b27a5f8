"""`shopmesh up`, `status` and `down` as a developer runs them: the real
command, the real services, the embedded database (or DATABASE_URL's server
when the tests run against one)."""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import func
from sqlalchemy.orm import Session, sessionmaker

from meshkit.db import transaction
from orders.tables import OrdersOutbox
from shopctl import state
from shopmesh.orders.v1 import orders_pb2, orders_pb2_grpc
from tests.support.ports import free_base_port, free_port

SERVICES = ("orders", "shipping", "notifications")
# As `make run` starts them.
INSTANCES = 2
SHOPMESH = str(Path(sys.executable).parent / "shopmesh")


def shopmesh(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 60, exit_code: int = 0
) -> str:
    """Run the command; fail with everything it printed unless it exits as expected."""
    done = subprocess.run(
        [SHOPMESH, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    output = done.stdout + done.stderr
    assert done.returncode == exit_code, (
        f"shopmesh {' '.join(args)} exited {done.returncode}:\n{output}"
    )
    return done.stdout


def health(port: int) -> str:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        except grpc.RpcError as error:
            return error.code().name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


def products(port: int, token: str) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = orders_pb2_grpc.OrderServiceStub(channel).ListProducts(
            orders_pb2.ListProductsRequest(),
            metadata=(("authorization", f"Bearer {token}"),),
            timeout=10,
        )
    return len(reply.products)


def running(pids: list[int]) -> list[int]:
    """Those of `pids` still alive: not exited, not zombies."""
    return [pid for pid in pids if state.is_running(pid)]


def modules(pids: list[int]) -> list[str]:
    """What each `python -m <module>` process runs."""
    arguments = (Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") for pid in pids)
    return sorted(
        args[args.index(b"-m") + 1].decode() if b"-m" in args else Path(args[0].decode()).name
        for args in arguments
    )


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path: a pytest session starting meanwhile resets
    # its folder to 0700, and the embedded PostgreSQL runs as another user.
    with tempfile.TemporaryDirectory(prefix="shopmesh-e2e-") as folder:
        yield Path(folder) / "state"


@pytest.fixture
def mesh_env(state_dir: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    env = {
        **os.environ,
        "SHOPMESH_STATE_DIR": str(state_dir),
        **{f"{name.upper()}_PORT": str(free_base_port(INSTANCES)) for name in SERVICES},
        **{f"EDGE_{edge}_PORT": str(free_port()) for edge in ("HTTPS", "HTTP", "ADMIN")},
        "INSTANCES": str(INSTANCES),
        "NOTIFY_CHANNEL": "log",
        "SHUTDOWN_GRACE_SECONDS": "1",
    }
    if os.environ.get("DATABASE_URL"):
        # A database of this test run's own on that server, not its admin database.
        env["DATABASE_URL"] = request.getfixturevalue("database_url")
    else:
        env.pop("DATABASE_URL", None)
    return env


@pytest.mark.database
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_up_starts_every_service_and_down_stops_them_all(
    mesh_env: dict[str, str], state_dir: Path, tmp_path: Path
) -> None:
    ports = {
        f"{name}-{n + 1}": int(mesh_env[f"{name.upper()}_PORT"]) + 10 * n
        for name in SERVICES
        for n in range(INSTANCES)
    }
    https = int(mesh_env["EDGE_HTTPS_PORT"])
    try:
        started = shopmesh("up", "--timeout", "90", env=mesh_env, cwd=tmp_path, timeout=150)
        assert "demo data" in started and "running in the background" in started
        assert re.search(rf"^secrets\s+generated in {state_dir}/secrets$", started, re.M), started
        assert re.search(r"^edge\s+every instance in rotation$", started, re.M), started

        assert {label: health(port) for label, port in ports.items()} == dict.fromkeys(
            ports, "SERVING"
        )
        token = shopmesh("token", "--customer-id", "1", env=mesh_env, cwd=tmp_path).strip()
        assert products(ports["orders-1"], token) > 0, "the services accept `shopmesh token`"
        context = ssl.create_default_context(cafile=str(state_dir / "secrets" / "ca.pem"))
        through_edge = httpx.get(
            f"https://localhost:{https}/v1/products",
            headers={"authorization": f"Bearer {token}"},
            verify=context,
        )
        assert through_edge.status_code == 200 and through_edge.json()["products"]
        status = shopmesh("status", env=mesh_env, cwd=tmp_path, timeout=30)
        for label, port in ports.items():
            assert re.search(rf"^{label}\s+127\.0\.0\.1:{port}\s+SERVING$", status, re.M), status
        assert re.search(rf"^edge\s+https://localhost:{https}\s+READY$", status, re.M), status
        supervisor = int((state_dir / "mesh.pid").read_text())
        services = state.children_of(supervisor)
        assert modules(services) == sorted([*SERVICES] * INSTANCES + ["envoy"])
        for label in [*ports, "envoy"]:
            assert (state_dir / "logs" / f"{label}.log").stat().st_size > 0
    finally:
        stopped = shopmesh("down", env=mesh_env, cwd=tmp_path, timeout=90)

    assert "stopped" in stopped
    assert running([supervisor, *services]) == []
    assert not (state_dir / "mesh.pid").exists()
    assert {label: health(port) for label, port in ports.items()} == dict.fromkeys(
        ports, "UNAVAILABLE"
    )
    if "DATABASE_URL" not in mesh_env:
        assert not (state_dir / "pgdata" / "postmaster.pid").exists(), (
            "the embedded database stopped"
        )


def test_status_and_down_with_nothing_running(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SHOPMESH_STATE_DIR": str(tmp_path / "state"),
        **{f"{name.upper()}_PORT": str(free_base_port(INSTANCES)) for name in SERVICES},
        **{f"EDGE_{edge}_PORT": str(free_port()) for edge in ("HTTPS", "HTTP", "ADMIN")},
    }

    status = shopmesh("status", env=env, cwd=tmp_path, exit_code=1)
    stopped = shopmesh("down", env=env, cwd=tmp_path)

    assert re.search(r"^supervisor\s+not running$", status, re.M), status
    for name in SERVICES:
        for n in range(1, INSTANCES + 1):
            assert re.search(rf"^{name}-{n}\s+\S+\s+UNAVAILABLE$", status, re.M), status
    assert re.search(r"^edge\s+\S+\s+NOT RUNNING$", status, re.M), status
    assert "not running" in stopped


def test_outbox_shows_undeliverable_and_retried_events(
    database_url: str, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    topic = f"test.{uuid.uuid4().hex[:8]}"
    with transaction(sessions) as session:
        session.add_all(
            [
                OrdersOutbox(
                    topic=topic,
                    payload=b"",
                    attempts=1,
                    failed_at=func.now(),
                    last_error="FAILED_PRECONDITION: order 7 was cancelled",
                ),
                OrdersOutbox(
                    topic=topic,
                    payload=b"",
                    attempts=4,
                    available_at=func.now() + timedelta(minutes=5),
                    last_error="UNAVAILABLE: failed to connect to all addresses",
                ),
            ]
        )
    env = {**os.environ, "DATABASE_URL": database_url}

    report = shopmesh("outbox", "--limit", "2", env=env, cwd=tmp_path)

    assert re.search(r"^orders_outbox(\s+\d+){4}$", report, re.M), report
    assert re.search(rf"failed {topic} \(attempts 1, .*\n.*order 7 was cancelled", report), report
    assert re.search(rf"retrying {topic} \(attempts 4, next try .*\n.*UNAVAILABLE", report), report
    for table in ("shipping_outbox", "notifications_outbox"):
        assert re.search(rf"^{table}(\s+\d+){{4}}$", report, re.M), report
