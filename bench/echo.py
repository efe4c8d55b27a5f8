"""`python -m bench.echo`: the GetOrder anchor. A bare gRPC server of the
services' flavour (grpcio's thread-pool server, as many workers as theirs)
that answers GetOrder with fixed bytes: a real GetOrderResponse, read from
ECHO_REPLY_FILE, without looking at the request. It costs what gRPC itself
costs, so GetOrder's calls per second against it show what the services'
own work (auth, SQL, ORM, conversion) leaves of that.

It serves gRPC health too, so that tests/support/processes.py can start and
wait for it like a service; on SIGTERM it stops.
"""

from __future__ import annotations

import os
import signal
from concurrent import futures
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from meshkit.serving import Service
from shopmesh.orders.v1 import orders_pb2

SERVICE = orders_pb2.DESCRIPTOR.services_by_name["OrderService"].full_name


def serve(port: int, reply: bytes) -> grpc.Server:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=Service.max_workers),
        options=[("grpc.so_reuseport", 0)],
    )
    # No (de)serializers: the request arrives as bytes and `reply` leaves as is.
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: reply)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(SERVICE, {"GetOrder": handler}),)
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    if server.add_insecure_port(f"127.0.0.1:{port}") == 0:
        raise SystemExit(f"echo: cannot listen on 127.0.0.1:{port}")
    server.start()
    return server


def main() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    server = serve(int(os.environ["GRPC_PORT"]), Path(os.environ["ECHO_REPLY_FILE"]).read_bytes())
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    server.stop(0)


if __name__ == "__main__":
    main()
