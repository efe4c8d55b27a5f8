"""NotificationService against real PostgreSQL, through its real gRPC server,
delivering through the log channel."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from meshkit.logs import JsonFormatter
from notifications import server
from notifications.tables import Notification
from shopmesh.notifications.v1 import notifications_pb2 as pb
from shopmesh.notifications.v1 import notifications_pb2_grpc
from tests.support import data
from tests.support.inprocess import running
from tests.support.rpc import as_customer, as_role, as_service, reason, violations
from tests.support.settings import for_service
from tests.support.waiting import until

Stub = notifications_pb2_grpc.NotificationServiceStub


@pytest.fixture(scope="module")
def stub(database_url: str) -> Iterator[Stub]:
    settings = for_service("notifications", database_url, NOTIFY_CHANNEL="log")
    with running(server.build(settings)) as target, grpc.insecure_channel(target) as channel:
        yield Stub(channel)


@pytest.fixture
def customer_id(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as s:
        return data.customer(s).id


@pytest.fixture
def other_customer_id(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as s:
        return data.customer(s).id


def send(
    stub: Stub, customer_id: int, message: str = "Order completed", **fields: object
) -> pb.Notification:
    request = pb.SendNotificationRequest(customer_id=customer_id, message=message, **fields)
    return stub.SendNotification(request, metadata=as_role("ops"), timeout=10).notification


def listed(stub: Stub, customer_id: int, metadata: object = None) -> list[pb.Notification]:
    """The customer's notifications, as ops sees them unless `metadata` says otherwise."""
    request = pb.ListNotificationsRequest(customer_id=customer_id)
    seen_as = as_role("ops") if metadata is None else metadata
    return list(stub.ListNotifications(request, metadata=seen_as, timeout=10).notifications)


def state_of(stub: Stub, customer_id: int, notification_id: int) -> int:
    found = [n for n in listed(stub, customer_id) if n.notification_id == notification_id]
    return found[0].delivery_state if found else pb.DELIVERY_STATE_UNSPECIFIED


def test_a_sent_notification_is_listed_and_delivered_to_the_log(
    stub: Stub, customer_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    # The seed's body: only a customer and a message.
    sent = send(stub, customer_id, "Order completed\nThank you for shopping with us.")

    assert sent.notification_id > 0 and sent.customer_id == customer_id
    assert sent.subject == "Order completed"  # derived from the message's first line
    assert sent.channel == pb.CHANNEL_LOG  # the configured default
    assert sent.delivery_state == pb.DELIVERY_STATE_PENDING
    assert sent.HasField("create_time") and not sent.HasField("deliver_time")

    until(
        lambda: state_of(stub, customer_id, sent.notification_id) == pb.DELIVERY_STATE_DELIVERED,
        within=10,
        what="the notification to be delivered",
    )
    [shown] = listed(stub, customer_id)
    assert shown.notification_id == sent.notification_id
    assert shown.message == "Order completed\nThank you for shopping with us."
    assert shown.HasField("deliver_time")
    assert shown.deliver_time.ToDatetime() >= shown.create_time.ToDatetime()

    lines = [
        json.loads(JsonFormatter("notifications").format(record))
        for record in caplog.records
        if record.name == "notifications.outbound"
    ]
    mine = [line for line in lines if line.get("notification_id") == sent.notification_id]
    assert len(mine) == 1
    assert mine[0]["customer_id"] == customer_id
    assert mine[0]["subject"] == "Order completed"
    assert mine[0]["body"].startswith("Order completed")


def test_an_explicit_subject_and_order_are_kept(stub: Stub, customer_id: int) -> None:
    sent = send(stub, customer_id, "Your parcel is on its way.", subject="Shipped", order_id=42)

    [shown] = listed(stub, customer_id)
    assert (shown.subject, shown.order_id) == ("Shipped", 42) == (sent.subject, sent.order_id)


def test_resending_a_request_id_returns_the_first_notification_and_stores_one(
    stub: Stub, customer_id: int, sessions: sessionmaker[Session]
) -> None:
    request_id = str(uuid.uuid4())
    request = pb.SendNotificationRequest(
        customer_id=customer_id, message="Order 7 confirmed", request_id=request_id
    )
    first = stub.SendNotification(request, metadata=as_service("orders"), timeout=10)
    again = stub.SendNotification(request, metadata=as_service("orders"), timeout=10)

    assert again.notification.notification_id == first.notification.notification_id
    assert [n.notification_id for n in listed(stub, customer_id)] == [
        first.notification.notification_id
    ]
    with sessions() as s:
        stored = s.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.request_id == request_id)
        )
    assert stored == 1


