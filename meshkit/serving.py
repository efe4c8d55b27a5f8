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
from dataclasses import dataclass

import grpc
from sqlalchemy import Engine

from meshkit import auth, config, db, logs, servers
from meshkit.config import Settings
from meshkit.outbox import Relay

log = logging.getLogger("meshkit.serving")

SERVING = servers.SERVING
NOT_SERVING = servers.NOT_SERVING


@dataclass
class Service:
    """What a service hands to `run()`."""

    settings: Settings
    engine: Engine
    register: servers.Register
    relays: Iterable[Relay] = ()
    # Extra background loops (e.g. a notification fan-out); each gets the stop event.
    workers: Iterable[Callable[[threading.Event], None]] = ()
    # Channels to other services, closed once the relays have stopped.
    channels: Sequence[grpc.Channel] = ()
    health_probe_interval: float = 1.0
    # Threads for calls (for plain methods only, on grpc.aio).
    max_workers: int = 32
    # Serve on grpc.aio (meshkit/servers.py): for services with streams that
    # mostly wait, written as `async def`.
    asynchronous: bool = False


@dataclass
class Running:
    server: servers.Server
    stop: threading.Event
    threads: list[threading.Thread]
    service: Service

    @property
    def port(self) -> int:
        return self.server.port

    def shutdown(self, grace: float) -> None:
        """Report NOT_SERVING, let calls in flight finish within `grace`, then
        let the relays finish the batch they are on, and close the pool."""
        self.server.stop(grace)
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
    flavour = servers.Asynchronous if service.asynchronous else servers.Threaded
    address = f"{settings.host}:{settings.port}"
    try:
        server = flavour(
            service.register, auth.Verifier(settings.auth), address, service.max_workers
        )
    except servers.CannotListen:
        raise SystemExit(f"{settings.service}: cannot listen on {address}") from None

    def watch_database(stop: threading.Event) -> None:
        serving: bool | None = None
        while not stop.is_set():
            reachable = db.is_reachable(service.engine)
            if reachable != serving:
                serving = reachable
                server.set_health(SERVING if reachable else NOT_SERVING)
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
    return Running(server, stop, threads, service)
