"""Live fan-out of notification changes to WatchNotifications streams.

A trigger sends `pg_notify('notifications', '<customer_id>:<notification_id>')`
on every insert and update. One listener per process (`Hub.run`, a serving
worker) LISTENs on a dedicated connection and hands each change to the
streams following that customer, through a small queue per stream.

Changes are not stored for streams: while the listener is disconnected they
are lost. So every stream open at that moment is ended with UNAVAILABLE (the
client lists again and reopens), and no stream opens until LISTEN is in place.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator

from sqlalchemy import Engine

from meshkit import errors
from meshkit.listen import ConnectionLost, Listener

log = logging.getLogger("notifications.watch")

CHANNEL = "notifications"
# How often a waiting stream checks that its client is still there, and the
# listener that it should stop.
TICK = 0.25
# A stream further behind than this is ended rather than buffered without end.
BACKLOG = 1000
# How long a new stream waits for the listener (e.g. just after start-up).
READY_WITHIN = 5.0
RECONNECT_AFTER = 1.0


def watch_unavailable(why: str) -> errors.AppError:
    return errors.unavailable("WATCH_UNAVAILABLE", f"cannot follow changes: {why}")


class Subscription:
    """One stream's view of the changes to one customer's notifications."""

    def __init__(self) -> None:
        self._changes: queue.Queue[int] = queue.Queue(maxsize=BACKLOG)
        self._interrupted: str | None = None

    def offer(self, notification_id: int) -> None:
        try:
            self._changes.put_nowait(notification_id)
        except queue.Full:
            self.interrupt("the stream fell behind")

    def interrupt(self, why: str) -> None:
        self._interrupted = why

    def follow(self, is_active: Callable[[], bool]) -> Iterator[int]:
        """Notification ids as they change, until the client goes away."""
        while is_active():
            if self._interrupted is not None:
                raise watch_unavailable(self._interrupted)
            try:
                yield self._changes.get(timeout=TICK)
            except queue.Empty:
                continue


class Hub:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._streams: defaultdict[int, set[Subscription]] = defaultdict(set)
        self._listening = threading.Event()

    @contextlib.contextmanager
    def subscribe(self, customer_id: int) -> Iterator[Subscription]:
        """Follow a customer; every change committed after this returns is seen."""
        if not self._listening.wait(READY_WITHIN):
            raise watch_unavailable("the change feed is not connected; retry shortly")
        subscription = Subscription()
        with self._lock:
            # Checked under the lock that a lost feed takes to interrupt
            # streams, so no stream slips in between unnoticed.
            if not self._listening.is_set():
                raise watch_unavailable("the change feed was just lost; retry shortly")
            self._streams[customer_id].add(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                followers = self._streams[customer_id]
                followers.discard(subscription)
                if not followers:
                    del self._streams[customer_id]

    def publish(self, customer_id: int, notification_id: int) -> None:
        with self._lock:
            followers = list(self._streams.get(customer_id, ()))
        for subscription in followers:
            subscription.offer(notification_id)

    def _feed_lost(self, why: str) -> None:
        with self._lock:
            self._listening.clear()
            for followers in self._streams.values():
                for subscription in followers:
                    subscription.interrupt(why)

    # -- the listener ---------------------------------------------------------

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
                    for payload in listener.receive(TICK):
                        self._dispatch(payload)
            except ConnectionLost:
                log.warning("change feed lost; reconnecting", exc_info=True)
            finally:
                self._feed_lost("the service lost or closed its change feed")
        listener.close()

    def _dispatch(self, payload: str) -> None:
        customer, _, notification = payload.partition(":")
        if customer.isdigit() and notification.isdigit():
            self.publish(int(customer), int(notification))
        else:
            log.warning("unexpected change payload", extra={"payload": payload})
