"""REST GetOrder through Envoy against direct gRPC GetOrder: the same order,
the same customer token, the same callers, in the same run with the loops
taking turns, so that their ratio is what the edge adds (TLS, JWT check,
JSON transcoding, a second hop) and not what the machine did meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import calls, cpu, edge
from bench.context import Context
from bench.load import Call, Outcome, closed_loop, combined, loop_notes
from bench.ratios import Loop, OrderToRead
from bench.report import Row
from tests.support.edge import EdgeMesh

TARGET_RATIO = 0.85
# Each side's seconds are split over this many loops, run gRPC, REST, REST,
# gRPC (and so on): load from elsewhere that rises or falls during the stage
# weighs on both sides alike.
ROUNDS = 2
# Untimed, before the first loop: every connection (the client's, and
# Envoy's to each instance) is open when the clock starts.
WARM_UP_SECONDS = 1.0
SIDES = ("grpc", "rest")


@dataclass(frozen=True)
class Side:
    outcome: Outcome
    # CPU seconds while this side's loops ran: "envoy", "orders" (every
    # instance) and "client" (this process, the load generator).
    cpu: Mapping[str, float]

    def per_call(self, name: str) -> float | None:
        """Milliseconds of `name`'s CPU per successful call."""
        return 1000 * self.cpu[name] / self.outcome.ok if self.outcome.ok else None


@dataclass(frozen=True)
class Comparison:
    callers: int
    rest: Side
    grpc: Side

    def rows(self) -> list[Row]:
        rest, grpc = self.rest.outcome, self.grpc.outcome
        ratio = rest.rate / grpc.rate if grpc.rate else 0.0
        return [
            Row(
                f"REST GetOrder via Envoy, {self.callers} callers, closed loop",
                rest.rate,
                "/s",
                anchor="direct gRPC GetOrder, same order, token, callers, taking turns",
                anchor_value=grpc.rate,
                text=f"{loop_notes(rest)}, gRPC {loop_notes(grpc)}",
                target=f"ratio >= {TARGET_RATIO}",
                met=ratio >= TARGET_RATIO and not rest.failed,
            ),
            Row("  Envoy CPU per REST call", self.rest.per_call("envoy"), "ms"),
            Row(
                "  Orders CPU per call, REST",
                self.rest.per_call("orders"),
                "ms",
                anchor="the same, direct gRPC",
                anchor_value=self.grpc.per_call("orders"),
            ),
            Row(
                "  client CPU per call, REST (httpx)",
                self.rest.per_call("client"),
                "ms",
                anchor="the same, gRPC (grpc.aio)",
                anchor_value=self.grpc.per_call("client"),
                text="(the load generator's; competes for the same cores)",
            ),
        ]


def compare(context: Context, order: OrderToRead, loop: Loop, secrets: Path) -> Comparison:
    """Envoy in front of the Orders instances for this stage only."""
    with edge.in_front_of_orders(context.mesh, secrets) as envoy:
        roots = {"envoy": envoy.envoy.pid}
        roots |= {instance.label: instance.pid for instance in context.mesh.of("orders")}
        return asyncio.run(_drive(context, envoy, roots, order, loop))


async def _drive(
    context: Context, envoy: EdgeMesh, roots: dict[str, int], order: OrderToRead, loop: Loop
) -> Comparison:
    channel = calls.channel(context.mesh.target("orders"))
    clients = calls.rest_clients(envoy.base_url, envoy.ca_file, loop.callers)
    try:
        await calls.warm_up(channel, len(context.mesh.of("orders")))
        await _check_same_order(clients[0], order)
        gets: dict[str, Call] = {
            "grpc": calls.get_order(channel, order.order_id, order.token),
            "rest": calls.rest_get_order(clients, order.order_id, order.token),
        }
        for get in gets.values():
            await closed_loop(get, callers=loop.callers, seconds=WARM_UP_SECONDS)
        runs: dict[str, list[Outcome]] = {side: [] for side in SIDES}
        used = {side: dict.fromkeys(("envoy", "orders", "client"), 0.0) for side in SIDES}
        for round_ in range(ROUNDS):
            for side in SIDES if round_ % 2 == 0 else reversed(SIDES):
                before, own = cpu.snapshot(roots), cpu.own_cpu_seconds()
                runs[side].append(
                    await closed_loop(
                        gets[side], callers=loop.callers, seconds=loop.seconds / ROUNDS
                    )
                )
                used[side]["client"] += cpu.own_cpu_seconds() - own
                for name, seconds in cpu.used(before, cpu.snapshot(roots)).items():
                    used[side]["envoy" if name == "envoy" else "orders"] += seconds
    finally:
        for client in clients:
            await client.aclose()
        await channel.close()
    sides = {side: Side(combined(runs[side]), used[side]) for side in SIDES}
    return Comparison(loop.callers, rest=sides["rest"], grpc=sides["grpc"])


async def _check_same_order(client: httpx.AsyncClient, order: OrderToRead) -> None:
    """REST must answer with the order gRPC reads, or the loops compare
    different work (an error page is fast too)."""
    reply = await client.get(f"/v1/orders/{order.order_id}", headers=dict(order.token))
    # int64 is a JSON string in the proto3 mapping.
    if reply.is_success and reply.json().get("order", {}).get("order_id") == str(order.order_id):
        return
    raise RuntimeError(f"REST GetOrder via Envoy answered {reply.status_code}: {reply.text[:500]}")
