"""Live fan-out of notification changes to WatchNotifications streams.

A trigger sends `pg_notify('notifications', '<customer_id>:<notification_id>')`
on every insert and update. One listener per process (`Hub.run`, a serving
worker thread) LISTENs on a dedicated connection and hands each change to the
streams following that customer.

Streams are coroutines on the grpc.aio server's event loop, so thousands of
them cost little while they wait. Everything about them (the registry, each
stream's pending changes) lives on that loop: the listener thread only
schedules work there, once per batch of changes it receives.

Changes are not stored for streams: while the listener is disconnected they
are lost. So every stream open at that moment is ended with UNAVAILABLE (the
client lists again and reopens), and no stream opens until LISTEN is in place.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Iterable

from sqlalchemy import Engine

from meshkit import errors
from meshkit.listen import ConnectionLost, Listener

log = logging.getLogger("notifications.watch")

CHANNEL = "notifications"
# How long the listener waits for changes before checking whether to stop.
TICK = 0.25
# A stream further behind than this is ended rather than buffered without end.
BACKLOG = 1000
# How long a new stream waits for the listener (e.g. just after start-up).
READY_WITHIN = 5.0
RECONNECT_AFTER = 1.0


def watch_unavailable(why: str) -> errors.AppError:
    return errors.unavailable("WATCH_UNAVAILABLE", f"cannot follow changes: {why}")


def too_many_streams(customer_id: int, limit: int) -> errors.AppError:
    return errors.resource_exhausted(
        "TOO_MANY_WATCHES",
        f"customer {customer_id} already has {limit} open watches; close one first",
        customer_id=customer_id,
        limit=limit,
    )


def watches_exhausted(limit: int) -> errors.AppError:
    return errors.resource_exhausted(
        "WATCHES_EXHAUSTED",
        f"this instance holds its maximum of {limit} watches; retry shortly",
        limit=limit,
    )


class Subscription:
    """One stream's view of the changes to one customer's notifications.
    Used on the event loop only."""

    def __init__(self) -> None:
        self._pending: collections.deque[int] = collections.deque()
        self._wake = asyncio.Event()
        self._interrupted: str | None = None

    def offer(self, notification_id: int) -> None:
        if len(self._pending) >= BACKLOG:
            self.interrupt("the stream fell behind")
        else:
            self._pending.append(notification_id)
            self._wake.set()

    def interrupt(self, why: str) -> None:
        self._interrupted = why
        self._wake.set()

    async def follow(self) -> AsyncIterator[int]:
        """Notification ids as they change, until the stream is cancelled
        (the client hung up) or interrupted."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending and self._interrupted is None:
                yield self._pending.popleft()
            if self._interrupted is not None:
                raise watch_unavailable(self._interrupted)


class Hub:
    def __init__(self, engine: Engine, *, per_customer: int, most: int) -> None:
        self._engine = engine
        self._per_customer = per_customer
        self._most = most
        # On the loop only:
        self._streams: collections.defaultdict[int, set[Subscription]] = collections.defaultdict(
            set
        )
        self._count = 0
        # The loop the streams run on; known from the first stream on.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listening = threading.Event()

    @contextlib.asynccontextmanager
    async def subscribe(self, customer_id: int) -> AsyncIterator[Subscription]:
        """Follow a customer; every change committed after this returns is seen."""
        self._loop = asyncio.get_running_loop()
        if not self._listening.is_set() and not await asyncio.to_thread(
            self._listening.wait, READY_WITHIN
        ):
            raise watch_unavailable("the change feed is not connected; retry shortly")
        # No await from here on until the stream is registered: a lost feed
        # interrupts streams on this loop too, so none slips in unnoticed.
        if not self._listening.is_set():
            raise watch_unavailable("the change feed was just lost; retry shortly")
        if len(self._streams.get(customer_id, ())) >= self._per_customer:
            raise too_many_streams(customer_id, self._per_customer)
        if self._count >= self._most:
            raise watches_exhausted(self._most)
        subscription = Subscription()
        followers = self._streams[customer_id]
        followers.add(subscription)
        self._count += 1
        try:
            yield subscription
        finally:
            followers.discard(subscription)
            self._count -= 1
            if not followers:
                del self._streams[customer_id]

    def _publish(self, changes: Iterable[tuple[int, int]]) -> None:
        for customer_id, notification_id in changes:
            for subscription in self._streams.get(customer_id, ()):
                subscription.offer(notification_id)

    def _interrupt_all(self, why: str) -> None:
        for followers in self._streams.values():
            for subscription in followers:
                subscription.interrupt(why)

    def _on_loop(self, callback: object, argument: object) -> None:
        """Run `callback(argument)` on the streams' loop, from the listener."""
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: no streams
                loop.call_soon_threadsafe(callback, argument)  # type: ignore[arg-type]

    # -- the listener (a thread) ----------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Listen until `stop` is set, reconnecting after database outages."""
        listener = Listener(self._engine, CHANNEL)
        while not stop.is_set():
            if not listener.connect():
                stop.wait(RECONNECT_AFTER)
                continue
            self._listening.set()
            try:
                while not stop.is_set():
                    changes = parse(listener.receive(TICK))
                    if changes:
                        self._on_loop(self._publish, changes)
            except ConnectionLost:
                log.warning("change feed lost; reconnecting", exc_info=True)
            finally:
                self._listening.clear()
                self._on_loop(self._interrupt_all, "the service lost or closed its change feed")
        listener.close()


def parse(payloads: Iterable[str]) -> list[tuple[int, int]]:
    """(customer id, notification id) of each well-formed payload."""
    changes = []
    for payload in payloads:
        customer, _, notification = payload.partition(":")
        if customer.isdigit() and notification.isdigit():
            changes.append((int(customer), int(notification)))
        else:
            log.warning("unexpected change payload", extra={"payload": payload})
    return changes
