"""The outbox relay on real PostgreSQL, with its own table so that no other
test's events are in the way, delivering to real gRPC servers on loopback."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.empty_pb2 import Empty
from google.protobuf.struct_pb2 import ListValue, Value
from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import Engine, event, func, select, text, update
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from meshkit import auth, callctx, outbox
from meshkit.channels import internal_channel
from meshkit.interceptors import ClientInterceptor
from tests.support import keys
from tests.support.fake_peers import serving
from tests.support.waiting import until


class _Base(DeclarativeBase):
    pass


class ProbeOutbox(outbox.OutboxRow, _Base):
    __tablename__ = "probe_outbox"


class Refused(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "refused by the test"


@pytest.fixture
def table(engine: Engine) -> Iterator[type[ProbeOutbox]]:
    _Base.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TRIGGER probe_outbox_wake AFTER INSERT ON probe_outbox "
                "FOR EACH STATEMENT EXECUTE FUNCTION shopmesh_notify_table()"
            )
        )
    yield ProbeOutbox
    _Base.metadata.drop_all(engine)


def write(sessions: sessionmaker[Session], *texts: str, topic: str = "probe") -> None:
    with sessions.begin() as session:
        for value in texts:
            outbox.enqueue(session, ProbeOutbox, topic, StringValue(value=value))


def rows(sessions: sessionmaker[Session]) -> list[ProbeOutbox]:
    with sessions() as session:
        return list(session.scalars(select(ProbeOutbox).order_by(ProbeOutbox.id)))


def test_pending_events_are_delivered_once_and_marked(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    delivered: list[str] = []
    relay = outbox.Relay(
        engine, table, {"probe": lambda p, d: delivered.append(StringValue.FromString(p).value)}
    )
    write(sessions, "a", "b", "c")

    assert relay.drain() == 3
    assert relay.drain() == 0
    assert delivered == ["a", "b", "c"]
    assert all(r.delivered_at is not None and r.attempts == 1 for r in rows(sessions))


def test_a_receiver_that_is_down_gets_the_event_later(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    up = False
    delivered: list[str] = []

    def deliver(payload: bytes, delivery: outbox.Delivery) -> None:
        if not up:
            raise Refused(grpc.StatusCode.UNAVAILABLE)
        delivered.append(delivery.event_id)

    relay = outbox.Relay(engine, table, {"probe": deliver}, backoff=outbox.Backoff(base=0.05))
    write(sessions, "x", "y")

    relay.drain()
    first, second = rows(sessions)
    assert first.delivered_at is None and first.attempts == 1
    assert "UNAVAILABLE" in (first.last_error or "")
    # The receiver was tried once per batch, not once per event.
    assert second.attempts == 1 and "earlier in this batch" in (second.last_error or "")

    up = True
    until(lambda: relay.drain() == 0 and len(delivered) == 2, within=5, what="redelivery")
    assert sorted(delivered) == sorted(str(r.event_id) for r in rows(sessions))


def test_an_event_the_receiver_refuses_is_kept_as_failed_and_not_retried(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    calls = Counter[str]()

    def deliver(payload: bytes, delivery: outbox.Delivery) -> None:
        calls[delivery.event_id] += 1
        raise Refused(grpc.StatusCode.NOT_FOUND)

    relay = outbox.Relay(engine, table, {"probe": deliver})
    write(sessions, "gone")
    relay.drain()
    relay.drain()

    [row] = rows(sessions)
    assert row.failed_at is not None and row.delivered_at is None
    assert "NOT_FOUND" in (row.last_error or "")
    assert list(calls.values()) == [1]


def test_two_relays_share_the_work_without_sending_an_event_twice(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    write(sessions, *(str(n) for n in range(200)))
    seen = Counter[str]()
    lock = threading.Lock()

    def deliver(payload: bytes, delivery: outbox.Delivery) -> None:
        with lock:
            seen[StringValue.FromString(payload).value] += 1

    relays = [outbox.Relay(engine, table, {"probe": deliver}, batch_size=5) for _ in range(2)]
    threads = [threading.Thread(target=r.drain) for r in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(seen) == 200
    assert set(seen.values()) == {1}


def test_a_waiting_relay_wakes_on_insert_not_on_its_poll(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    delivered = threading.Event()
    relay = outbox.Relay(engine, table, {"probe": lambda p, d: delivered.set()}, poll_interval=60)
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop,))
    worker.start()
    try:
        # Let it finish its first (empty) pass and start listening.
        until(lambda: _listening(engine), within=5, what="the relay to LISTEN")
        write(sessions, "wake up")
        # Far sooner than the 60 s poll: only NOTIFY can have woken it.
        assert delivered.wait(timeout=5)
    finally:
        stop.set()
        worker.join(timeout=5)


def _listening(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(
            connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN \"probe_outbox\"'"
                )
            )
        )


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    backoff = outbox.Backoff(base=1, cap=30)
    for attempts, ceiling in [(1, 1), (2, 2), (3, 4), (6, 30), (20, 30)]:
        delays = [backoff.delay(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


# -- batches: delivered together, recorded together ---------------------------

PROBE_METHOD = "/shopmesh.test.Probe/Deliver"


@dataclass
class Call:
    value: str
    request_id: str


Receive = Callable[[StringValue, Any], None]


@contextmanager
def receiver(receive: Receive, *, workers: int = 32) -> Iterator[str]:
    """A gRPC server on loopback whose one method runs `receive(request,
    context)`; yields its target."""
    handler = grpc.method_handlers_generic_handler(
        "shopmesh.test.Probe",
        {
            "Deliver": grpc.unary_unary_rpc_method_handler(
                lambda request, context: receive(request, context) or Empty(),
                request_deserializer=StringValue.FromString,
                response_serializer=Empty.SerializeToString,
            )
        },
    )
    with serving(
        lambda server: server.add_generic_rpc_handlers((handler,)), workers=workers
    ) as target:
        yield target


@contextmanager
def deliverer(target: str, *, retries: bool = True) -> Iterator[outbox.Deliver]:
    """An `rpc_deliverer` as the services build it: a stub method on a channel
    whose interceptor stamps the request id and a token (and, unless
    `retries` is off, with gRPC's own retries of UNAVAILABLE)."""
    tokens = auth.InternalTokens(auth.AuthSettings({}, keys.internal_key(), keys.ISSUERS), "orders")
    if retries:
        channel = internal_channel(target, tokens=tokens, default_timeout=5)
    else:
        channel = grpc.intercept_channel(
            grpc.insecure_channel(target), ClientInterceptor(tokens, default_timeout=5)
        )
    method = channel.unary_unary(
        PROBE_METHOD,
        request_serializer=StringValue.SerializeToString,
        response_deserializer=Empty.FromString,
    )
    try:
        yield outbox.rpc_deliverer(method, StringValue)
    finally:
        channel.close()


def request_id(context: Any) -> str:
    return dict(context.invocation_metadata()).get(callctx.REQUEST_ID_KEY, "")


def write_traced(sessions: sessionmaker[Session], *texts: str, topic: str = "probe") -> None:
    """One event per text, each written by a request of its own (`req-<text>`)."""
    with sessions.begin() as session:
        for value in texts:
            with callctx.bound(f"req-{value}", None):
                outbox.enqueue(session, ProbeOutbox, topic, StringValue(value=value))


@contextmanager
def counting_statements(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def db_now(engine: Engine) -> datetime:
    with engine.connect() as connection:
        return connection.scalar(select(func.now()))  # type: ignore[return-value]


def test_a_batch_is_in_flight_at_once_and_each_call_carries_its_request_id(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    size = 12
    # The first call tries the receiver; the other eleven must then all be
    # in flight together, or the barrier breaks (after 10 s, not a hang).
    together = threading.Barrier(size - 1, timeout=10)
    calls: list[Call] = []
    lock = threading.Lock()

    def receive(request: StringValue, context: Any) -> None:
        with lock:
            calls.append(Call(request.value, request_id(context)))
            first = len(calls) == 1
        if not first:
            try:
                together.wait()
            except threading.BrokenBarrierError:
                context.abort(grpc.StatusCode.ABORTED, "calls did not arrive together")

    values = [f"e{n}" for n in range(size)]
    write_traced(sessions, *values)
    with receiver(receive) as target, deliverer(target) as deliver:
        relay = outbox.Relay(engine, table, {"probe": deliver})
        assert relay.drain() == size

    assert [(r.delivered_at is not None, r.attempts, r.last_error) for r in rows(sessions)] == [
        (True, 1, None)
    ] * size
    assert sorted((c.value, c.request_id) for c in calls) == sorted((v, f"req-{v}") for v in values)


def test_each_row_of_a_mixed_batch_gets_its_own_outcome(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    answers = {
        "fine": None,
        "busy": grpc.StatusCode.RESOURCE_EXHAUSTED,
        "also fine": None,
        "refused": grpc.StatusCode.FAILED_PRECONDITION,
    }

    def receive(request: StringValue, context: Any) -> None:
        if code := answers[request.value]:
            context.abort(code, f"{request.value} by the test")

    write(sessions, *answers)
    write(sessions, "lost", topic="nobody.listens")
    with sessions.begin() as session:
        # As if two earlier tries had failed.
        session.execute(
            update(ProbeOutbox)
            .where(ProbeOutbox.payload == StringValue(value="busy").SerializeToString())
            .values(attempts=2)
        )
    backoff = outbox.Backoff(base=10, cap=100)
    with receiver(receive) as target, deliverer(target) as deliver:
        relay = outbox.Relay(engine, table, {"probe": deliver}, backoff=backoff)
        before = db_now(engine)
        assert relay.drain() == 5
        after = db_now(engine)

    fine, busy, also_fine, refused, lost = rows(sessions)
    for row in (fine, also_fine):
        assert row.delivered_at is not None and row.failed_at is None and row.attempts == 1
    assert busy.delivered_at is None and busy.failed_at is None and busy.attempts == 3
    assert busy.last_error == "RESOURCE_EXHAUSTED: busy by the test"
    # Third attempt: a delay between half and all of 10 s * 2**2.
    assert before + timedelta(seconds=20) <= busy.available_at <= after + timedelta(seconds=40)
    assert refused.failed_at is not None and refused.delivered_at is None
    assert (refused.attempts, refused.last_error) == (1, "FAILED_PRECONDITION: refused by the test")
    assert lost.failed_at is not None and lost.attempts == 1
    assert lost.last_error == "no deliverer for topic 'nobody.listens'"
    assert relay.drain() == 0


def test_a_receiver_that_is_down_is_called_once_per_batch_and_others_still_get_theirs(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    down: list[str] = []
    up: list[str] = []

    def restarting(request: StringValue, context: Any) -> None:
        down.append(request.value)
        context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")

    write(sessions, "d1", "d2", "d3", topic="down")
    write(sessions, "u1", "u2", "u3", topic="up")
    with (
        receiver(restarting) as down_target,
        receiver(lambda request, _: up.append(request.value)) as up_target,
        # Without gRPC's own retries, each delivery is exactly one call.
        deliverer(down_target, retries=False) as to_down,
        deliverer(up_target, retries=False) as to_up,
    ):
        relay = outbox.Relay(engine, table, {"down": to_down, "up": to_up})
        assert relay.drain() == 6

    assert down == ["d1"]
    assert sorted(up) == ["u1", "u2", "u3"]
    d1, d2, d3, *delivered = rows(sessions)
    assert d1.last_error == "UNAVAILABLE: restarting"
    for row in (d2, d3):
        assert row.last_error == "receiver unavailable earlier in this batch"
    for row in (d1, d2, d3):
        assert row.delivered_at is None and row.failed_at is None and row.attempts == 1
    assert all(r.delivered_at is not None for r in delivered)


@pytest.mark.parametrize("size", [4, 60])
def test_a_batch_costs_a_claim_and_one_statement_per_kind_of_outcome(
    size: int, engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    """Whatever its size: the round trips a batch makes do not grow with it."""

    def deliver(payload: bytes, delivery: outbox.Delivery) -> None:
        value = StringValue.FromString(payload).value
        if value.startswith("retry"):
            raise RuntimeError("try again")
        if value.startswith("refuse"):
            raise outbox.PermanentDeliveryError("never")

    third = size // 3
    write(
        sessions,
        *(f"ok{n}" for n in range(size - 2 * third)),
        *(f"retry{n}" for n in range(third)),
        *(f"refuse{n}" for n in range(third)),
    )
    relay = outbox.Relay(engine, table, {"probe": deliver}, batch_size=100)
    with counting_statements(engine) as statements:
        assert relay.drain() == size

    assert len(statements) == 4, statements
    assert Counter(_state(r) for r in rows(sessions)) == {
        "delivered": size - 2 * third,
        "retrying": third,
        "failed": third,
    }


def test_a_burst_is_drained_in_full_batches_without_an_empty_claim(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    write(sessions, *(str(n) for n in range(250)))
    delivered: list[str] = []
    relay = outbox.Relay(
        engine,
        table,
        {"probe": lambda p, d: delivered.append(StringValue.FromString(p).value)},
        batch_size=100,
    )
    with counting_statements(engine) as statements:
        assert relay.drain() == 250

    # Three claims (100, 100, 50), each followed by one update.
    assert len(statements) == 6, statements
    assert sorted(delivered, key=int) == [str(n) for n in range(250)]


def _state(row: ProbeOutbox) -> str:
    if row.delivered_at is not None:
        return "delivered"
    return "failed" if row.failed_at is not None else "retrying"


# -- pruning ------------------------------------------------------------------


def put(
    sessions: sessionmaker[Session],
    value: str,
    *,
    delivered: float | None = None,
    failed: float | None = None,
    created: float = 0,
) -> None:
    """A row in a given state; times are minutes ago."""

    def ago(minutes: float | None) -> Any:
        return None if minutes is None else func.now() - timedelta(minutes=minutes)

    with sessions.begin() as session:
        session.add(
            ProbeOutbox(
                topic="probe",
                payload=StringValue(value=value).SerializeToString(),
                attempts=0 if delivered is None and failed is None else 1,
                create_time=ago(created),
                available_at=ago(created),
                delivered_at=ago(delivered),
                failed_at=ago(failed),
            )
        )


def values(sessions: sessionmaker[Session]) -> list[str]:
    return [StringValue.FromString(r.payload).value for r in rows(sessions)]


def test_pruning_removes_only_rows_delivered_longer_ago_than_the_retention(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    put(sessions, "delivered long ago", created=30, delivered=20)
    put(sessions, "delivered just now", created=30, delivered=1)
    put(sessions, "failed long ago", created=30, failed=20)
    put(sessions, "pending for long", created=30)
    put(sessions, "pending", created=0)
    relay = outbox.Relay(engine, table, {}, retention=600)

    assert relay.prune() == 1
    assert values(sessions) == [
        "delivered just now",
        "failed long ago",
        "pending for long",
        "pending",
    ]
    assert relay.prune() == 0


def test_pruning_deletes_in_bounded_batches(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    for n in range(5):
        put(sessions, f"old{n}", created=30, delivered=20)
    relay = outbox.Relay(engine, table, {}, retention=600, prune_batch=2)

    assert [relay.prune() for _ in range(4)] == [2, 2, 1, 0]
    assert values(sessions) == []


def test_a_running_relay_prunes_and_keeps_delivering(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    for n in range(3):
        put(sessions, f"old{n}", created=30, delivered=20)
    delivered = threading.Event()
    relay = outbox.Relay(
        engine,
        table,
        {"probe": lambda p, d: delivered.set()},
        poll_interval=60,
        retention=600,
        # Each pass prunes one row: the backlog must not wait for the 60 s poll.
        prune_batch=1,
    )
    stop = threading.Event()
    worker = threading.Thread(target=relay.run, args=(stop,))
    worker.start()
    try:
        until(lambda: values(sessions) == [], within=5, what="the old rows pruned")
        write(sessions, "new")
        assert delivered.wait(timeout=5)
        until(
            lambda: [_state(r) for r in rows(sessions)] == ["delivered"],
            within=5,
            what="the new row kept, delivered",
        )
    finally:
        stop.set()
        worker.join(timeout=5)


class BatchProbe:
    """A batch deliverer: answers each value as `answers` says."""

    def __init__(self, answers: dict[str, Exception | None]) -> None:
        self.answers = answers
        self.calls: list[list[tuple[str, str]]] = []

    def __call__(self, payload: bytes, delivery: outbox.Delivery) -> None:
        raise AssertionError("a batch deliverer gets its rows together")

    def deliver_many(
        self, items: Sequence[tuple[bytes, outbox.Delivery]]
    ) -> list[Exception | None]:
        values = [(StringValue.FromString(p).value, d.request_id) for p, d in items]
        self.calls.append(values)
        return [self.answers[value] for value, _ in values]


def test_a_batch_deliverer_gets_its_topics_rows_in_one_call_and_each_its_outcome(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    probe = BatchProbe(
        {
            "fine": None,
            "busy": RuntimeError("try later"),
            "gone": outbox.PermanentDeliveryError("no such notification"),
            "also fine": None,
        }
    )
    write_traced(sessions, *probe.answers)
    relay = outbox.Relay(engine, table, {"probe": probe})

    assert relay.drain() == 4

    assert probe.calls == [[(v, f"req-{v}") for v in probe.answers]]
    fine, busy, gone, also_fine = rows(sessions)
    assert fine.delivered_at is not None and also_fine.delivered_at is not None
    assert busy.delivered_at is None and busy.failed_at is None
    assert (busy.attempts, busy.last_error) == (1, "RuntimeError: try later")
    assert gone.failed_at is not None and gone.last_error == "no such notification"


# -- batch calls: one RPC for a topic's rows, one by one when refused ---------


@dataclass
class BatchReceiver:
    """Refuses a batch holding `bad` as a real batch method would (all or
    nothing), and `bad` alone too; or answers every batch with `batch_code`."""

    bad: str = ""
    batch_code: grpc.StatusCode | None = None
    batches: list[list[str]] = field(default_factory=list)
    singles: list[str] = field(default_factory=list)
    # Each batch call's request id, and the request ids it said it carries.
    batch_ids: list[tuple[str, list[str]]] = field(default_factory=list)
    single_ids: list[str] = field(default_factory=list)

    def deliver_many(self, request: ListValue, context: Any) -> Empty:
        values = [v.string_value for v in request.values]
        self.batches.append(values)
        metadata = tuple(context.invocation_metadata())
        self.batch_ids.append((request_id(context), callctx.batch_of(metadata)))
        if self.batch_code is not None:
            context.abort(self.batch_code, "batch refused by the test")
        if self.bad in values:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a bad value in the batch")
        return Empty()

    def deliver(self, request: StringValue, context: Any) -> Empty:
        self.singles.append(request.value)
        self.single_ids.append(request_id(context))
        if request.value == self.bad:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "a bad value")
        return Empty()


@contextmanager
def batch_deliverer(probe: BatchReceiver) -> Iterator[outbox.RpcBatchDeliverer]:
    handler = grpc.method_handlers_generic_handler(
        "shopmesh.test.Probe",
        {
            "Deliver": grpc.unary_unary_rpc_method_handler(
                probe.deliver,
                request_deserializer=StringValue.FromString,
                response_serializer=Empty.SerializeToString,
            ),
            "DeliverMany": grpc.unary_unary_rpc_method_handler(
                probe.deliver_many,
                request_deserializer=ListValue.FromString,
                response_serializer=Empty.SerializeToString,
            ),
        },
    )
    with serving(lambda server: server.add_generic_rpc_handlers((handler,))) as target:
        tokens = auth.InternalTokens(
            auth.AuthSettings({}, keys.internal_key(), keys.ISSUERS), "orders"
        )
        channel = grpc.intercept_channel(
            grpc.insecure_channel(target), ClientInterceptor(tokens, default_timeout=5)
        )
        single = channel.unary_unary(
            PROBE_METHOD,
            request_serializer=StringValue.SerializeToString,
            response_deserializer=Empty.FromString,
        )
        many = channel.unary_unary(
            "/shopmesh.test.Probe/DeliverMany",
            request_serializer=ListValue.SerializeToString,
            response_deserializer=Empty.FromString,
        )
        try:
            yield outbox.rpc_batch_deliverer(
                many,
                lambda requests: ListValue(values=[Value(string_value=r.value) for r in requests]),
                outbox.rpc_deliverer(single, StringValue),
            )
        finally:
            channel.close()


def outcomes(sessions: sessionmaker[Session]) -> list[tuple[str, str]]:
    return [
        (
            StringValue.FromString(row.payload).value,
            "delivered" if row.delivered_at else "failed" if row.failed_at else "pending",
        )
        for row in rows(sessions)
    ]


def test_a_batch_method_gets_a_topics_rows_in_one_call(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    probe = BatchReceiver()
    write_traced(sessions, "a", "b", "c")
    with batch_deliverer(probe) as deliver:
        assert outbox.Relay(engine, table, {"probe": deliver}).drain() == 3

    assert probe.batches == [["a", "b", "c"]] and probe.singles == []
    assert outcomes(sessions) == [("a", "delivered"), ("b", "delivered"), ("c", "delivered")]
    # The call has a request id of its own and names the rows' requests.
    ((batch_id, carried),) = probe.batch_ids
    assert carried == ["req-a", "req-b", "req-c"] and batch_id and batch_id not in carried


def test_a_refused_batch_is_delivered_one_by_one_so_only_the_bad_row_fails(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    probe = BatchReceiver(bad="b")
    write(sessions, "a", "b", "c")
    with batch_deliverer(probe) as deliver:
        assert outbox.Relay(engine, table, {"probe": deliver}).drain() == 3

    assert probe.batches == [["a", "b", "c"]] and sorted(probe.singles) == ["a", "b", "c"]
    assert outcomes(sessions) == [("a", "delivered"), ("b", "failed"), ("c", "delivered")]


def test_a_receiver_without_the_batch_method_still_gets_every_row(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    # A receiver not yet upgraded during a rolling deploy.
    probe = BatchReceiver(batch_code=grpc.StatusCode.UNIMPLEMENTED)
    write(sessions, "a", "b")
    with batch_deliverer(probe) as deliver:
        assert outbox.Relay(engine, table, {"probe": deliver}).drain() == 2

    assert sorted(probe.singles) == ["a", "b"]
    assert outcomes(sessions) == [("a", "delivered"), ("b", "delivered")]


def test_a_batch_the_receiver_cannot_take_now_is_postponed_whole(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    probe = BatchReceiver(batch_code=grpc.StatusCode.UNAVAILABLE)
    write(sessions, "a", "b")
    with batch_deliverer(probe) as deliver:
        assert outbox.Relay(engine, table, {"probe": deliver}).drain() == 2

    assert probe.singles == []
    assert outcomes(sessions) == [("a", "pending"), ("b", "pending")]
    assert {row.last_error for row in rows(sessions)} == {"UNAVAILABLE: batch refused by the test"}


def test_a_lone_row_goes_by_the_single_method_with_its_request_id(
    engine: Engine, sessions: sessionmaker[Session], table: type[ProbeOutbox]
) -> None:
    probe = BatchReceiver()
    write_traced(sessions, "alone")
    with batch_deliverer(probe) as deliver:
        assert outbox.Relay(engine, table, {"probe": deliver}).drain() == 1

    assert probe.batches == [] and probe.singles == ["alone"]
    assert probe.single_ids == ["req-alone"]
