"""Asking the services how they are, with the standard gRPC health protocol."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVING = "SERVING"
# Seconds between rounds of checks while waiting.
POLL = 0.2


def check(target: str, timeout: float = 2.0) -> str:
    """The overall health of the server at `target`: SERVING, NOT_SERVING, or
    why it could not be asked (e.g. UNAVAILABLE when nothing listens)."""
    with grpc.insecure_channel(target) as channel:
        return _ask(health_pb2_grpc.HealthStub(channel), timeout, wait=False)


def _ask(stub: health_pb2_grpc.HealthStub, timeout: float, *, wait: bool) -> str:
    try:
        reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout, wait_for_ready=wait)
    except grpc.RpcError as error:
        code = error.code()  # type: ignore[attr-defined]
        return "NO_ANSWER" if code is grpc.StatusCode.DEADLINE_EXCEEDED else code.name
    return health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)


class NotHealthy(Exception):
    pass


def wait_serving(
    targets: Mapping[str, str],
    *,
    within: float,
    on_serving: Callable[[str], None] = lambda name: None,
    failure: Callable[[], str | None] = lambda: None,
) -> None:
    """Return once every target answers SERVING, calling `on_serving(name)` as
    each does. Raise NotHealthy when `failure()` reports a reason (e.g. a
    process died) or after `within` seconds, naming who is not serving."""
    deadline = time.monotonic() + within
    channels = {name: grpc.insecure_channel(target) for name, target in targets.items()}
    last = dict.fromkeys(targets, "UNAVAILABLE")
    try:
        stubs = {name: health_pb2_grpc.HealthStub(ch) for name, ch in channels.items()}
        while stubs:
            if reason := failure():
                raise NotHealthy(reason)
            if time.monotonic() > deadline:
                waiting = ", ".join(f"{name} ({last[name]})" for name in stubs)
                raise NotHealthy(f"not serving within {within:g}s: {waiting}")
            round_started = time.monotonic()
            for name, stub in list(stubs.items()):
                last[name] = _ask(stub, 0.5, wait=True)
                if last[name] == SERVING:
                    del stubs[name]
                    on_serving(name)
            # Up but not serving yet answers at once: do not hammer it.
            if stubs:
                time.sleep(max(0.0, round_started + POLL - time.monotonic()))
    finally:
        for channel in channels.values():
            channel.close()
