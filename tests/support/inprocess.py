"""A service's real gRPC server, started inside the test process on a free
port, for servicer integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from meshkit import serving
from tests.support.processes import wait_serving


@contextmanager
def running(service: serving.Service, *, ready: bool = True) -> Iterator[str]:
    """Serve `service` (built with GRPC_PORT set to a free port) until the
    block ends; yields its target, with `ready` only once it reports SERVING."""
    running_service = serving.start(service)
    target = f"127.0.0.1:{running_service.port}"
    try:
        if ready:
            wait_serving(target, within=10)
        yield target
    finally:
        running_service.shutdown(grace=0)
