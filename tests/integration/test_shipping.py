"""ShippingService against real PostgreSQL, through its real gRPC server.

Orders and Notifications are fakes served on loopback: they answer GetOrder
from orders the test puts there and record what Shipping's relay sends them.
Every test makes its own orders, so tests share the server but no data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import grpc
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from meshkit.status import error_info
from shipping import events, server, tables
from shopmesh.orders.v1 import orders_pb2
from shopmesh.shipping.v1 import shipping_pb2 as pb
from shopmesh.shipping.v1 import shipping_pb2_grpc
from tests.support.fake_peers import (
    FakeNotifications,
    FakeOrders,
    Received,
    fake_notifications,
    fake_orders,
)
from tests.support.inprocess import running
from tests.support.rpc import as_customer, as_role, as_service, reason, violations
from tests.support.settings import for_service
from tests.support.waiting import until

Stub = shipping_pb2_grpc.ShippingServiceStub
LABEL = pb.SHIPMENT_STATE_LABEL_CREATED
TRANSIT = pb.SHIPMENT_STATE_IN_TRANSIT
DELIVERED = pb.SHIPMENT_STATE_DELIVERED
CANCELLED = pb.SHIPMENT_STATE_CANCELLED


@dataclass
class Mesh:
    stub: Stub
    orders: FakeOrders
    notifications: FakeNotifications


@pytest.fixture(scope="module")
def mesh(database_url: str) -> Iterator[Mesh]:
    with (
        fake_orders() as (orders, orders_target),
        fake_notifications() as (notifications, notifications_target),
    ):
        settings = for_service(
            "shipping",
            database_url,
            ORDERS_TARGET=orders_target,
            NOTIFICATIONS_TARGET=notifications_target,
        )
        with running(server.build(settings)) as target, grpc.insecure_channel(target) as channel:
            yield Mesh(Stub(channel), orders, notifications)


def unique_id() -> int:
    # Random and far above the ids a real Orders hands out, so that tests
    # (and other suites sharing the database) never meet each other's data.
    return (uuid.uuid4().int >> 80) + 10**12


def an_order(
    mesh: Mesh,
    fulfillments: dict[int, dict[int, int]],
    *,
    customer_id: int | None = None,
    state: int = orders_pb2.ORDER_STATE_CONFIRMED,
    order_id: int | None = None,
) -> orders_pb2.Order:
    """Put an order into the fake Orders: warehouse -> product -> units."""
    order = orders_pb2.Order(
        order_id=order_id or unique_id(),
        customer_id=customer_id or unique_id(),
        state=state,
        fulfillments=[
            orders_pb2.Fulfillment(
                warehouse_id=warehouse_id,
                warehouse_name=f"Warehouse {warehouse_id}",
                items=[
                    orders_pb2.FulfillmentItem(product_id=p, quantity=q) for p, q in items.items()
                ],
            )
            for warehouse_id, items in fulfillments.items()
        ],
    )
    mesh.orders.put(order)
    return order


def alert(mesh: Mesh, order: orders_pb2.Order, metadata: object = None) -> list[pb.Shipment]:
    """Orders' alert for `order`, sent as Orders unless `metadata` says otherwise."""
    request = pb.ReceiveOrderAlertRequest(order_id=order.order_id, customer_id=order.customer_id)
    sent_as = as_service("orders") if metadata is None else metadata
    return list(mesh.stub.ReceiveOrderAlert(request, metadata=sent_as, timeout=10).shipments)


def update(
    mesh: Mesh, shipment: pb.Shipment, state: int, *, etag: str | None = None, **fields: object
) -> pb.Shipment:
    request = pb.UpdateShipmentRequest(
        shipment=pb.Shipment(
            shipment_id=shipment.shipment_id,
            state=state,
            etag=shipment.etag if etag is None else etag,
        ),
        **fields,
    )
    return mesh.stub.UpdateShipment(request, metadata=as_role("ops"), timeout=10).shipment


def by_warehouse(shipments: list[pb.Shipment]) -> dict[int, pb.Shipment]:
    return {s.warehouse_id: s for s in shipments if s.state != CANCELLED}


def items(shipment: pb.Shipment) -> dict[int, int]:
    return {i.product_id: i.quantity for i in shipment.items}


def rows_of(sessions: sessionmaker[Session], order_id: int) -> list[tables.Shipment]:
    with sessions() as s:
        return list(s.scalars(select(tables.Shipment).where(tables.Shipment.order_id == order_id)))


