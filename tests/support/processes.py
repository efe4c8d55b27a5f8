"""Real service processes for tests: started on free ports, waited for by
health check (never by sleeping), always stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.ports import free_port


def wait_serving(
    target: str,
    *,
    within: float,
    proc: subprocess.Popen | None = None,
    log_path: str | None = None,
    service: str = "",
) -> None:
    """Block until `target` answers SERVING; fail with the child's log if it
    exits or the time runs out."""
    deadline = time.monotonic() + within
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{target} exited with {proc.returncode}:\n{_tail(log_path)}")
            try:
                reply = stub.Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=0.5, wait_for_ready=True
                )
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                # NOT_SERVING: the service is up but not ready; block on Watch briefly.
                for update in stub.Watch(
                    health_pb2.HealthCheckRequest(service=service), timeout=0.5
                ):
                    if update.status == health_pb2.HealthCheckResponse.SERVING:
                        return
            except grpc.RpcError:
                pass
    raise TimeoutError(f"{target} not SERVING within {within}s:\n{_tail(log_path)}")


def _tail(path: str | None, lines: int = 40) -> str:
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as log:
        return "".join(log.readlines()[-lines:])


@dataclass
class ServiceProcess:
    module: str
    port: int
    env: dict[str, str]
    log_path: str
    proc: subprocess.Popen | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def spawn(self) -> subprocess.Popen:
        """Start the process without waiting for it to be ready."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self.proc

    def start(self, within: float = 20) -> None:
        wait_serving(self.target, within=within, proc=self.spawn(), log_path=self.log_path)

    def stop(self, timeout: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        """Everything the process has logged so far."""
        with open(self.log_path, errors="replace") as log:
            return log.read()


@contextmanager
def service_process(
    module: str, env: Mapping[str, str], *, port: int | None = None, ready: bool = True
) -> Iterator[ServiceProcess]:
    """Run `python -m module`; with `ready`, only once it reports SERVING."""
    port = port or free_port()
    fd, log_path = tempfile.mkstemp(prefix=f"{module}-", suffix=".log")
    os.close(fd)
    child_env = {**os.environ, **env, "GRPC_PORT": str(port), "SHUTDOWN_GRACE_SECONDS": "1"}
    process = ServiceProcess(module, port, child_env, log_path)
    try:
        if ready:
            process.start()
        else:
            process.spawn()
        yield process
    finally:
        process.stop()
        os.unlink(log_path)
