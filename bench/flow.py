"""What happened after CreateOrder, read from the database afterwards: when
each order's shipment and confirmation were written, and when the outboxes
had nothing left to deliver."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, TextClause, text

from bench import cpu
from bench.data import Carts

OUTBOXES = ("orders_outbox", "shipping_outbox", "notifications_outbox")

# Every create_time here is PostgreSQL's now(): the start of the transaction
# that wrote the row (the column defaults; the schema stays as it is, so
# clock_timestamp() is not an option). "Order to shipment" is therefore from
# the start of CreateOrder's transaction to the start of the one that wrote
# the shipment: it includes CreateOrder's own transaction and leaves out the
# last one's, a few milliseconds either way.
#
# The confirmation is the notification Orders asks for when it confirms an
# order ("Order N confirmed", orders/events.py).
_FLOWS = text(
    """
    SELECT extract(epoch FROM s.first - o.create_time),
           extract(epoch FROM n.first - o.create_time)
    FROM orders AS o
    LEFT JOIN LATERAL (
        SELECT min(create_time) AS first FROM shipments WHERE order_id = o.id
    ) AS s ON true
    LEFT JOIN LATERAL (
        SELECT min(create_time) AS first FROM notifications
        WHERE order_id = o.id AND subject LIKE '%confirmed'
    ) AS n ON true
    WHERE o.cart_id BETWEEN :first AND :last
    """
)


def _count_in_outboxes(condition: str) -> TextClause:
    return text(
        "SELECT "
        + " + ".join(f"(SELECT count(*) FROM {table} WHERE {condition})" for table in OUTBOXES)
    )


# Rows still to deliver, due now or postponed after a failure.
_BACKLOG = _count_in_outboxes("delivered_at IS NULL AND failed_at IS NULL")
_FAILED = _count_in_outboxes("failed_at IS NOT NULL AND create_time >= :since")


@dataclass(frozen=True)
class Flows:
    """Seconds from each order to its shipment and to its confirmation;
    orders still without one are counted, not timed."""

    orders: int
    to_shipment: list[float]
    to_confirmation: list[float]

    @property
    def without_shipment(self) -> int:
        return self.orders - len(self.to_shipment)

    @property
    def without_confirmation(self) -> int:
        return self.orders - len(self.to_confirmation)


def flows(engine: Engine, carts: Carts) -> Flows:
    """Of the orders placed from `carts` (committed ones: a call that timed
    out at the client may still have committed)."""
    with engine.connect() as connection:
        rows = connection.execute(_FLOWS, {"first": carts.first, "last": carts.last}).all()
    return Flows(
        orders=len(rows),
        to_shipment=[float(s) for s, _ in rows if s is not None],
        to_confirmation=[float(n) for _, n in rows if n is not None],
    )


def database_now(engine: Engine) -> datetime:
    with engine.connect() as connection:
        now = connection.scalar(text("SELECT clock_timestamp()"))
    assert isinstance(now, datetime)
    return now


def failed_deliveries(engine: Engine, since: datetime) -> int:
    """Outbox rows written since `since` (a database time) that their relay
    gave up on."""
    with engine.connect() as connection:
        return int(connection.scalar(_FAILED, {"since": since}) or 0)


@dataclass(frozen=True)
class Drain:
    # Seconds until the outboxes were seen empty; None if not within the limit.
    seconds: float | None
    # CPU seconds the polling connection's backend used, to be taken out of
    # the server's: the bench's own reads are no cost of the mesh.
    poller_cpu: float


def wait_drained(engine: Engine, *, since: float, limit: float, every: float = 0.015) -> Drain:
    """Poll the outboxes every `every` seconds until none has a row left to
    deliver, timing from `since` (time.monotonic()); give up after `limit`."""
    with engine.connect() as connection:
        backend = int(connection.scalar(text("SELECT pg_backend_pid()")) or 0)
        first_cpu = _backend_cpu(backend)
        while True:
            polled = time.monotonic()
            if not connection.execute(_BACKLOG).scalar():
                seconds: float | None = max(0.0, polled - since)
                break
            if polled - since > limit:
                seconds = None
                break
            # End the poll's transaction, so that it holds no snapshot while asleep.
            connection.rollback()
            time.sleep(every)
        connection.rollback()
        return Drain(seconds, _backend_cpu(backend) - first_cpu)


def _backend_cpu(pid: int) -> float:
    """0 when the server runs on another machine."""
    return cpu.cpu_seconds(pid) if cpu.is_local(pid, ("postgres",)) else 0.0
