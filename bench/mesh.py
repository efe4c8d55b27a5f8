"""The bench's own mesh: a migrated database and real service processes on
free loopback ports, always stopped at the end."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from bench import cpu
from meshkit.db import make_engine
from shopctl import database
from tests.support import keys
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, service_process, wait_serving

SERVICES = ("orders", "shipping", "notifications")


@dataclass(frozen=True)
class Instance:
    label: str  # `orders-1`
    process: ServiceProcess

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid


@dataclass(frozen=True)
class Mesh:
    instances: list[Instance]

    def of(self, service: str) -> list[Instance]:
        return [i for i in self.instances if i.process.module == service]

    def target(self, service: str) -> str:
        """Every instance of `service`, for a client balancing over them."""
        return balanced(i.process.target for i in self.of(service))


def balanced(targets: Iterable[str]) -> str:
    """`ipv4:127.0.0.1:P1,127.0.0.1:P2`: one channel, every instance
    (meshkit/channels.py balances such a target round-robin)."""
    return "ipv4:" + ",".join(targets)


@dataclass(frozen=True)
class Database:
    url: str
    # Whether the server is the bench's alone (else its CPU time includes
    # whatever else uses it).
    embedded: bool


@contextmanager
def scratch_database(folder: Path) -> Iterator[Database]:
    """DATABASE_URL if set (a database the bench may fill: use a scratch one),
    else an embedded PostgreSQL in `folder`, stopped at the end; migrated."""
    with ExitStack() as stack:
        url = os.environ.get("DATABASE_URL", "")
        embedded = not url
        if embedded:
            server = database.embedded_server(folder / "pg")
            # Stop it before `folder` is deleted, not at interpreter exit.
            stack.callback(server.cleanup)
            database.ensure_database(server.get_uri("postgres"), "bench")
            url = server.get_uri("bench")
        engine = make_engine(url, application_name="bench-migrate", pool_size=1)
        try:
            database.upgrade(engine)
        finally:
            engine.dispose()
        yield Database(url, embedded)


@contextmanager
def running(database_url: str, instances: Mapping[str, int]) -> Iterator[Mesh]:
    """`instances[service]` processes of each service, each told where every
    instance of the others listens; yields once all report SERVING."""
    ports = {name: [free_port() for _ in range(instances[name])] for name in SERVICES}
    env = {
        "DATABASE_URL": database_url,
        # As users run it: a line for every call, which costs CPU too, and
        # which bench/handler_costs.py reads each handler's cost from.
        "LOG_LEVEL": "INFO",
        **keys.service_env(),
        **{
            f"{name.upper()}_TARGET": balanced([f"127.0.0.1:{p}" for p in ports[name]])
            for name in SERVICES
        },
    }
    with ExitStack() as stack:
        # Start them all, then wait: they come up in parallel.
        started = [
            Instance(
                f"{name}-{n + 1}",
                stack.enter_context(service_process(name, env, port=port, ready=False)),
            )
            for name in SERVICES
            for n, port in enumerate(ports[name])
        ]
        for instance in started:
            process = instance.process
            wait_serving(process.target, within=30, proc=process.proc, log_path=process.log_path)
        yield Mesh(started)


def postmaster_pid(engine: Engine) -> int | None:
    """The PostgreSQL server's main process, if it runs on this machine (its
    backends are its children); None for a server elsewhere."""
    with engine.connect() as connection:
        backend = connection.scalar(text("SELECT pg_backend_pid()"))
    if backend is None or not cpu.is_local(backend, ("postgres",)):
        return None
    parent = cpu.parent_of(backend)
    return parent if cpu.is_local(parent, ("postgres", "postmaster")) else None
