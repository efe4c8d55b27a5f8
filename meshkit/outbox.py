"""Transactional outbox and its relay.

A handler records an event with `enqueue()` in the same transaction as the
state change that causes it, so both happen or neither does. A relay (one per
service instance) claims a batch of due rows with FOR UPDATE SKIP LOCKED, so
several relays share the work without sending a row twice, delivers the batch
concurrently and records the outcomes with one statement per kind of outcome
(delivered, postponed, failed), whatever the batch's size. A transient
failure postpones the row with exponential backoff and jitter; a permanent
one (the receiver refuses the event) marks it failed.

Pending and failed rows stay visible (`shopmesh outbox`); failed ones are
never deleted. Delivered rows are kept for a retention period (so that one
can still see what went out, and when) and then pruned, so that the table a
relay works on does not grow with every event ever sent.

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, cast

import grpc
from google.protobuf.message import Message
from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Identity,
    Index,
    Interval,
    LargeBinary,
    Row,
    String,
    Table,
    Text,
    any_,
    bindparam,
    column,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from meshkit import callctx, db
from meshkit.config import ConfigError, Settings
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
class Entry:
    """An event as it is recorded: serialized, with the request that caused it.
    For the hot paths, which write their events in the statement that writes
    their change, or several with one INSERT (`enqueue_many`)."""

    topic: str
    payload: bytes
    request_id: str


def entry(topic: str, event: Message) -> Entry:
    return Entry(topic, event.SerializeToString(), callctx.request_id())


def columns(entries: Iterable[Entry]) -> dict[str, list[Any]]:
    """The entries as arrays `event_ids`, `topics`, `payloads`, `request_ids`,
    for a statement that inserts them with unnest() beside its change."""
    found = list(entries)
    return {
        "event_ids": [str(uuid.uuid4()) for _ in found],
        "topics": [e.topic for e in found],
        "payloads": [e.payload for e in found],
        "request_ids": [e.request_id for e in found],
    }


def enqueue_many(session: Session, table: type[OutboxRow], entries: Iterable[Entry]) -> None:
    """Record several events with one INSERT, without building ORM objects."""
    rows = [
        {
            "event_id": uuid.uuid4(),
            "topic": e.topic,
            "payload": e.payload,
            "request_id": e.request_id,
            "attempts": 0,
        }
        for e in entries
    ]
    if rows:
        session.execute(insert(table.__table__), rows)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Delivery:
    """What a deliverer needs besides the payload."""

    event_id: str
    # Use it as the receiver's idempotency key.
    timeout: float
    # The request that caused the event (for a batch deliverer's logs).
    request_id: str = ""


# Delivers one event and returns once it is handed over; raises
# PermanentDeliveryError (or a grpc.RpcError with a code in PERMANENT_CODES)
# when retrying cannot help, and anything else when it may.
#
# A deliverer that can also start a delivery without waiting for it (as
# RpcDeliverer does) has a method `start(payload, delivery) -> Pending`; the
# relay then has a whole batch in flight at once, and calls `start` inside the
# row's `callctx.bound(...)`, so that what it sends carries the request id.
# A deliverer with a method `deliver_many(items) -> outcomes` (BatchDeliverer)
# gets all of a batch's rows for its topic in one call, so that it can read
# and record them with one statement each instead of one per row.
# A plain function is called one row at a time.
Deliver = Callable[[bytes, Delivery], None]


class BatchDeliverer(Protocol):
    def deliver_many(self, items: Sequence[tuple[bytes, Delivery]]) -> Sequence[Exception | None]:
        """Deliver every (payload, delivery); for each, None when it was
        delivered, else the exception `Deliver` would have raised."""
        ...


class Pending(Protocol):
    """A delivery under way: `result()` waits for it and raises as `Deliver` would."""

    def result(self) -> object: ...


class RpcDeliverer:
    """Delivers a stored request by calling a unary stub method with it.

    With `idempotency_field`, the event id is written into that field of the
    request, so that the receiver recognises a redelivery."""

    def __init__(
        self,
        method: Callable[..., object],
        request_type: type[Message],
        idempotency_field: str | None = None,
    ) -> None:
        self._method = method
        self._request_type = request_type
        self._idempotency_field = idempotency_field

    def request(self, payload: bytes, delivery: Delivery) -> Message:
        """The request a delivery of `payload` sends."""
        request = self._request_type.FromString(payload)
        if self._idempotency_field:
            setattr(request, self._idempotency_field, delivery.event_id)
        return request

    def __call__(self, payload: bytes, delivery: Delivery) -> None:
        self._method(self.request(payload, delivery), timeout=delivery.timeout)

    def start(self, payload: bytes, delivery: Delivery) -> Pending:
        request = self.request(payload, delivery)
        future = getattr(self._method, "future", None)
        if future is None:  # a plain function standing in for a stub method
            return _settled(lambda: self._method(request, timeout=delivery.timeout))
        # The client interceptor runs here, in this thread: it reads the
        # request id the relay has bound for this row.
        pending: Pending = future(request, timeout=delivery.timeout)
        return pending


def rpc_deliverer(
    method: Callable[..., object],
    request_type: type[Message],
    *,
    idempotency_field: str | None = None,
) -> RpcDeliverer:
    """Deliver a stored request by calling a unary stub method with it (see RpcDeliverer)."""
    return RpcDeliverer(method, request_type, idempotency_field)


class RpcBatchDeliverer:
    """Delivers all of a batch's rows for a topic with one call of a batch
    method (`batch`, taking the requests `single` would send one by one, as
    `wrap(requests)`): one round trip and one transaction at the receiver
    instead of one per row.

    The receiver takes the batch all or nothing. When it refuses it with a
    permanent code (one request in it is bad, or the receiver predates the
    batch method: UNIMPLEMENTED), each row is delivered alone with `single`,
    so that only the bad one fails."""

    def __init__(
        self,
        batch: Callable[..., object],
        wrap: Callable[[list[Any]], Message],
        single: RpcDeliverer,
    ) -> None:
        self._batch = batch
        self._wrap = wrap
        self._single = single

    def __call__(self, payload: bytes, delivery: Delivery) -> None:
        self._single(payload, delivery)

    def deliver_many(self, items: Sequence[tuple[bytes, Delivery]]) -> Sequence[Exception | None]:
        if len(items) == 1:
            payload, delivery = items[0]
            with callctx.bound(delivery.request_id, None):
                return [_outcome(lambda: self._single(payload, delivery))]
        batch = self._wrap([self._single.request(payload, delivery) for payload, delivery in items])
        # One call for rows of many requests: it gets a request id of its own
        # and names theirs, which the receiver logs with the call.
        batch_of = ",".join(delivery.request_id for _, delivery in items)
        with callctx.bound(callctx.new_request_id(), None):
            try:
                self._batch(
                    batch,
                    timeout=items[0][1].timeout,
                    metadata=((callctx.BATCH_OF_KEY, batch_of),),
                )
            except grpc.RpcError as error:
                if error.code() not in PERMANENT_CODES:  # type: ignore[attr-defined]
                    return [error] * len(items)
            else:
                return [None] * len(items)
        return self._one_by_one(items)

    def _one_by_one(self, items: Sequence[tuple[bytes, Delivery]]) -> list[Exception | None]:
        started = []
        for payload, delivery in items:
            with callctx.bound(delivery.request_id, None):
                started.append(self._single.start(payload, delivery))
        return [_outcome(pending.result) for pending in started]


def rpc_batch_deliverer(
    batch: Callable[..., object],
    wrap: Callable[[list[Any]], Message],
    single: RpcDeliverer,
) -> RpcBatchDeliverer:
    """Deliver a batch of stored requests with one call (see RpcBatchDeliverer)."""
    return RpcBatchDeliverer(batch, wrap, single)


def _outcome(call: Callable[[], object]) -> Exception | None:
    try:
        call()
    except Exception as error:
        return error
    return None


class _Settled:
    """A delivery that has already run (a plain deliverer, or a failed start)."""

    __slots__ = ("_error",)

    def __init__(self, error: Exception | None) -> None:
        self._error = error

    def result(self) -> None:
        if self._error is not None:
            raise self._error


def _settled(call: Callable[[], object]) -> _Settled:
    return _Settled(_outcome(call))


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


@dataclass
class _Outcomes:
    """A batch's results, gathered so that each kind is written in one statement."""

    delivered: list[int] = field(default_factory=list)
    postponed: list[tuple[int, timedelta, str]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)
    # Topics whose receiver could not be reached: their other rows wait.
    unreachable: set[str] = field(default_factory=set)


