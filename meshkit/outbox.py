"""Transactional outbox and its relay.

A handler records an event with `enqueue()` in the same transaction as the
state change that causes it, so both happen or neither does. A relay (one per
service instance) claims pending rows with FOR UPDATE SKIP LOCKED, so several
relays share the work without sending a row twice, delivers each through a
typed stub and marks it delivered. A transient failure postpones the row with
exponential backoff and jitter; a permanent one (the receiver refuses the
event) marks it failed. Nothing is deleted: pending and failed rows stay
visible (`shopmesh outbox`).

Receivers must be idempotent: a relay that crashes after delivering but
before committing delivers the row again.

An insert trigger (see the migrations) sends NOTIFY on a channel named like
the table, so an idle relay wakes at once; the poll is only a fallback.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.message import Message
from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Identity,
    Index,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from meshkit import callctx
from meshkit.config import Settings
from meshkit.listen import ConnectionLost, Listener

log = logging.getLogger("meshkit.outbox")


class OutboxRow:
    """Columns of every service's outbox table; each service maps its own."""

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    topic: Mapped[str] = mapped_column(String(100))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    # The request that caused the event, so its logs join the same trail.
    request_id: Mapped[str] = mapped_column(String(64), default="")
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    create_time: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index]:
        # The relay's claim scans only what is still to deliver.
        return (
            Index(
                f"ix_{cls.__tablename__}_pending",  # type: ignore[attr-defined]
                "id",
                postgresql_where=text("delivered_at IS NULL AND failed_at IS NULL"),
            ),
        )


def enqueue(session: Session, table: type[OutboxRow], topic: str, event: Message) -> None:
    session.add(
        table(  # type: ignore[call-arg]
            event_id=uuid.uuid4(),
            topic=topic,
            payload=event.SerializeToString(),
            request_id=callctx.request_id(),
        )
    )


@dataclass(frozen=True)
class Delivery:
    """What a deliverer needs besides the payload."""

    event_id: str
    # Use it as the receiver's idempotency key.
    timeout: float


Deliver = Callable[[bytes, Delivery], None]


def rpc_deliverer(
    method: Callable[..., object],
    request_type: type[Message],
    *,
    idempotency_field: str | None = None,
) -> Deliver:
    """Deliver a stored request by calling a unary stub method with it.

    With `idempotency_field`, the event id is written into that field of the
    request, so that the receiver recognises a redelivery."""

    def deliver(payload: bytes, delivery: Delivery) -> None:
        request = request_type.FromString(payload)
        if idempotency_field:
            setattr(request, idempotency_field, delivery.event_id)
        method(request, timeout=delivery.timeout)

    return deliver


class PermanentDeliveryError(Exception):
    """Raised by a deliverer when retrying cannot help (e.g. a mailbox that
    does not exist); the row is marked failed and kept."""


# The receiver understood the event and refused it: retrying cannot help.
PERMANENT_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.UNIMPLEMENTED,
    }
)


