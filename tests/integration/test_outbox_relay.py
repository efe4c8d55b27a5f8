"""The outbox relay on real PostgreSQL, with its own table so that no other
test's events are in the way."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.wrappers_pb2 import StringValue
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from meshkit import outbox
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