# What the claim selects: id, event_id, topic, payload, request_id, attempts.
_Claimed = Row[int, uuid.UUID, str, bytes, str, int]

# The most rows a relay claims at once, and so the most requests a batch
# method (RpcBatchDeliverer) must take in one call.
MAX_BATCH = 100

# Delivered rows are kept this long (seconds), then pruned.
DEFAULT_RETENTION = 600.0


class _Statements:
    """The relay's SQL for one outbox table, in Core and built once: it
    loads no ORM objects, and each kind of outcome is one statement for the
    whole batch."""

    def __init__(self, t: Table, batch_size: int, prune_batch: int) -> None:
        pending = (t.c.delivered_at.is_(None), t.c.failed_at.is_(None))
        now = func.statement_timestamp()
        self.claim = (
            select(t.c.id, t.c.event_id, t.c.topic, t.c.payload, t.c.request_id, t.c.attempts)
            .where(*pending, t.c.available_at <= func.now())
            .order_by(t.c.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        ids = bindparam("ids", type_=ARRAY(BigInteger))
        errors = bindparam("errors", type_=ARRAY(Text))
        self.delivered = (
            update(t).where(t.c.id == any_(ids)).values(delivered_at=now, attempts=t.c.attempts + 1)
        )
        # UPDATE ... FROM unnest(:ids, :delays, :errors): a value of its own per row.
        later = (
            func.unnest(ids, bindparam("delays", type_=ARRAY(Interval)), errors)
            .table_valued(column("id", BigInteger), column("delay", Interval), column("error"))
            .render_derived("later")
        )
        self.postponed = (
            update(t)
            .where(t.c.id == later.c.id)
            .values(
                attempts=t.c.attempts + 1,
                available_at=now + later.c.delay,
                last_error=later.c.error,
            )
        )
        refused = (
            func.unnest(ids, errors)
            .table_valued(column("id", BigInteger), column("error"))
            .render_derived("refused")
        )
        self.failed = (
            update(t)
            .where(t.c.id == refused.c.id)
            .values(attempts=t.c.attempts + 1, failed_at=now, last_error=refused.c.error)
        )
        self.next_due = select(
            func.extract("epoch", func.min(t.c.available_at) - func.now())
        ).where(*pending)
        # No index on delivered_at, which would cost every delivery one more
        # index write: the inner select scans the table, which pruning keeps
        # small. `= ANY(ARRAY(...))` deletes by primary key, where `IN (...)`
        # would have PostgreSQL hash-join a second scan of the table.
        doomed = (
            select(t.c.id)
            .where(t.c.delivered_at < func.now() - bindparam("retention", type_=Interval))
            .limit(prune_batch)
            .with_for_update(skip_locked=True)
        )
        self.prune = delete(t).where(t.c.id == any_(func.array(doomed.scalar_subquery())))


class Relay:
    def __init__(
        self,
        engine: Engine,
        table: type[OutboxRow],
        deliverers: Mapping[str, Deliver],
        *,
        call_timeout: float = 5.0,
        poll_interval: float = 5.0,
        batch_size: int = MAX_BATCH,
        backoff: Backoff = Backoff(),
        retention: float = DEFAULT_RETENTION,
        prune_interval: float = 30.0,
        prune_batch: int = 5000,
    ) -> None:
        self._engine = engine
        self._deliverers = deliverers
        self._call_timeout = call_timeout
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._backoff = backoff
        self._prune_interval = prune_interval
        self._prune_batch = prune_batch
        self._retention = timedelta(seconds=retention)
        self._channel = table.__tablename__  # type: ignore[attr-defined]
        self._sql = _Statements(table.__table__, batch_size, prune_batch)  # type: ignore[attr-defined]

    @classmethod
    def for_service(
        cls,
        settings: Settings,
        engine: Engine,
        table: type[OutboxRow],
        deliverers: Mapping[str, Deliver],
    ) -> Relay:
        """A relay with the call timeout, backoff and retention the settings give."""
        return cls(
            engine,
            table,
            deliverers,
            call_timeout=settings.call_timeout,
            backoff=Backoff(settings.outbox_backoff, settings.outbox_backoff_cap),
            retention=_seconds(settings, "OUTBOX_RETENTION_SECONDS", DEFAULT_RETENTION),
        )

    # -- one pass -----------------------------------------------------------

    def drain(self) -> int:
        """Deliver every row that is due; return how many were attempted."""
        attempted = 0
        # A batch short of full means nothing else was due (or another relay
        # holds it); events written meanwhile send NOTIFY, which `run` hears.
        while (claimed := self._deliver_batch()) == self._batch_size:
            attempted += claimed
        return attempted + claimed

    def _deliver_batch(self) -> int:
        with self._engine.begin() as connection:
            rows = connection.execute(self._sql.claim).all()
            if not rows:
                return 0
            outcomes = _Outcomes()
            self._deliver(rows, outcomes)
            if outcomes.delivered:
                connection.execute(self._sql.delivered, {"ids": outcomes.delivered})
            if outcomes.postponed:
                ids, delays, reasons = zip(*outcomes.postponed, strict=True)
                connection.execute(
                    self._sql.postponed,
                    {"ids": list(ids), "delays": list(delays), "errors": list(reasons)},
                )
            if outcomes.failed:
                ids, reasons = zip(*outcomes.failed, strict=True)
                connection.execute(self._sql.failed, {"ids": list(ids), "errors": list(reasons)})
            return len(rows)

    def _deliver(self, rows: Sequence[_Claimed], outcomes: _Outcomes) -> None:
        """Deliver `rows`, all at once where the deliverer can start a call
        without waiting for it.

        A receiver that is down fails every row for it, so each topic's first
        row goes first (the topics' first rows together): unless that finds
        the receiver unreachable, the topic's other rows follow, together.
        A receiver that is down is thus tried once per batch."""
        first: dict[str, _Claimed] = {}
        rest: list[_Claimed] = []
        batched: dict[str, list[_Claimed]] = {}
        for row in rows:
            if row.topic not in self._deliverers:
                self._fail(outcomes, row, f"no deliverer for topic {row.topic!r}")
            elif hasattr(self._deliverers[row.topic], "deliver_many"):
                batched.setdefault(row.topic, []).append(row)
            elif row.topic in first:
                rest.append(row)
            else:
                first[row.topic] = row
        for topic, group in batched.items():
            self._deliver_many(topic, group, outcomes)
        self._deliver_together(first.values(), outcomes)
        self._deliver_together(rest, outcomes)

    def _deliver_many(self, topic: str, rows: list[_Claimed], outcomes: _Outcomes) -> None:
        deliverer = cast(BatchDeliverer, self._deliverers[topic])
        items = [(row.payload, self._delivery(row)) for row in rows]
        try:
            results = list(deliverer.deliver_many(items))
        except Exception as error:
            results = [error] * len(rows)
        for row, result in zip(rows, results, strict=True):
            self._settle(row, _Settled(result), outcomes)

    def _deliver_together(self, rows: Iterable[_Claimed], outcomes: _Outcomes) -> None:
        in_flight: list[tuple[_Claimed, Pending]] = []
        for row in rows:
            if row.topic in outcomes.unreachable:
                self._postpone(outcomes, row, "receiver unavailable earlier in this batch")
                continue
            pending = self._start(row)
            if isinstance(pending, _Settled):
                # A plain deliverer has run already; its failure may stop the rest.
                self._settle(row, pending, outcomes)
            else:
                in_flight.append((row, pending))
        for row, pending in in_flight:
            self._settle(row, pending, outcomes)

    def _start(self, row: _Claimed) -> Pending:
        deliver = self._deliverers[row.topic]
        delivery = self._delivery(row)
        with callctx.bound(delivery.request_id, None):
            start = getattr(deliver, "start", None)
            if start is None:
                return _settled(lambda: deliver(row.payload, delivery))
            try:
                pending: Pending = start(row.payload, delivery)
            except Exception as error:
                return _Settled(error)
            return pending

    def _delivery(self, row: _Claimed) -> Delivery:
        return Delivery(
            event_id=str(row.event_id),
            timeout=self._call_timeout,
            request_id=row.request_id or callctx.new_request_id(),
        )

    def _settle(self, row: _Claimed, pending: Pending, outcomes: _Outcomes) -> None:
        """Wait for one row's delivery and note its outcome."""
        try:
            pending.result()
        except grpc.RpcError as error:
            code = error.code()  # type: ignore[attr-defined]
            detail = f"{code.name}: {error.details()}"  # type: ignore[attr-defined]
            if code in PERMANENT_CODES:
                self._fail(outcomes, row, detail)
            else:
                self._postpone(outcomes, row, detail)
                outcomes.unreachable.add(row.topic)
        except PermanentDeliveryError as error:
            self._fail(outcomes, row, str(error))
        except Exception as error:
            log.exception(
                "deliverer raised", extra={"topic": row.topic, "event_id": str(row.event_id)}
            )
            self._postpone(outcomes, row, f"{type(error).__name__}: {error}")
        else:
            outcomes.delivered.append(row.id)

    def _postpone(self, outcomes: _Outcomes, row: _Claimed, reason: str) -> None:
        attempts = row.attempts + 1
        delay = self._backoff.delay(attempts)
        outcomes.postponed.append((row.id, timedelta(seconds=delay), reason))
        log.warning(
            "delivery postponed",
            extra={
                "topic": row.topic,
                "event_id": str(row.event_id),
                "attempts": attempts,
                "retry_in_s": round(delay, 2),
                "error": reason,
            },
        )

    def _fail(self, outcomes: _Outcomes, row: _Claimed, reason: str) -> None:
        outcomes.failed.append((row.id, reason))
        log.error(
            "delivery failed for good",
            extra={"topic": row.topic, "event_id": str(row.event_id), "error": reason},
        )

    def prune(self) -> int:
        """Delete up to `prune_batch` rows delivered more than the retention
        ago; return how many. Pending and failed rows are never deleted."""
        with self._engine.begin() as connection:
            return connection.execute(self._sql.prune, {"retention": self._retention}).rowcount

    def _next_due_in(self) -> float:
        """Seconds until the earliest postponed row is due (capped by the poll)."""
        with db.reading(self._engine) as connection:
            due = connection.scalar(self._sql.next_due)
        if due is None:
            return self._poll_interval
        return min(max(float(due), 0.0), self._poll_interval)

    # -- the loop ------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set, waking on NOTIFY, on the next due row
        or on the poll interval, whichever comes first; prune now and then."""
        listener = Listener(self._engine, self._channel)
        prune_at = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    self.drain()
                    backlog = False
                    if time.monotonic() >= prune_at:
                        # Bounded, so that deliveries never wait long behind it;
                        # a full prune (a backlog) continues on the next pass.
                        backlog = self.prune() == self._prune_batch
                        prune_at = time.monotonic() + (0 if backlog else self._prune_interval)
                    wait = 0.0 if backlog else self._next_due_in()
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


def _seconds(settings: Settings, name: str, default: float) -> float:
    value = settings.get(name, str(default))
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise ConfigError(f"{name} must be a number of seconds, got {value!r}")
    return seconds
