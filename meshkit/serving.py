"""Run a service: gRPC server, health, reflection, outbox relays, graceful stop.

Health follows the database: NOT_SERVING while it is unreachable (a load
balancer then routes around this instance), and NOT_SERVING again as soon as
SIGTERM arrives, before calls in flight are given `shutdown_grace` to finish.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy import Engine

from meshkit import auth, config, db, logs
from meshkit.config import Settings
from meshkit.interceptors import ServerInterceptor
from meshkit.outbox import Relay

log = logging.getLogger("meshkit.serving")

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class Service:
    """What a service hands to `run()`."""

    settings: Settings
    engine: Engine
    # Adds the servicers to the server; returns their full service names.
    register: Callable[[grpc.Server], Sequence[str]]
    relays: Iterable[Relay] = ()
    # Extra background loops (e.g. a notification fan-out); each gets the stop event.
    workers: Iterable[Callable[[threading.Event], None]] = ()
    # Channels to other services, closed once the relays have stopped.
    channels: Sequence[grpc.Channel] = ()
    # By default, the one that verifies callers' tokens with `settings.auth`.
    interceptor: grpc.ServerInterceptor | None = None
    health_probe_interval: float = 1.0
    max_workers: int = 32


@dataclass
class Running:
    server: grpc.Server
    health: health.HealthServicer
    port: int
    stop: threading.Event
    threads: list[threading.Thread]
    service: Service

    def shutdown(self, grace: float) -> None:
        """Report NOT_SERVING, let calls in flight finish within `grace`, then
        let the relays finish the batch they are on, and close the pool."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=grace + 5)
        for channel in self.service.channels:
            channel.close()
        self.service.engine.dispose()


STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def main(name: str, default_port: int, build: Callable[[Settings], Service]) -> None:
    """All of a service's `__main__`: read settings, serve until SIGTERM or
    SIGINT, then stop gracefully."""
    # Block the stop signals before any thread exists (threads inherit the
    # mask) and wait for them synchronously in run(). A Python signal handler
    # would run at an arbitrary point of the main thread instead: a second
    # signal landing while the first one's shutdown holds a lock deadlocked
    # it (seen with SIGINT then SIGTERM in quick succession).
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    settings = config.load(name, default_port)
    logs.configure(name, settings.log_level)
    run(build(settings))


def run(service: Service) -> None:
    """Serve until a stop signal arrives (blocked by main()), then stop gracefully."""
    running = start(service)
    log.info("serving", extra={"port": running.port})
    received = signal.sigwait(STOP_SIGNALS)
    log.info(
        "stopping",
        extra={"signal": signal.Signals(received).name, "grace_s": service.settings.shutdown_grace},
    )
    running.shutdown(service.settings.shutdown_grace)
    log.info("stopped")


def start(service: Service) -> Running:
    """Start serving, with the health probe, relays and workers in the background."""
    settings = service.settings
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=service.max_workers),
        interceptors=[service.interceptor or ServerInterceptor(auth.Verifier(settings.auth))],
        # A second process on the same port must fail loudly, not share it.
        options=[("grpc.so_reuseport", 0)],
    )
    names = list(service.register(server))
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [
            *names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )
    for name in ("", *names):
        health_servicer.set(name, NOT_SERVING)
    port = server.add_insecure_port(f"{settings.host}:{settings.port}")
    if port == 0:
        raise SystemExit(f"{settings.service}: cannot listen on {settings.host}:{settings.port}")
    server.start()

    def watch_database(stop: threading.Event) -> None:
        serving: bool | None = None
        while not stop.is_set():
            reachable = db.is_reachable(service.engine)
            if reachable != serving:
                serving = reachable
                status = SERVING if reachable else NOT_SERVING
                for name in ("", *names):
                    health_servicer.set(name, status)
                log.log(
                    logging.INFO if reachable else logging.ERROR,
                    "database reachable" if reachable else "database unreachable; NOT_SERVING",
                )
            stop.wait(service.health_probe_interval)

    stop = threading.Event()
    loops = [watch_database, *(relay.run for relay in service.relays), *service.workers]
    threads = [threading.Thread(target=loop, args=(stop,), daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    return Running(server, health_servicer, port, stop, threads, service)
