"""The two gRPC servers a service can run on, with health and reflection,
behind one face for `meshkit.serving`.

- `Threaded`: grpcio's thread-pool server. The cheapest per unary call
  (a bare echo costs 0.22 ms of CPU a call on it, 0.37 ms on grpc.aio with a
  plain method), but each call holds one of its threads until it ends, so a
  few dozen open streams use them all up.
- `Asynchronous`: grpc.aio on an event loop in a thread of its own. An
  `async def` method runs as a coroutine there, so a stream that mostly waits
  (WatchNotifications) costs a coroutine, not a thread; plain methods run in
  a thread pool, as on the threaded server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from concurrent import futures
from typing import Any, Protocol, TypeVar

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from meshkit import auth
from meshkit.interceptors import AsyncServerInterceptor, ServerInterceptor

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
HealthStatus = int  # SERVING or NOT_SERVING

# Adds the servicers to a server; returns their full service names.
Register = Callable[[Any], Sequence[str]]

# A second process on the same port must fail loudly, not share it.
_OPTIONS = [("grpc.so_reuseport", 0)]
# Calls that arrive faster than the event loop takes them up wait rather than
# end CANCELLED. gRPC's defaults (1,000, and all beyond 3,000) shed streams
# when thousands of watchers reconnect at once, as after a restart: of 5,000
# opened together on a bare grpc.aio server, 883 and 1,726 ended CANCELLED
# in two runs; none with these.
_BACKLOG = [
    ("grpc.server.max_pending_requests", 20_000),
    ("grpc.server.max_pending_requests_hard_limit", 40_000),
]

T = TypeVar("T")


class Server(Protocol):
    port: int

    def set_health(self, status: HealthStatus) -> None:
        """Report `status` for the server and each of its services."""

    def stop(self, grace: float) -> None:
        """Report NOT_SERVING for good, then stop, letting calls in flight
        finish within `grace` seconds."""


class CannotListen(Exception):
    pass


def _register_all(server: Any, register: Register, health_servicer: Any) -> list[str]:
    names = list(register(server))
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    return ["", *names]


class Threaded:
    def __init__(
        self, register: Register, verifier: auth.Verifier, address: str, max_workers: int
    ) -> None:
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers),
            interceptors=[ServerInterceptor(verifier)],
            options=_OPTIONS,
        )
        self._health = health.HealthServicer(experimental_non_blocking=True)
        self._names = _register_all(self._server, register, self._health)
        self.set_health(NOT_SERVING)
        self.port = self._server.add_insecure_port(address)
        if self.port == 0:
            raise CannotListen(address)
        self._server.start()

    def set_health(self, status: HealthStatus) -> None:
        for name in self._names:
            self._health.set(name, status)

    def stop(self, grace: float) -> None:
        self._health.enter_graceful_shutdown()
        self._server.stop(grace).wait()


class Asynchronous:
    def __init__(
        self, register: Register, verifier: auth.Verifier, address: str, max_workers: int
    ) -> None:
        # grpc.aio objects may only be used from their loop's thread: every
        # step below runs there, handed over by _on_loop().
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="grpc-aio", daemon=True)
        self._thread.start()
        self._pool = futures.ThreadPoolExecutor(max_workers=max_workers)
        # Once stopping, health is no longer set: the loop may be gone.
        self._stopping = threading.Lock()
        self._stopped = False
        try:
            self.port = self._on_loop(self._start(register, verifier, address))
        except BaseException:
            self._close_loop()
            raise

    async def _start(self, register: Register, verifier: auth.Verifier, address: str) -> int:
        self._server = grpc.aio.server(
            migration_thread_pool=self._pool,
            interceptors=[AsyncServerInterceptor(verifier)],
            options=[*_OPTIONS, *_BACKLOG],
        )
        self._health = health.aio.HealthServicer()
        self._names = _register_all(self._server, register, self._health)
        await self._set_health(NOT_SERVING)
        port = self._server.add_insecure_port(address)
        if port == 0:
            raise CannotListen(address)
        await self._server.start()
        return port

    def _on_loop(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _set_health(self, status: HealthStatus) -> None:
        for name in self._names:
            await self._health.set(name, status)

    def set_health(self, status: HealthStatus) -> None:
        with self._stopping:
            if not self._stopped:
                self._on_loop(self._set_health(status))

    async def _stop(self, grace: float) -> None:
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)

    def stop(self, grace: float) -> None:
        with self._stopping:
            self._stopped = True
        self._on_loop(self._stop(grace))
        self._close_loop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
