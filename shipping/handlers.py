"""Shipping's use cases. Each runs in one transaction: lock, decide with
shipping.domain, write the change and its outbox events, commit."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from meshkit import errors, paging
from meshkit.db import transaction
from meshkit.principal import Principal
from shipping import events, repository, store, tables
from shipping.domain import shipment as domain
from shipping.domain.shipment import ShipmentState
from shipping.orders_client import OrderSnapshot
from shipping.store import ShipmentRecord

log = logging.getLogger("shipping.handlers")


class OrderSource(Protocol):
    def get(self, order_id: int) -> OrderSnapshot | None: ...

    def get_many(self, order_ids: Sequence[int]) -> dict[int, OrderSnapshot] | None: ...


def etag(row: tables.Shipment) -> str:
    return f"{row.id}-{row.version}"


def shipment_not_found(shipment_id: int) -> errors.AppError:
    return errors.not_found(
        "SHIPMENT_NOT_FOUND", f"shipment {shipment_id} not found", shipment_id=shipment_id
    )


def order_not_found(order_id: int) -> errors.AppError:
    return errors.not_found("ORDER_NOT_FOUND", f"order {order_id} not found", order_id=order_id)


class ShippingHandlers:
    """Who may call what is checked by the servicer; visibility, which depends
    on the rows, is checked here."""

    def __init__(self, sessions: sessionmaker[Session], orders: OrderSource) -> None:
        self._sessions = sessions
        self._orders = orders

    def receive_order_alert(self, order_id: int, customer_id: int) -> list[ShipmentRecord]:
        (shipments,) = self.receive_order_alerts([(order_id, customer_id)])
        return shipments

    def receive_order_alerts(self, alerts: Sequence[tuple[int, int]]) -> list[list[ShipmentRecord]]:
        """Apply each (order id, customer id) alert, all or none: bring each
        order's shipments in line with the order as Orders has it now. For
        each alert, the order's shipments afterwards."""
        order_ids = sorted({order_id for order_id, _ in alerts})
        with transaction(self._sessions) as session:
            repository.lock_orders(session, order_ids)
            # Read the orders only once the locks are held: alerts for one
            # order then apply in the order they read it, so the last one
            # applied saw the latest order and a slow, stale alert cannot undo it.
            orders = self._read_orders(order_ids)
            for order_id, customer_id in alerts:
                if order_id not in orders or orders[order_id].customer_id != customer_id:
                    raise order_not_found(order_id)
            current = store.shipments_of(session, order_ids)
            after = {order_id: current.get(order_id, []) for order_id in order_ids}
            fresh: list[store.NewShipments] = []
            for order_id in order_ids:
                order, shipments = orders[order_id], after[order_id]
                plan = domain.reconcile(
                    None if order.cancelled else order.fulfillments,
                    [shipment.existing for shipment in shipments],
                )
                if plan.cancel or plan.update:
                    # The order changed after its shipments were planned (rare).
                    rows = repository.shipments_of(session, order_id, lock=True)
                    after[order_id] = [
                        store.from_row(r) for r in _apply(session, order, rows, plan)
                    ]
                    continue
                if plan.create:
                    fresh.append(store.NewShipments(order_id, order.customer_id, plan.create))
                _log_diverged(order, {s.shipment_id: s.state.value for s in shipments}, plan)
            if fresh:
                created = store.create(session, fresh)
                events.shipments_changed(session, created)
                for shipment in created:
                    after[shipment.order_id].append(shipment)
            return [after[order_id] for order_id, _ in alerts]

    def _read_orders(self, order_ids: list[int]) -> dict[int, OrderSnapshot]:
        """The orders by id (one call for one or many); those Orders does not
        know are left out."""
        if len(order_ids) == 1:
            order = self._orders.get(order_ids[0])
            return {} if order is None else {order.order_id: order}
        found = self._orders.get_many(order_ids)
        if found is None:
            # One of them is unknown, and the batch read does not say which.
            return {o: order for o in order_ids if (order := self._orders.get(o)) is not None}
        return found

    def get_shipment(self, caller: Principal, shipment_id: int) -> ShipmentRecord:
        with self._sessions() as session:
            row = repository.get(session, shipment_id)
            if row is None or not caller.may_see_customer(row.customer_id):
                raise shipment_not_found(shipment_id)
            return store.from_row(row)

    def list_shipments(
        self, caller: Principal, order_id: int | None, size: int, after: int | None
    ) -> paging.Page[ShipmentRecord]:
        customer_id = None if caller.is_staff else caller.customer_id
        with self._sessions() as session:
            rows = repository.page(
                session, customer_id=customer_id, order_id=order_id, after=after, size=size
            )
            shipments = [store.from_row(row) for row in rows]
        return paging.page_of(shipments, size, key=lambda shipment: shipment.shipment_id)

    def update_state(
        self, shipment_id: int, target: ShipmentState, expected_etag: str
    ) -> ShipmentRecord:
        with transaction(self._sessions) as session:
            # FOR UPDATE: concurrent updates (and alerts) queue here, and each
            # sees the state the one before it left.
            row = repository.get(session, shipment_id, lock=True)
            if row is None:
                raise shipment_not_found(shipment_id)
            if expected_etag and expected_etag != etag(row):
                raise errors.aborted(
                    "ETAG_MISMATCH",
                    f"shipment {shipment_id} changed since it was read; read it again",
                    shipment_id=shipment_id,
                )
            current = ShipmentState(row.state)
            if current is target:
                return store.from_row(row)  # already there: a retried update changes nothing
            if not domain.may_move(current, target):
                raise errors.failed_precondition(
                    "INVALID_STATE_TRANSITION",
                    f"shipment {shipment_id} cannot go from {current.value} to {target.value}",
                    shipment_id=shipment_id,
                    **{"from": current.value, "to": target.value},
                )
            row.state = target.value
            row.version += 1
            session.flush()
            events.shipment_changed(session, row)
            return store.from_row(row)


