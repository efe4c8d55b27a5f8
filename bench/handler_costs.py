"""CPU per RPC, from the services' own call logs: each call's line carries
the CPU its handler's thread spent on it (`cpu_ms`, meshkit/interceptors.py)
and, for a batch call, the requests it carried (`batch_of`). Summed per
method over a stage, this splits each process's CPU into what its handlers
cost per request and the rest (relays, gRPC's transport, logging)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.mesh import Mesh
from bench.report import Row


@dataclass
class MethodCost:
    service: str
    method: str  # `CreateOrder`
    calls: int = 0
    # Requests served: a batch call serves as many as it carried.
    requests: int = 0
    cpu_ms: float = 0.0

    @property
    def per_request(self) -> float:
        return self.cpu_ms / self.requests if self.requests else 0.0

    @property
    def per_call(self) -> float:
        return self.cpu_ms / self.calls if self.calls else 0.0


def log_offsets(mesh: Mesh) -> dict[str, int]:
    """Where each instance's log ends now: a stage reads from there on."""
    return {i.process.log_path: _size(i.process.log_path) for i in mesh.instances}


def since(mesh: Mesh, offsets: Mapping[str, int]) -> dict[str, MethodCost]:
    """Every method's calls logged after `offsets`, by `Service/Method`."""
    costs: dict[str, MethodCost] = {}
    for instance in mesh.instances:
        path = instance.process.log_path
        for call in _calls(path, offsets.get(path, 0)):
            service, _, method = call["method"].rpartition("/")
            key = f"{service.rsplit('.', 1)[-1]}/{method}"
            cost = costs.setdefault(key, MethodCost(service.rsplit(".", 1)[-1], method))
            cost.calls += 1
            cost.requests += len(call.get("batch_of") or ()) or 1
            cost.cpu_ms += call["cpu_ms"]
    return dict(sorted(costs.items()))


def rows(costs: Mapping[str, MethodCost], orders: int) -> list[Row]:
    """One row per method: its handler CPU per request served, with how
    often it ran per order committed."""
    return [
        Row(
            f"  handler CPU: {name}",
            cost.per_request,
            "ms",
            text=f"(per request; {cost.requests / orders:.2f} requests an order"
            + (
                f" in {cost.calls} calls, {cost.per_call:.2f} ms a call)"
                if cost.calls != cost.requests
                else ")"
            ),
        )
        for name, cost in costs.items()
        if orders
    ]


def _calls(path: str, offset: int) -> Iterable[dict[str, Any]]:
    if not Path(path).exists():
        return
    with open(path, "rb") as log:
        log.seek(offset)
        for line in log:
            if b'"cpu_ms"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut short by the process stopping
            if entry.get("message") == "call" and "cpu_ms" in entry:
                yield entry


def _size(path: str) -> int:
    return Path(path).stat().st_size if Path(path).exists() else 0