def test_concurrent_duplicates_all_get_the_one_notification(stub: Stub, customer_id: int) -> None:
    request = pb.SendNotificationRequest(
        customer_id=customer_id, message="Order 8 confirmed", request_id=str(uuid.uuid4())
    )
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(
            pool.map(
                lambda _: stub.SendNotification(request, metadata=as_role("ops"), timeout=10),
                range(8),
            )
        )

    assert len({r.notification.notification_id for r in replies}) == 1
    assert len(listed(stub, customer_id)) == 1


def test_bad_input_names_every_offending_field(stub: Stub) -> None:
    request = pb.SendNotificationRequest(
        customer_id=0,
        message="   ",
        subject="x" * 201,
        channel=99,  # type: ignore[arg-type]
        order_id=-1,
        request_id="r" * 65,
    )
    with pytest.raises(grpc.RpcError) as refused:
        stub.SendNotification(request, metadata=as_role("ops"), timeout=10)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason(refused.value) == "INVALID_ARGUMENT"
    assert set(violations(refused.value)) == {
        "customer_id",
        "message",
        "subject",
        "channel",
        "order_id",
        "request_id",
    }


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"message": "x" * 2001}, "message"),
        ({"message": "hello\x00"}, "message"),
        ({"message": "hello", "subject": "Hello\r\nBcc: everyone@example.test"}, "subject"),
    ],
)
def test_overlong_messages_and_unsafe_text_are_refused(
    stub: Stub, customer_id: int, fields: dict[str, str], field: str
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        stub.SendNotification(
            pb.SendNotificationRequest(customer_id=customer_id, **fields),
            metadata=as_role("ops"),
            timeout=10,
        )

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in violations(refused.value)
    assert listed(stub, customer_id) == []


def test_a_message_of_exactly_2000_characters_is_accepted(stub: Stub, customer_id: int) -> None:
    sent = send(stub, customer_id, "y" * 2000)

    assert len(sent.message) == 2000


def test_customers_may_not_send(stub: Stub, customer_id: int) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        stub.SendNotification(
            pb.SendNotificationRequest(customer_id=customer_id, message="free money"),
            metadata=as_customer(customer_id),
            timeout=10,
        )

    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert listed(stub, customer_id) == []


def test_sending_to_an_unknown_customer_is_not_found(stub: Stub) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        send(stub, 10**15)

    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(refused.value) == "CUSTOMER_NOT_FOUND"


def test_a_customer_lists_their_own_but_not_another_customers(
    stub: Stub, customer_id: int, other_customer_id: int
) -> None:
    mine = send(stub, customer_id, "for you")
    send(stub, other_customer_id, "for someone else")

    own = listed(stub, customer_id, metadata=as_customer(customer_id))
    assert [n.notification_id for n in own] == [mine.notification_id]
    with pytest.raises(grpc.RpcError) as refused:
        listed(stub, other_customer_id, metadata=as_customer(customer_id))
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(refused.value) == "CUSTOMER_NOT_FOUND"
    # ...exactly as for an id nobody has, so ids cannot be probed.
    with pytest.raises(grpc.RpcError) as unknown:
        listed(stub, 10**15, metadata=as_customer(customer_id))
    assert (unknown.value.code(), reason(unknown.value)) == (
        refused.value.code(),
        reason(refused.value),
    )


def test_lists_page_newest_first_without_gaps_or_repeats(stub: Stub, customer_id: int) -> None:
    sent = [send(stub, customer_id, f"message {n}").notification_id for n in range(5)]

    pages: list[list[int]] = []
    token = ""
    while True:
        reply = stub.ListNotifications(
            pb.ListNotificationsRequest(customer_id=customer_id, page_size=2, page_token=token),
            metadata=as_role("ops"),
            timeout=10,
        )
        pages.append([n.notification_id for n in reply.notifications])
        token = reply.next_page_token
        if not token:
            break

    assert pages == [sent[4:2:-1], sent[2:0:-1], sent[0:1]]


def test_bad_paging_input_is_refused(stub: Stub, customer_id: int) -> None:
    for request, field in [
        (pb.ListNotificationsRequest(customer_id=customer_id, page_size=-1), "page_size"),
        (pb.ListNotificationsRequest(customer_id=customer_id, page_token="nonsense"), "page_token"),
        (pb.ListNotificationsRequest(customer_id=0), "customer_id"),
    ]:
        with pytest.raises(grpc.RpcError) as refused:
            stub.ListNotifications(request, metadata=as_role("ops"), timeout=10)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in violations(refused.value)


def test_a_watch_receives_notifications_sent_after_it_opened(
    stub: Stub, customer_id: int, other_customer_id: int
) -> None:
    stream = stub.WatchNotifications(
        pb.WatchNotificationsRequest(customer_id=customer_id),
        metadata=as_customer(customer_id),
        timeout=15,
    )
    try:
        # Headers arrive once the server is following the customer.
        stream.initial_metadata()
        send(stub, other_customer_id, "not for this stream")
        sent = send(stub, customer_id, "Your order shipped")

        first = next(stream).notification
        assert first.notification_id == sent.notification_id
        assert first.message == "Your order shipped"
        # Delivery changes the notification: the stream shows that too.
        update = first
        while update.delivery_state != pb.DELIVERY_STATE_DELIVERED:
            update = next(stream).notification
        assert update.notification_id == sent.notification_id
    finally:
        stream.cancel()


def test_a_customer_cannot_watch_another_customer(
    stub: Stub, customer_id: int, other_customer_id: int
) -> None:
    stream = stub.WatchNotifications(
        pb.WatchNotificationsRequest(customer_id=other_customer_id),
        metadata=as_customer(customer_id),
        timeout=10,
    )
    with pytest.raises(grpc.RpcError) as refused:
        next(stream)

    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(refused.value) == "CUSTOMER_NOT_FOUND"


def test_a_watch_whose_change_feed_is_lost_ends_unavailable_and_can_be_reopened(
    stub: Stub, customer_id: int, engine: Engine
) -> None:
    def watch() -> Any:
        stream = stub.WatchNotifications(
            pb.WatchNotificationsRequest(customer_id=customer_id),
            metadata=as_role("ops"),
            timeout=15,
        )
        stream.initial_metadata()
        return stream

    broken = watch()
    try:
        # What a database restart does to the service's LISTEN connection.
        with engine.connect() as connection:
            killed = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query = 'LISTEN \"notifications\"'"
                )
            ).scalar_one()
        assert killed == 1
        with pytest.raises(grpc.RpcError) as ended:
            next(broken)
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        assert reason(ended.value) == "WATCH_UNAVAILABLE"
    finally:
        broken.cancel()

    reopened = watch()
    try:
        sent = send(stub, customer_id, "after the outage")
        assert next(reopened).notification.notification_id == sent.notification_id
    finally:
        reopened.cancel()