def progress_recorded(sessions: sessionmaker[Session], order_id: int) -> list[tuple[int, int]]:
    """(shipment id, progress) of every progress event written for the order."""
    with sessions() as s:
        rows = s.scalars(
            select(tables.ShippingOutbox)
            .where(tables.ShippingOutbox.topic == events.SHIPMENT_PROGRESS)
            .order_by(tables.ShippingOutbox.id)
        )
        found = [orders_pb2.RecordShipmentProgressRequest.FromString(r.payload) for r in rows]
    return [(e.shipment_id, e.progress) for e in found if e.order_id == order_id]


# -- alerts -------------------------------------------------------------------


def test_an_alert_creates_one_labelled_shipment_per_warehouse_of_a_split_order(
    mesh: Mesh,
) -> None:
    order = an_order(mesh, {1: {10: 2, 11: 1}, 2: {10: 5}})

    shipments = alert(mesh, order)

    assert sorted(s.warehouse_id for s in shipments) == [1, 2]
    assert all(s.state == LABEL for s in shipments)
    assert all(s.order_id == order.order_id for s in shipments)
    assert all(s.customer_id == order.customer_id for s in shipments)
    made = by_warehouse(shipments)
    assert items(made[1]) == {10: 2, 11: 1} and items(made[2]) == {10: 5}
    assert len({s.tracking_number for s in shipments}) == 2
    assert all(s.tracking_number.startswith("SM-") and s.etag for s in shipments)


def test_repeating_an_alert_creates_nothing_new(
    mesh: Mesh, sessions: sessionmaker[Session]
) -> None:
    order = an_order(mesh, {1: {10: 1}, 2: {11: 1}})

    first = alert(mesh, order)
    again = alert(mesh, order)

    assert [(s.shipment_id, s.etag) for s in again] == [(s.shipment_id, s.etag) for s in first]
    assert len(rows_of(sessions, order.order_id)) == 2
    assert len(progress_recorded(sessions, order.order_id)) == 2


def test_concurrent_alerts_for_one_order_still_give_one_shipment_per_warehouse(
    mesh: Mesh, sessions: sessionmaker[Session]
) -> None:
    order = an_order(mesh, {1: {10: 1}, 2: {11: 1}, 3: {12: 1}})

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: alert(mesh, order), range(8)))

    rows = rows_of(sessions, order.order_id)
    assert sorted(r.warehouse_id for r in rows) == [1, 2, 3]
    assert all(r.state == "label_created" for r in rows)
    assert all(sorted(s.shipment_id for s in a) == sorted(r.id for r in rows) for a in answers)
    # Exactly one "label created" event per shipment, however many alerts raced.
    assert sorted(
        shipment_id for shipment_id, _ in progress_recorded(sessions, order.order_id)
    ) == (sorted(r.id for r in rows))


def test_an_alert_brings_waiting_shipments_in_line_with_a_changed_order(mesh: Mesh) -> None:
    order = an_order(mesh, {1: {10: 1}, 2: {11: 1}})
    before = by_warehouse(alert(mesh, order))

    an_order(mesh, {1: {10: 3}, 3: {12: 2}}, order_id=order.order_id, customer_id=order.customer_id)
    after = alert(mesh, order)

    live = by_warehouse(after)
    assert sorted(live) == [1, 3]
    assert live[1].shipment_id == before[1].shipment_id and items(live[1]) == {10: 3}
    assert live[1].etag != before[1].etag
    assert items(live[3]) == {12: 2}
    dropped = next(s for s in after if s.shipment_id == before[2].shipment_id)
    assert dropped.state == CANCELLED


def test_an_alert_for_a_cancelled_order_cancels_what_has_not_left(
    mesh: Mesh, sessions: sessionmaker[Session]
) -> None:
    order = an_order(mesh, {1: {10: 1}, 2: {11: 1}})
    created = by_warehouse(alert(mesh, order))
    update(mesh, created[2], TRANSIT)

    cancelled = orders_pb2.Order()
    cancelled.CopyFrom(order)
    cancelled.state = orders_pb2.ORDER_STATE_CANCELLED
    mesh.orders.put(cancelled)
    after = {s.warehouse_id: s.state for s in alert(mesh, order)}

    assert after == {1: CANCELLED, 2: TRANSIT}
    events_before = progress_recorded(sessions, order.order_id)
    alert(mesh, order)
    assert progress_recorded(sessions, order.order_id) == events_before


