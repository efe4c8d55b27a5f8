"""`shopmesh up`, `down` and `status`: the supervisor run in the background,
found again through its pid file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

from shopctl import console, database, edge, health, logtail, mesh, state, supervisor

# Seconds `down` waits for the supervisor, which itself gives the services
# supervisor.STOP_TIMEOUT to stop.
DOWN_TIMEOUT = supervisor.STOP_TIMEOUT + 15
POLL = 0.1


def up(*, within: float) -> int:
    """Start `shopmesh run` detached; return once every service is SERVING."""
    specs = mesh.services()
    if (pid := state.running_supervisor()) is not None:
        console.step("up", f"already running (pid {pid})")
        return status()
    if taken := mesh.ports_taken(specs, mesh.topology()):
        raise console.Failure(taken)
    launched = _Launched(within)
    try:
        health.wait_serving(mesh.targets(specs), within=within, failure=launched.failure)
        launched.wait_ready(within=10)
    except (health.NotHealthy, KeyboardInterrupt) as error:
        launched.stop()
        if isinstance(error, KeyboardInterrupt):
            raise
        raise console.Failure(f"{error} (see {console.show(launched.log)})") from None
    console.step(
        "up",
        f"running in the background (pid {launched.proc.pid}, log {console.show(launched.log)}); "
        "`shopmesh status`, `shopmesh down`",
    )
    return 0


class _Launched:
    """The detached `shopmesh run` that `up` started, and what it has said."""

    def __init__(self, within: float) -> None:
        self.log = state.log_path("mesh")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.follower = logtail.Follower(self.log, logtail.size(self.log))
        self.ready = False
        with self.log.open("ab") as output:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "shopctl", "run", "--timeout", f"{within:g}"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                # Its own session: not stopped by this terminal's Ctrl-C or hang-up.
                start_new_session=True,
            )

    def relay(self) -> None:
        """Print what it printed since last time, up to its ready line."""
        for line in self.follower.lines():
            self.ready = self.ready or line.startswith(supervisor.READY)
            if not self.ready:
                print(line, flush=True)

    def failure(self) -> str | None:
        self.relay()
        if self.proc.poll() is None:
            return None
        # Its last words have just been relayed.
        return f"the supervisor exited with {self.proc.returncode}"

    def wait_ready(self, within: float) -> None:
        """Healthy services are not enough: it must have finished starting."""
        deadline = time.monotonic() + within
        while not self.ready:
            if reason := self.failure():
                raise health.NotHealthy(reason)
            if time.monotonic() > deadline:
                raise health.NotHealthy("the supervisor never said it was ready")
            time.sleep(POLL)

    def stop(self) -> None:
        if self.proc.poll() is None:
            _stop_supervisor(self.proc.pid)
        self.relay()


def down() -> int:
    """SIGTERM the supervisor and wait until it has stopped everything."""
    pid = state.running_supervisor()
    if pid is None:
        with contextlib.suppress(OSError):
            state.pid_path().unlink()
        console.step("down", "not running")
        return 0
    console.step("down", f"stopping the mesh (pid {pid})")
    if not _stop_supervisor(pid):
        console.error("down", f"no answer within {DOWN_TIMEOUT:g}s; killed it and its services")
        if "DATABASE_URL" not in os.environ and database.stop_embedded():
            console.step("database", "stopped")
        return 1
    console.step("down", "stopped")
    return 0


def _stop_supervisor(pid: int) -> bool:
    """SIGTERM, then wait; False if it (and its services) had to be killed."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + DOWN_TIMEOUT
    while state.is_running(pid):
        if time.monotonic() > deadline:
            for process in [*state.children_of(pid), pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process, signal.SIGKILL)
            state.remove_pid(pid)
            return False
        time.sleep(POLL)
    return True


def status() -> int:
    """Each service's health; exit 0 only when all are SERVING."""
    pid = state.running_supervisor()
    console.step("supervisor", f"running (pid {pid})" if pid else "not running")
    healthy = True
    for spec in mesh.services():
        answer = health.check(spec.target)
        healthy = healthy and answer == health.SERVING
        console.step(spec.label, f"{spec.target:<21} {answer}")
    topology = mesh.topology()
    try:
        waiting = edge.unhealthy(topology)
        answer = "READY" if not waiting else "waiting for " + ", ".join(waiting)
    except OSError:
        answer = "NOT RUNNING"
    healthy = healthy and answer == "READY"
    console.step("edge", f"https://localhost:{topology.edge.https_port:<7} {answer}")
    return 0 if healthy else 1