def watch(stub: Stub, customer_id: int, metadata: object = None) -> Any:
    """An open watch: its headers have arrived, so the server follows the customer."""
    stream = stub.WatchNotifications(
        pb.WatchNotificationsRequest(customer_id=customer_id),
        metadata=as_customer(customer_id) if metadata is None else metadata,
        timeout=30,
    )
    stream.initial_metadata()
    return stream


def refusal(stream: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as refused:
        next(stream)
    return refused.value


def test_a_customer_holds_at_most_four_watches_and_closing_one_makes_room(
    stub: Stub, customer_id: int
) -> None:
    streams = [watch(stub, customer_id) for _ in range(4)]
    try:
        fifth = stub.WatchNotifications(
            pb.WatchNotificationsRequest(customer_id=customer_id),
            metadata=as_customer(customer_id),
            timeout=10,
        )
        refused = refusal(fifth)
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert reason(refused) == "TOO_MANY_WATCHES"

        streams.pop().cancel()
        # The server notices the hang-up on its own time.
        streams.append(until(lambda: _opened(stub, customer_id), within=10, what="a free slot"))
        sent = send(stub, customer_id, "to every watch")
        for stream in streams:
            assert next(stream).notification.notification_id == sent.notification_id
    finally:
        for stream in streams:
            stream.cancel()


def _opened(stub: Stub, customer_id: int) -> Any:
    try:
        return watch(stub, customer_id)
    except grpc.RpcError as refused:
        assert reason(refused) == "TOO_MANY_WATCHES"
        return None


def test_many_open_watches_leave_the_other_calls_answering(
    stub: Stub, sessions: sessionmaker[Session]
) -> None:
    # Far more streams than the server has threads for plain calls (32):
    # waiting streams must not hold threads.
    with sessions.begin() as s:
        customers = [data.customer(s).id for _ in range(40)]
    streams = [watch(stub, c) for c in customers for _ in range(3)]
    try:
        assert len(listed(stub, customers[0])) == 0
        sent = send(stub, customers[-1], "still answering")
        assert next(streams[-1]).notification.notification_id == sent.notification_id
    finally:
        for stream in streams:
            stream.cancel()


def test_an_instance_full_of_watches_refuses_more(
    database_url: str, customer_id: int, other_customer_id: int
) -> None:
    settings = for_service("notifications", database_url, WATCH_STREAMS_MAX="2")
    with running(server.build(settings)) as target, grpc.insecure_channel(target) as channel:
        small = Stub(channel)
        streams = [watch(small, customer_id), watch(small, customer_id)]
        try:
            refused = refusal(
                small.WatchNotifications(
                    pb.WatchNotificationsRequest(customer_id=other_customer_id),
                    metadata=as_customer(other_customer_id),
                    timeout=10,
                )
            )
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert reason(refused) == "WATCHES_EXHAUSTED"
        finally:
            for stream in streams:
                stream.cancel()


# -- BatchSendNotifications: a relay's batch in one call -----------------------


def send_batch(stub: Stub, *requests: pb.SendNotificationRequest) -> list[pb.Notification]:
    batch = pb.BatchSendNotificationsRequest(requests=requests)
    return list(
        stub.BatchSendNotifications(batch, metadata=as_service("orders"), timeout=10).notifications
    )


def test_a_batch_stores_each_notification_in_order_and_delivers_each(
    stub: Stub, customer_id: int, other_customer_id: int
) -> None:
    stored = send_batch(
        stub,
        pb.SendNotificationRequest(customer_id=customer_id, message="first"),
        pb.SendNotificationRequest(customer_id=other_customer_id, message="second", order_id=7),
        pb.SendNotificationRequest(customer_id=customer_id, message="third", subject="Third"),
    )

    assert [(n.customer_id, n.message, n.subject) for n in stored] == [
        (customer_id, "first", "first"),
        (other_customer_id, "second", "second"),
        (customer_id, "third", "Third"),
    ]
    assert len({n.notification_id for n in stored}) == 3 and stored[1].order_id == 7
    for notification in stored:
        until(
            lambda n=notification: (
                state_of(stub, n.customer_id, n.notification_id) == pb.DELIVERY_STATE_DELIVERED
            ),
            within=10,
            what=f"notification {notification.notification_id} delivered",
        )


def test_a_batch_naming_an_unknown_customer_stores_none_of_it(stub: Stub, customer_id: int) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        send_batch(
            stub,
            pb.SendNotificationRequest(customer_id=customer_id, message="would be first"),
            pb.SendNotificationRequest(customer_id=10**12, message="nobody"),
        )

    assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(refused.value) == "CUSTOMER_NOT_FOUND"
    assert listed(stub, customer_id) == []


def test_a_resent_batch_returns_what_was_stored_first(stub: Stub, customer_id: int) -> None:
    requests = [
        pb.SendNotificationRequest(
            customer_id=customer_id, message=f"event {n}", request_id=uuid.uuid4().hex
        )
        for n in range(3)
    ]
    first = send_batch(stub, *requests)
    # A relay that died before marking its batch sends it again, maybe with more.
    extra = pb.SendNotificationRequest(customer_id=customer_id, message="new", request_id="x1")
    again = send_batch(stub, requests[2], extra, requests[0])

    assert [n.notification_id for n in again[::2]] == [
        first[2].notification_id,
        first[0].notification_id,
    ]
    assert len(listed(stub, customer_id)) == 4


def test_bad_requests_in_a_batch_are_named_by_position(stub: Stub, customer_id: int) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        send_batch(
            stub,
            pb.SendNotificationRequest(customer_id=customer_id, message="fine"),
            pb.SendNotificationRequest(customer_id=customer_id, message=""),
            pb.SendNotificationRequest(customer_id=0, message="fine", subject="two\nlines"),
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(refused.value)) == {
        "requests[1].message",
        "requests[2].customer_id",
        "requests[2].subject",
    }
    assert listed(stub, customer_id) == []

    with pytest.raises(grpc.RpcError) as empty:
        send_batch(stub)
    assert "requests" in violations(empty.value)


def test_only_services_send_batches(stub: Stub, customer_id: int) -> None:
    batch = pb.BatchSendNotificationsRequest(
        requests=[pb.SendNotificationRequest(customer_id=customer_id, message="hi")]
    )
    for caller in (as_role("ops"), as_customer(customer_id)):
        with pytest.raises(grpc.RpcError) as refused:
            stub.BatchSendNotifications(batch, metadata=caller, timeout=10)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