def test_an_alert_naming_another_customer_finds_no_order(
    mesh: Mesh, sessions: sessionmaker[Session]
) -> None:
    order = an_order(mesh, {1: {10: 1}})
    request = pb.ReceiveOrderAlertRequest(
        order_id=order.order_id, customer_id=order.customer_id + 1
    )

    with pytest.raises(grpc.RpcError) as raised:
        mesh.stub.ReceiveOrderAlert(request, metadata=as_service("orders"), timeout=10)

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(raised.value) == "ORDER_NOT_FOUND"
    assert rows_of(sessions, order.order_id) == []


def test_an_alert_for_an_order_orders_does_not_know_finds_no_order(mesh: Mesh) -> None:
    request = pb.ReceiveOrderAlertRequest(order_id=unique_id(), customer_id=unique_id())

    with pytest.raises(grpc.RpcError) as raised:
        mesh.stub.ReceiveOrderAlert(request, metadata=as_service("orders"), timeout=10)

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(raised.value) == "ORDER_NOT_FOUND"


def test_an_alert_while_orders_is_unavailable_asks_to_retry(
    mesh: Mesh, sessions: sessionmaker[Session]
) -> None:
    order = an_order(mesh, {1: {10: 1}})
    mesh.orders.fail_with_unavailable(order.order_id)

    with pytest.raises(grpc.RpcError) as raised:
        alert(mesh, order)

    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert reason(raised.value) == "ORDERS_UNAVAILABLE"
    assert rows_of(sessions, order.order_id) == []


def test_a_customer_may_not_send_alerts(mesh: Mesh) -> None:
    order = an_order(mesh, {1: {10: 1}})

    with pytest.raises(grpc.RpcError) as raised:
        alert(mesh, order, metadata=as_customer(order.customer_id))

    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_an_alert_without_an_order_id_is_refused_naming_the_field(mesh: Mesh) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        mesh.stub.ReceiveOrderAlert(
            pb.ReceiveOrderAlertRequest(customer_id=7), metadata=as_role("ops"), timeout=10
        )

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(raised.value)) == {"order_id"}


# -- updates ------------------------------------------------------------------


def test_a_shipment_goes_in_transit_then_delivered_and_never_back(mesh: Mesh) -> None:
    (created,) = alert(mesh, an_order(mesh, {1: {10: 1}}))

    moving = update(mesh, created, TRANSIT)
    delivered = update(mesh, moving, DELIVERED)

    assert moving.state == TRANSIT and delivered.state == DELIVERED
    assert len({created.etag, moving.etag, delivered.etag}) == 3

    (other,) = alert(mesh, an_order(mesh, {2: {10: 1}}))
    moving = update(mesh, other, TRANSIT)
    with pytest.raises(grpc.RpcError) as raised:
        update(mesh, moving, LABEL)

    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    info = error_info(raised.value)
    assert info is not None and info.reason == "INVALID_STATE_TRANSITION"
    assert (info.metadata["from"], info.metadata["to"]) == ("in_transit", "label_created")


def test_an_update_with_a_stale_etag_is_aborted_and_changes_nothing(mesh: Mesh) -> None:
    (created,) = alert(mesh, an_order(mesh, {1: {10: 1}}))
    update(mesh, created, TRANSIT)

    with pytest.raises(grpc.RpcError) as raised:
        update(mesh, created, CANCELLED)  # still carries the first etag

    assert raised.value.code() == grpc.StatusCode.ABORTED
    assert reason(raised.value) == "ETAG_MISMATCH"
    shipment = mesh.stub.GetShipment(
        pb.GetShipmentRequest(shipment_id=created.shipment_id), metadata=as_role("ops"), timeout=10
    ).shipment
    assert shipment.state == TRANSIT


def test_an_update_without_an_etag_applies_to_the_current_version(mesh: Mesh) -> None:
    (created,) = alert(mesh, an_order(mesh, {1: {10: 1}}))
    update(mesh, created, TRANSIT)

    assert update(mesh, created, DELIVERED, etag="").state == DELIVERED