@dataclass(frozen=True)
class Backoff:
    base: float = 0.2
    cap: float = 60.0

    def delay(self, attempts: int) -> float:
        """Exponential, capped, with equal jitter so relays do not retry in step."""
        ceiling = min(self.cap, self.base * 2 ** max(attempts - 1, 0))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class Relay:
    def __init__(
        self,
        engine: Engine,
        table: type[OutboxRow],
        deliverers: Mapping[str, Deliver],
        *,
        call_timeout: float = 5.0,
        poll_interval: float = 5.0,
        batch_size: int = 20,
        backoff: Backoff = Backoff(),
    ) -> None:
        self._engine = engine
        self._table = table
        self._deliverers = deliverers
        self._call_timeout = call_timeout
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._backoff = backoff
        self._channel = table.__tablename__  # type: ignore[attr-defined]

    @classmethod
    def for_service(
        cls,
        settings: Settings,
        engine: Engine,
        table: type[OutboxRow],
        deliverers: Mapping[str, Deliver],
    ) -> Relay:
        """A relay with the call timeout and backoff the settings give."""
        return cls(
            engine,
            table,
            deliverers,
            call_timeout=settings.call_timeout,
            backoff=Backoff(settings.outbox_backoff, settings.outbox_backoff_cap),
        )

    # -- one pass -----------------------------------------------------------

    def drain(self) -> int:
        """Deliver every row that is due; return how many were attempted."""
        attempted = 0
        while batch := self._deliver_batch():
            attempted += batch
        return attempted

    def _deliver_batch(self) -> int:
        table = self._table
        with Session(self._engine) as session, session.begin():
            rows = session.scalars(
                sql_select(table)
                .where(
                    table.delivered_at.is_(None),
                    table.failed_at.is_(None),
                    table.available_at <= func.now(),
                )
                .order_by(table.id)
                .limit(self._batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            # A receiver that is down fails every row for it; try it once per batch.
            unreachable: set[str] = set()
            for row in rows:
                if row.topic in unreachable:
                    self._postpone(row, "receiver unavailable earlier in this batch")
                    continue
                if not self._deliver(row):
                    unreachable.add(row.topic)
            return len(rows)

    def _deliver(self, row: OutboxRow) -> bool:
        """Deliver one row and record the outcome; False if the receiver was unreachable."""
        deliver = self._deliverers.get(row.topic)
        if deliver is None:
            self._fail(row, f"no deliverer for topic {row.topic!r}")
            return True
        delivery = Delivery(event_id=str(row.event_id), timeout=self._call_timeout)
        try:
            with callctx.bound(row.request_id or callctx.new_request_id(), None):
                deliver(row.payload, delivery)
        except grpc.RpcError as error:
            code = error.code()  # type: ignore[attr-defined]
            detail = f"{code.name}: {error.details()}"  # type: ignore[attr-defined]
            if code in PERMANENT_CODES:
                self._fail(row, detail)
                return True
            self._postpone(row, detail)
            return False
        except PermanentDeliveryError as error:
            self._fail(row, str(error))
            return True
        except Exception as error:
            log.exception(
                "deliverer raised", extra={"topic": row.topic, "event_id": str(row.event_id)}
            )
            self._postpone(row, f"{type(error).__name__}: {error}")
            return True
        row.delivered_at = datetime.now(UTC)
        row.attempts += 1
        return True

    def _postpone(self, row: OutboxRow, reason: str) -> None:
        row.attempts += 1
        delay = self._backoff.delay(row.attempts)
        row.available_at = datetime.now(UTC) + timedelta(seconds=delay)
        row.last_error = reason
        log.warning(
            "delivery postponed",
            extra={
                "topic": row.topic,
                "event_id": str(row.event_id),
                "attempts": row.attempts,
                "retry_in_s": round(delay, 2),
                "error": reason,
            },
        )

    def _fail(self, row: OutboxRow, reason: str) -> None:
        row.attempts += 1
        row.failed_at = datetime.now(UTC)
        row.last_error = reason
        log.error(
            "delivery failed for good",
            extra={"topic": row.topic, "event_id": str(row.event_id), "error": reason},
        )

    def _next_due_in(self) -> float:
        """Seconds until the earliest postponed row is due (capped by the poll)."""
        table = self._table
        with Session(self._engine) as session:
            due = session.scalar(
                sql_select(func.extract("epoch", func.min(table.available_at) - func.now())).where(
                    table.delivered_at.is_(None), table.failed_at.is_(None)
                )
            )
        if due is None:
            return self._poll_interval
        return min(max(float(due), 0.0), self._poll_interval)

    # -- the loop ------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set, waking on NOTIFY, on the next due row
        or on the poll interval, whichever comes first."""
        listener = Listener(self._engine, self._channel)
        try:
            while not stop.is_set():
                try:
                    self.drain()
                    wait = self._next_due_in()
                except Exception:
                    log.warning("relay pass failed; retrying", exc_info=True)
                    wait = min(self._poll_interval, 1.0)
                self._sleep(listener, wait, stop)
        finally:
            listener.close()

    @staticmethod
    def _sleep(listener: Listener, seconds: float, stop: threading.Event) -> None:
        """Until an event is written, `seconds` pass or `stop` is set."""
        deadline = time.monotonic() + seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if not listener.connected and not listener.connect():
                # The database is down: poll instead, and try LISTEN again later.
                stop.wait(min(left, 1.0))
                continue
            try:
                # Short slices so that a stop request is noticed promptly.
                if listener.receive(min(left, 0.25)):
                    return
            except ConnectionLost:
                continue
