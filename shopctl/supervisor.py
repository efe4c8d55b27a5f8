"""`shopmesh run`: the database, then the three services as child processes,
watched until Ctrl-C or SIGTERM, or until one of them dies.

The embedded database (when DATABASE_URL is unset) lives as long as this
process: it is released after the services have stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from gateway_envoy.topology import Topology
from shopctl import console, edge, health, logtail, mesh, prepare, secrets, state
from shopctl.database import Database
from shopctl.mesh import ServiceSpec

# Printed as the last line of a successful start; `shopmesh up` waits for it.
READY = "ready"
# Seconds the services get to stop after SIGTERM before they are killed.
STOP_TIMEOUT = 15.0
# Seconds between looks at the running services.
WATCH_INTERVAL = 0.5
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stop(BaseException):
    """A signal asked us to stop. A BaseException, so that no library's
    `except Exception` swallows it."""


@dataclass
class Child:
    """A process we started: a service instance or the edge."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    # Where this run's part of the (appended) log begins.
    log_start: int
    follower: logtail.Follower = field(init=False)

    def __post_init__(self) -> None:
        self.follower = logtail.Follower(self.log, self.log_start)

    def obituary(self) -> str | None:
        """What to say if the process has exited, with the end of its log."""
        code = self.proc.poll()
        if code is None:
            return None
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
        lines = logtail.tail(self.log, 20, self.log_start) or ["(its log is empty)"]
        return "\n".join(
            [f"{self.name} {how}; the end of {console.show(self.log)}:", *(f"  {x}" for x in lines)]
        )


def run(*, within: float) -> int:
    """Start everything, wait until every instance is healthy and the edge
    sees them all, then watch."""
    topology = mesh.topology()
    specs = mesh.services()
    if (pid := state.running_supervisor()) is not None:
        raise console.Failure(f"the mesh is already running (pid {pid}); `shopmesh down` stops it")
    if taken := mesh.ports_taken(specs, topology):
        raise console.Failure(taken)
    console.step("shopmesh", f"starting the mesh; state in {console.show(state.state_dir())}")
    children: list[Child] = []
    db: Database | None = None
    state.write_pid(os.getpid())
    try:
        with _signals_stop():
            db = prepare.open_database()
            engine = prepare.engine_for(db)
            try:
                prepare.migrate(engine)
                prepare.load_demo_data(engine)
            finally:
                engine.dispose()
            for spec in specs:
                children.append(_spawn_instance(spec, topology, db.url))
            if problem := _wait_healthy(children, specs, within):
                console.error("failed", problem)
                return 1
            children.append(_spawn_edge(topology))
            edge.wait_ready(topology, within=within, failure=lambda: _failure(children))
            console.step("edge", "every instance in rotation")
            _announce(specs, topology)
            return _watch(children)
    except Stop as stop:
        console.step("stopping", f"on {stop}")
        return 0
    finally:
        _stop(children)
        if db is not None and db.release():
            console.step("database", "stopped")
        state.remove_pid(os.getpid())


@contextlib.contextmanager
def _signals_stop() -> Iterator[None]:
    """Turn the stop signals into Stop while starting and watching; ignore
    them while stopping, which is bounded anyway."""

    def raise_stop(signum: int, _frame: object) -> None:
        raise Stop(signal.Signals(signum).name)

    previous = {signum: signal.signal(signum, raise_stop) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum in previous:
            signal.signal(signum, signal.SIG_IGN)


def _spawn_instance(spec: ServiceSpec, topology: Topology, database_url: str) -> Child:
    child = _spawn(
        spec.label,
        [sys.executable, "-m", spec.name],
        mesh.child_env(spec, topology, database_url, os.environ),
    )
    console.step(spec.label, f"starting on {spec.target} (log {console.show(child.log)})")
    return child


def _spawn_edge(topology: Topology) -> Child:
    config = edge.write_config(topology, secrets.folder(os.environ))
    console.step("edge", f"config {console.show(config)} checked by envoy --mode validate")
    child = _spawn("envoy", edge.command(config), dict(os.environ))
    console.step("edge", f"starting on :{topology.edge.https_port} (log {console.show(child.log)})")
    return child


def _spawn(name: str, command: list[str], env: dict[str, str]) -> Child:
    log = state.log_path(name)
    log.parent.mkdir(parents=True, exist_ok=True)
    start = logtail.size(log)
    with log.open("ab") as output:
        proc = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            # Its own process group, so that a Ctrl-C in the terminal reaches
            # only us, and we stop the edge before the instances, in order.
            process_group=0,
        )
    return Child(name, proc, log, start)


def _failure(children: list[Child]) -> str | None:
    _echo_errors(children)
    return next((text for child in children if (text := child.obituary())), None)


def _wait_healthy(children: list[Child], specs: list[ServiceSpec], within: float) -> str | None:
    """None once every instance is SERVING; otherwise what went wrong."""
    try:
        health.wait_serving(
            mesh.targets(specs),
            within=within,
            on_serving=lambda name: console.step(name, "healthy"),
            failure=lambda: _failure(children),
        )
    except health.NotHealthy as error:
        return str(error)
    return None


def _announce(specs: list[ServiceSpec], topology: Topology) -> None:
    for label, lines in mesh.endpoints(specs, topology).items():
        for n, line in enumerate(lines):
            console.step("" if n else label, line)
    console.step("logs", console.show(state.logs_dir()))
    console.step(READY, "every service is SERVING; Ctrl-C or `shopmesh down` stops them")


def _watch(children: list[Child]) -> int:
    """Until a signal arrives (Stop), or a service dies: then say which and fail."""
    while True:
        _echo_errors(children)
        for child in children:
            if obituary := child.obituary():
                console.error("died", obituary)
                return 1
        time.sleep(WATCH_INTERVAL)


def _echo_errors(children: list[Child]) -> None:
    for child in children:
        for line in child.follower.lines():
            if text := logtail.loud(line):
                console.error(child.name, text)


def _stop(children: list[Child]) -> None:
    # The edge first, so that no new request reaches a stopping instance;
    # then the instances, together.
    edge_first = (
        [c for c in children if c.name == "envoy"],
        [c for c in children if c.name != "envoy"],
    )
    for group in edge_first:
        _stop_group([child for child in group if child.proc.poll() is None])


def _stop_group(running: list[Child]) -> None:
    if not running:
        return
    console.step("stopping", ", ".join(child.name for child in running))
    for child in running:
        with contextlib.suppress(ProcessLookupError):
            child.proc.terminate()
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in running:
        try:
            child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            console.error(child.name, f"still running {STOP_TIMEOUT:g}s after SIGTERM; killed")
            child.proc.kill()
            child.proc.wait()
    console.step("stopped", ", ".join(child.name for child in running))