@pytest.mark.parametrize(
    ("fields", "caller", "code", "why"),
    [
        ({"update_mask": {"paths": ["items"]}}, "ops", grpc.StatusCode.INVALID_ARGUMENT, ""),
        ({}, "customer", grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED"),
    ],
)
def test_an_update_of_anything_but_the_state_or_by_a_customer_is_refused(
    mesh: Mesh, fields: dict[str, object], caller: str, code: grpc.StatusCode, why: str
) -> None:
    metadata = as_role("ops") if caller == "ops" else as_customer(1)
    (created,) = alert(mesh, an_order(mesh, {1: {10: 1}}))
    request = pb.UpdateShipmentRequest(
        shipment=pb.Shipment(shipment_id=created.shipment_id, state=TRANSIT), **fields
    )

    with pytest.raises(grpc.RpcError) as raised:
        mesh.stub.UpdateShipment(request, metadata=metadata, timeout=10)

    assert raised.value.code() == code
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        assert set(violations(raised.value)) == {"update_mask"}
    else:
        assert reason(raised.value) == why


def test_updating_an_unknown_shipment_finds_nothing(mesh: Mesh) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        update(mesh, pb.Shipment(shipment_id=unique_id()), TRANSIT)

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(raised.value) == "SHIPMENT_NOT_FOUND"


# -- events -------------------------------------------------------------------


def test_the_relay_tells_orders_and_the_customer_about_each_change(mesh: Mesh) -> None:
    order = an_order(mesh, {1: {10: 1}, 2: {11: 1}})
    created = by_warehouse(alert(mesh, order))
    update(mesh, created[2], TRANSIT)

    expected = {
        (created[1].shipment_id, orders_pb2.SHIPMENT_PROGRESS_LABEL_CREATED),
        (created[2].shipment_id, orders_pb2.SHIPMENT_PROGRESS_LABEL_CREATED),
        (created[2].shipment_id, orders_pb2.SHIPMENT_PROGRESS_IN_TRANSIT),
    }

    def all_reported() -> list[Received]:
        got = mesh.orders.progress(order.order_id)
        return got if {(r.request.shipment_id, r.request.progress) for r in got} >= expected else []

    def all_notified() -> list[Received]:
        got = mesh.notifications.sent(order.order_id)
        return got if len(got) >= len(expected) else []

    reports = until(all_reported, within=15, what="progress reports at the fake Orders")
    notes = until(all_notified, within=15, what="notifications at the fake Notifications")

    assert {r.caller for r in reports} | {n.caller for n in notes} == {"service:shipping"}
    assert all(n.request.customer_id == order.customer_id for n in notes)
    assert all(n.request.request_id for n in notes)
    assert len({n.request.request_id for n in notes}) == len(notes)
    on_its_way = [n.request for n in notes if created[2].tracking_number in n.request.message]
    assert any("on its way" in n.message and "warehouse 2" in n.message for n in on_its_way)


# -- reading ------------------------------------------------------------------


def test_a_customer_sees_their_own_shipments_and_no_one_elses(mesh: Mesh) -> None:
    order = an_order(mesh, {1: {10: 1}})
    (shipment,) = alert(mesh, order)
    owner, stranger = as_customer(order.customer_id), as_customer(order.customer_id + 1)
    get = pb.GetShipmentRequest(shipment_id=shipment.shipment_id)
    by_order = pb.ListShipmentsRequest(order_id=order.order_id)

    assert mesh.stub.GetShipment(get, metadata=owner, timeout=10).shipment == shipment
    with pytest.raises(grpc.RpcError) as raised:
        mesh.stub.GetShipment(get, metadata=stranger, timeout=10)
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert reason(raised.value) == "SHIPMENT_NOT_FOUND"

    assert list(mesh.stub.ListShipments(by_order, metadata=owner, timeout=10).shipments) == [
        shipment
    ]
    assert not mesh.stub.ListShipments(by_order, metadata=stranger, timeout=10).shipments
    mine = mesh.stub.ListShipments(pb.ListShipmentsRequest(), metadata=owner, timeout=10)
    assert [s.shipment_id for s in mine.shipments] == [shipment.shipment_id]


def test_shipments_are_listed_in_id_order_a_page_at_a_time(mesh: Mesh) -> None:
    order = an_order(mesh, {1: {10: 1}, 2: {10: 1}, 3: {10: 1}})
    created = sorted(s.shipment_id for s in alert(mesh, order))

    seen: list[int] = []
    token = ""
    pages = 0
    while True:
        page = mesh.stub.ListShipments(
            pb.ListShipmentsRequest(order_id=order.order_id, page_size=2, page_token=token),
            metadata=as_role("ops"),
            timeout=10,
        )
        seen += [s.shipment_id for s in page.shipments]
        pages += 1
        token = page.next_page_token
        if not token:
            break

    assert seen == created and pages == 2


def test_a_page_token_the_service_did_not_issue_is_refused(mesh: Mesh) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        mesh.stub.ListShipments(
            pb.ListShipmentsRequest(page_token="not-a-token"), metadata=as_role("ops"), timeout=10
        )

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(raised.value)) == {"page_token"}


