"""Health follows what a load balancer needs to know."""

from __future__ import annotations

import signal

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.ports import free_port
from tests.support.processes import service_process

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def test_a_service_whose_database_is_unreachable_is_not_serving(
    service_env: dict[str, str],
) -> None:
    unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    env = {**service_env, "DATABASE_URL": unreachable}
    with (
        service_process("orders", env, ready=False) as orders,
        grpc.insecure_channel(orders.target) as channel,
    ):
        health = health_pb2_grpc.HealthStub(channel)
        reply = health.Check(health_pb2.HealthCheckRequest(), timeout=10, wait_for_ready=True)
        assert reply.status == NOT_SERVING
        assert orders.proc is not None and orders.proc.poll() is None, "it keeps running"


def test_sigterm_turns_health_not_serving_before_a_clean_exit(
    database_url: str, service_env: dict[str, str]
) -> None:
    with (
        service_process("orders", {**service_env, "DATABASE_URL": database_url}) as orders,
        grpc.insecure_channel(orders.target) as channel,
    ):
        watch = health_pb2_grpc.HealthStub(channel).Watch(
            health_pb2.HealthCheckRequest(), timeout=15
        )
        assert next(watch).status == SERVING
        assert orders.proc is not None
        orders.proc.send_signal(signal.SIGTERM)
        assert next(watch).status == NOT_SERVING
        assert orders.proc.wait(timeout=15) == 0


def test_a_second_stop_signal_during_shutdown_does_not_hang_it(
    database_url: str, service_env: dict[str, str]
) -> None:
    # What a terminal does on Ctrl-C followed by a supervisor's SIGTERM. The
    # race this guards against was hit about once in six tries.
    for _ in range(4):
        with service_process(
            "notifications", {**service_env, "DATABASE_URL": database_url}
        ) as notifications:
            assert notifications.proc is not None
            notifications.proc.send_signal(signal.SIGINT)
            notifications.proc.send_signal(signal.SIGTERM)
            assert notifications.proc.wait(timeout=15) == 0
