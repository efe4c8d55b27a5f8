"""One Notifications instance holding many WatchNotifications streams, and
how it answers meanwhile: its gRPC health check (what Envoy keeps it in
rotation by) and ListNotifications, and its memory.

The streams come from one grpc.aio client, OPEN_WAVE at a time, over
enough connections that none carries more than STREAMS_PER_CONNECTION, for
customers who hold STREAMS_PER_CUSTOMER each. A stream counts as open once
its headers arrive: the service sends them as soon as its subscription is
in place (notifications/servicer.py), before any notification.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from dataclasses import dataclass

import grpc

from bench import calls, cpu, data
from bench.context import Context
from bench.load import Outcome, open_loop
from bench.mesh import Instance
from bench.report import Row
from shopmesh.notifications.v1 import notifications_pb2, notifications_pb2_grpc
from tests.support.rpc import Metadata, as_customer

# Customers may soon hold only a few streams each (more are refused with
# RESOURCE_EXHAUSTED): the bench stays below any such cap.
STREAMS_PER_CUSTOMER = 2
# A client queues the streams beyond what the server lets one connection
# carry. grpcio's server sets no limit by default (300 streams on one
# connection all opened, grpcio 1.85), but any HTTP/2 server may advertise
# one, and is asked to allow at least 100 (RFC 9113, 6.5.2): with 100 a
# connection, no stream waits for that, whatever the server.
STREAMS_PER_CONNECTION = 100
# Probes while the streams are held: health checks and ListNotifications,
# each this many a second, each with this deadline.
PROBE_RATE = 20.0
PROBE_DEADLINE = 1.0
PROBE_P99 = 0.100
# Streams are asked for this many at a time, the next ones once these are
# open. A gRPC server sheds calls that arrive faster than its application
# takes them up: at random beyond a backlog of 1,000, all beyond 3,000
# (grpc.server.max_pending_requests and its hard limit); they end CANCELLED.
# 5,000 asked for at once lost about 2,200 so on a bare grpc.aio server;
# meshkit's grpc.aio server raises both limits (meshkit/servers.py), and the
# waves now only keep this one client process from choking on its own.
OPEN_WAVE = 500
# Stop waiting for streams to open once none has for this long (a server
# that serves a stream per thread never opens the rest), or after the limit.
OPEN_STALL = 10.0
OPEN_LIMIT = 120.0
CONNECT_LIMIT = 30.0


@dataclass(frozen=True)
class Held:
    instance: str
    wanted: int
    customers: int
    connections: int
    opened: int
    # From asking for the first stream to the last one opening.
    open_seconds: float
    # Streams that never opened, and those that ended while held, by why.
    not_opened: Counter[str]
    broke: Counter[str]
    probe_seconds: float
    health: Outcome
    listing: Outcome
    rss_before: int
    rss_held: int

    @property
    def kib_per_stream(self) -> float:
        return (self.rss_held - self.rss_before) / 1024 / max(self.opened, 1)

    def rows(self) -> list[Row]:
        return [
            Row(
                f"Streams: WatchNotifications on {self.instance}",
                self.opened,
                "count",
                text=f"open of {self.wanted} ({STREAMS_PER_CUSTOMER} per customer,"
                f" {self.customers} customers, {self.connections} connection"
                f"{'s' if self.connections > 1 else ''}, asked for {OPEN_WAVE} at a time;"
                f" the last opened after {self.open_seconds:.1f} s)",
                target=f"{self.wanted}",
                met=self.opened == self.wanted,
            ),
            _count_row("  streams that failed to open", self.not_opened),
            _count_row("  streams that broke while held", self.broke),
            _probe_row("  health Check p99, streams held", self.health, self.probe_seconds),
            _probe_row("  ListNotifications p99, streams held", self.listing, self.probe_seconds),
            Row(
                f"  RSS of {self.instance}, streams held",
                self.rss_held / 2**20,
                "MiB",
                # No target of its own: the 120 MB target is for the
                # sustained run. A held stream costs gRPC itself about
                # 22 KiB (a bare grpc.aio server holding 5,000: 34 -> 142 MiB).
                text=f"({self.rss_before / 2**20:.0f} MiB before they opened,"
                f" {self.kib_per_stream:.0f} KiB a stream)",
            ),
        ]


def _count_row(figure: str, why: Counter[str]) -> Row:
    described = ", ".join(f"{reason}: {n}" for reason, n in why.most_common())
    return Row(
        figure,
        why.total(),
        "count",
        text=f"({described})" if described else "",
        target="0",
        met=not why,
    )


def _probe_row(figure: str, outcome: Outcome, seconds: float) -> Row:
    p50, p99 = outcome.percentile(0.5), outcome.percentile(0.99)
    notes = [f"{PROBE_RATE:g}/s for {seconds:g} s, deadline {PROBE_DEADLINE:g} s"]
    if p50 is not None:
        notes.append(f"p50 {1000 * p50:.1f} ms")
    if outcome.failed:
        notes.append(f"{outcome.failed} failed: {outcome.describe_errors()}")
    return Row(
        figure,
        None if p99 is None else 1000 * p99,
        "ms",
        text=f"({'; '.join(notes)})",
        target=f"< {1000 * PROBE_P99:.0f} ms",
        met=p99 is not None and p99 < PROBE_P99 and not outcome.failed,
    )


def run(context: Context, streams: int, seconds: float) -> Held:
    """Open `streams` streams on the first Notifications instance, probe it
    for `seconds` while they are held, then hang up."""
    instance = context.mesh.of("notifications")[0]
    customers = data.add_customers(
        context.engine, context.catalogue, math.ceil(streams / STREAMS_PER_CUSTOMER)
    )
    # Signed before anything is timed (a few seconds for thousands).
    tokens = {customer: as_customer(customer) for customer in customers}
    rss_before = cpu.rss_bytes(instance.pid)
    return asyncio.run(_hold(instance, tokens, streams, seconds, rss_before))


@dataclass
class _Stream:
    customer_id: int
    opened: bool = False
    # Why it ended before the bench hung up: a status code name; "" while it lasts.
    ended: str = ""


class _Opening:
    """Counts streams as they open (or fail to), so that the bench can wait
    for them without polling."""

    def __init__(self) -> None:
        self.settled = 0
        self.last_opened = 0.0
        self._changed = asyncio.Event()

    def settle(self, opened: bool) -> None:
        self.settled += 1
        if opened:
            self.last_opened = asyncio.get_running_loop().time()
        self._changed.set()

    async def wait(self, count: int, *, stall: float, give_up: float) -> bool:
        """Whether `count` streams settled before none did for `stall`
        seconds, and before the loop's clock reached `give_up`."""
        loop = asyncio.get_running_loop()
        while self.settled < count:
            self._changed.clear()
            timeout = min(stall, give_up - loop.time())
            if timeout <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), timeout)
            except TimeoutError:
                return False
        return True