def _apply(
    session: Session, order: OrderSnapshot, rows: list[tables.Shipment], plan: domain.Plan
) -> list[tables.Shipment]:
    """Carry out `plan` on the order's shipments `rows`; return them all, as now."""
    by_id = {row.id: row for row in rows}
    created: list[tables.Shipment] = []
    changed: list[tables.Shipment] = []
    # Cancel first: a warehouse that leaves and comes back in one alert would
    # otherwise briefly have two live shipments.
    for shipment_id in plan.cancel:
        row = by_id[shipment_id]
        row.state = ShipmentState.CANCELLED.value
        row.version += 1
        changed.append(row)
    session.flush()
    for shipment_id, items in plan.update.items():
        row = by_id[shipment_id]
        repository.set_items(row, items)
        row.version += 1
    for warehouse_id, items in plan.create.items():
        row = tables.Shipment(
            order_id=order.order_id,
            customer_id=order.customer_id,
            warehouse_id=warehouse_id,
            state=ShipmentState.LABEL_CREATED.value,
            tracking_number=domain.new_tracking_number(),
            version=1,
            items=[
                tables.ShipmentItem(product_id=product_id, quantity=quantity)
                for product_id, quantity in sorted(items.items())
            ],
        )
        session.add(row)
        created.append(row)
    session.flush()
    changed += created
    for row in changed:
        events.shipment_changed(session, row)
    _log_diverged(order, {row.id: row.state for row in rows}, plan)
    return sorted([*rows, *created], key=lambda row: row.id)


def _log_diverged(order: OrderSnapshot, states: dict[int, str], plan: domain.Plan) -> None:
    for shipment_id in plan.diverged:
        log.warning(
            "shipment already left and no longer matches its order",
            extra={
                "order_id": order.order_id,
                "shipment_id": shipment_id,
                "state": states[shipment_id],
                "order_cancelled": order.cancelled,
            },
        )
