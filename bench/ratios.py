"""Closed-loop throughput of CreateOrder and GetOrder, each to be set
against its anchor (bench/anchors.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bench import calls, data, flow
from bench.context import Context
from bench.load import Call, Outcome, closed_loop
from shopctl import console
from tests.support.rpc import Metadata


@dataclass(frozen=True)
class Loop:
    callers: int
    seconds: float


def create_order(context: Context, loop: Loop, *, carts: int, drain_limit: float) -> Outcome:
    """CreateOrder from `loop.callers` callers, each on a fresh cart, then
    wait (untimed) for the outboxes to empty so the next stage starts quiet."""
    batch = data.add_carts(context.engine, context.catalogue, carts)

    async def drive() -> Outcome:
        channel = calls.channel(context.mesh.target("orders"))
        try:
            await calls.warm_up(channel, len(context.mesh.of("orders")))
            create = calls.create_orders(channel, batch, context.tokens)
            return await closed_loop(
                create, callers=loop.callers, seconds=loop.seconds, limit=batch.count
            )
        finally:
            await channel.close()

    outcome = asyncio.run(drive())
    drain = flow.wait_drained(context.engine, since=outcome.finished, limit=drain_limit)
    if drain.seconds is None:
        console.error("create-order", f"outboxes still busy after {drain_limit:g} s; going on")
    return outcome


@dataclass(frozen=True)
class OrderToRead:
    order_id: int
    token: Metadata
    # GetOrder's reply for it, as Orders serialized it: the echo's answer.
    reply: bytes


def order_to_read(context: Context) -> OrderToRead:
    """Place one order (on a cart of its own) for GetOrder to read."""
    cart = data.add_carts(context.engine, context.catalogue, 1)
    token = context.tokens.of_cart(0)

    async def place() -> OrderToRead:
        channel = calls.channel(context.mesh.target("orders"))
        try:
            order_id = await calls.place_order(channel, cart.first, token)
            reply = await calls.get_order_bytes(channel, order_id, token)
            return OrderToRead(order_id, token, reply)
        finally:
            await channel.close()

    return asyncio.run(place())


def get_order(target: str, instances: int, order: OrderToRead, loop: Loop) -> Outcome:
    """GetOrder of the same order from `loop.callers` callers against
    `target`: the Orders instances, or the echo servers standing in for them
    (the same client either way)."""

    async def drive() -> Outcome:
        channel = calls.channel(target)
        try:
            await calls.warm_up(channel, instances)
            get: Call = calls.get_order(channel, order.order_id, order.token)
            for index in range(20 * instances):  # first calls pay for setting up
                await get(index)
            return await closed_loop(get, callers=loop.callers, seconds=loop.seconds)
        finally:
            await channel.close()

    return asyncio.run(drive())