async def _follow(
    stub: notifications_pb2_grpc.NotificationServiceStub,
    stream: _Stream,
    token: Metadata,
    opening: _Opening,
) -> None:
    """Open the stream and read it (notifications, if any, are dropped)
    until it ends or the bench cancels it."""
    request = notifications_pb2.WatchNotificationsRequest(customer_id=stream.customer_id)
    # No deadline: a stream lasts until the client hangs up.
    call = stub.WatchNotifications(request, metadata=token)
    try:
        await call.initial_metadata()
        if not call.done():
            stream.opened = True
            opening.settle(opened=True)
        async for _ in call:
            pass
        stream.ended = "ended by the server"
    except grpc.aio.AioRpcError as error:
        stream.ended = error.code().name
    finally:
        call.cancel()
    if not stream.opened:
        opening.settle(opened=False)


def _channel(target: str) -> grpc.aio.Channel:
    # A connection of its own: channels with the same target and options
    # otherwise share one (gRPC's global subchannel pool).
    return grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])


async def _hold(
    instance: Instance, tokens: dict[int, Metadata], wanted: int, seconds: float, rss_before: int
) -> Held:
    target = instance.process.target
    customers = list(tokens)
    connections = [_channel(target) for _ in range(math.ceil(wanted / STREAMS_PER_CONNECTION))]
    probes = _channel(target)
    stubs = [notifications_pb2_grpc.NotificationServiceStub(c) for c in connections]
    streams = [_Stream(customers[i % len(customers)]) for i in range(wanted)]
    opening = _Opening()
    loop = asyncio.get_running_loop()
    followers: list[asyncio.Task[None]] = []
    try:
        async with asyncio.timeout(CONNECT_LIMIT):
            await asyncio.gather(*(c.channel_ready() for c in [*connections, probes]))
        started = loop.time()
        for first in range(0, wanted, OPEN_WAVE):
            followers += [
                asyncio.create_task(
                    _follow(
                        stubs[i // STREAMS_PER_CONNECTION],
                        stream,
                        tokens[stream.customer_id],
                        opening,
                    )
                )
                for i, stream in enumerate(streams[first : first + OPEN_WAVE], start=first)
            ]
            if not await opening.wait(
                len(followers), stall=OPEN_STALL, give_up=started + OPEN_LIMIT
            ):
                break
        waited = loop.time() - started
        not_opened = Counter(
            s.ended or f"still waiting after {waited:.0f} s"
            for s in streams[: len(followers)]
            if not s.opened
        )
        if len(followers) < wanted:
            not_opened["not asked for, as opening stalled"] = wanted - len(followers)
        # Hang up on those, so that the probes meet only the streams held.
        for stream, follower in zip(streams, followers, strict=False):
            if not stream.opened:
                follower.cancel()
        count = round(PROBE_RATE * seconds)
        health, listing = await asyncio.gather(
            open_loop(
                calls.health_check(probes, PROBE_DEADLINE),
                rate=PROBE_RATE,
                count=count,
                max_in_flight=count,
            ),
            open_loop(
                calls.list_notifications(
                    probes, customers[0], tokens[customers[0]], PROBE_DEADLINE
                ),
                rate=PROBE_RATE,
                count=count,
                max_in_flight=count,
            ),
        )
        rss_held = cpu.rss_bytes(instance.pid)
        broke = Counter(s.ended for s in streams if s.opened and s.ended)
    finally:
        for follower in followers:
            follower.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
        for channel in [*connections, probes]:
            await channel.close()
    opened = sum(s.opened for s in streams)
    return Held(
        instance=instance.label,
        wanted=wanted,
        customers=len(customers),
        connections=len(connections),
        opened=opened,
        open_seconds=(opening.last_opened - started) if opened else 0.0,
        not_opened=not_opened,
        broke=broke,
        probe_seconds=seconds,
        health=health,
        listing=listing,
        rss_before=rss_before,
        rss_held=rss_held,
    )