# -- BatchReceiveOrderAlerts: a relay's batch in one call ----------------------


def alerts(mesh: Mesh, *orders: orders_pb2.Order) -> list[list[pb.Shipment]]:
    batch = pb.BatchReceiveOrderAlertsRequest(
        requests=[
            pb.ReceiveOrderAlertRequest(order_id=o.order_id, customer_id=o.customer_id)
            for o in orders
        ]
    )
    responses = mesh.stub.BatchReceiveOrderAlerts(
        batch, metadata=as_service("orders"), timeout=10
    ).responses
    return [list(r.shipments) for r in responses]


def test_a_batch_of_alerts_brings_each_order_in_line_and_answers_each_in_order(
    mesh: Mesh, sessions: sessionmaker[Session]
) -> None:
    split = an_order(mesh, {1: {10: 2}, 2: {11: 1}})
    single = an_order(mesh, {3: {12: 1}})
    known = an_order(mesh, {1: {10: 1}})
    before = alert(mesh, known)
    cancelled = an_order(
        mesh,
        {1: {10: 1}},
        order_id=known.order_id,
        customer_id=known.customer_id,
        state=orders_pb2.ORDER_STATE_CANCELLED,
    )

    answers = alerts(mesh, single, split, cancelled, split)

    assert [sorted(s.warehouse_id for s in a) for a in answers] == [[3], [1, 2], [1], [1, 2]]
    assert answers[1] == answers[3]  # one order alerted twice: one set of shipments
    assert [s.state for s in answers[2]] == [CANCELLED]
    assert answers[2][0].shipment_id == before[0].shipment_id
    assert items(by_warehouse(answers[1])[1]) == {10: 2}
    for order, count in ((split, 2), (single, 1), (known, 2)):
        assert len(progress_recorded(sessions, order.order_id)) == count


def test_a_batch_with_an_unknown_order_or_customer_applies_none_of_it(
    mesh: Mesh, sessions: sessionmaker[Session]
) -> None:
    good = an_order(mesh, {1: {10: 1}})
    wrong_customer = orders_pb2.Order()
    wrong_customer.CopyFrom(an_order(mesh, {1: {10: 1}}))
    wrong_customer.customer_id += 1
    unknown = orders_pb2.Order(order_id=unique_id(), customer_id=unique_id())

    for bad in (wrong_customer, unknown):
        with pytest.raises(grpc.RpcError) as raised:
            alerts(mesh, good, bad)
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        assert reason(raised.value) == "ORDER_NOT_FOUND"
        assert error_info(raised.value).metadata["order_id"] == str(bad.order_id)  # type: ignore[union-attr]
    assert rows_of(sessions, good.order_id) == []


def test_bad_alerts_in_a_batch_are_named_by_position(mesh: Mesh) -> None:
    batch = pb.BatchReceiveOrderAlertsRequest(
        requests=[
            pb.ReceiveOrderAlertRequest(order_id=1, customer_id=1),
            pb.ReceiveOrderAlertRequest(order_id=0, customer_id=1),
        ]
    )
    with pytest.raises(grpc.RpcError) as raised:
        mesh.stub.BatchReceiveOrderAlerts(batch, metadata=as_service("orders"), timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(raised.value)) == {"requests[1].order_id"}

    for caller in (as_role("ops"), as_customer(1)):
        with pytest.raises(grpc.RpcError) as refused:
            mesh.stub.BatchReceiveOrderAlerts(batch, metadata=caller, timeout=10)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_concurrent_batches_over_the_same_orders_neither_deadlock_nor_double_ship(
    mesh: Mesh, sessions: sessionmaker[Session]
) -> None:
    orders = [an_order(mesh, {1: {10: 1}, 2: {11: 1}}) for _ in range(6)]

    with ThreadPoolExecutor(max_workers=6) as pool:
        # Each batch names the orders in another order.
        list(pool.map(lambda n: alerts(mesh, *(orders[n:] + orders[:n])), range(6)))

    for order in orders:
        assert sorted(r.warehouse_id for r in rows_of(sessions, order.order_id)) == [1, 2]
