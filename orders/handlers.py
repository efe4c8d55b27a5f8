"""Orders' use cases. Each runs in one transaction: read and lock, decide with
orders.domain, write the change and its outbox events, commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from meshkit import db, errors, paging
from meshkit.db import transaction
from meshkit.principal import Principal, Role
from orders import events, repository, store, tables
from orders.domain import lifecycle
from orders.domain.allocation import OutOfStock, Plan, Point, WarehouseStock, allocate
from orders.domain.lifecycle import OrderState, Progress
from orders.domain.money import Money, total
from orders.domain.order import Address, Order

MAX_UNITS_PER_LINE = 1000


def cart_not_found(cart_id: int) -> errors.AppError:
    return errors.not_found("CART_NOT_FOUND", f"cart {cart_id} not found", cart_id=cart_id)


def order_not_found(order_id: int) -> errors.AppError:
    return errors.not_found("ORDER_NOT_FOUND", f"order {order_id} not found", order_id=order_id)


def etag(order: tables.Order) -> str:
    return f"{order.id}-{order.version}"


def as_domain(row: tables.Order) -> Order:
    """An order the ORM paths loaded, as the domain and the servicer see it."""
    return repository.to_domain(row, address_of(row))


class OrderHandlers:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # -- catalogue and carts --------------------------------------------------

    def list_products(self, page_size: int, page_token: str) -> paging.Page[tables.Product]:
        size, after = paging.page_size(page_size), paging.decode(page_token)
        with self._sessions() as session:
            rows = repository.page_of_products(session, after, size)
        return paging.page_of(rows, size, key=lambda row: row.id)

    def create_cart(self, caller: Principal, customer_id: int) -> tables.Cart:
        owner = caller.customer_id if caller.role is Role.CUSTOMER else customer_id
        if not owner:
            raise errors.invalid_argument("customer_id", "staff must say whose cart it is")
        with transaction(self._sessions) as session:
            if session.get(tables.Customer, owner) is None:
                raise errors.not_found(
                    "CUSTOMER_NOT_FOUND", f"customer {owner} not found", customer_id=owner
                )
            cart = tables.Cart(customer_id=owner, state="open", items=[])
            session.add(cart)
            session.flush()
            session.refresh(cart)
            return cart

    def get_cart(self, caller: Principal, cart_id: int) -> tables.Cart:
        with self._sessions() as session:
            cart = session.get(tables.Cart, cart_id)
            if cart is None or not caller.may_see_customer(cart.customer_id):
                raise cart_not_found(cart_id)
            return cart

    def add_cart_item(
        self, caller: Principal, cart_id: int, product_id: int, quantity: int
    ) -> tables.Cart:
        with transaction(self._sessions) as session:
            cart = self._open_cart(session, caller, cart_id)
            product = session.get(tables.Product, product_id)
            if product is None:
                raise errors.not_found(
                    "PRODUCT_NOT_FOUND", f"product {product_id} not found", product_id=product_id
                )
            currencies = {item.product.currency_code for item in cart.items}
            if currencies and product.currency_code not in currencies:
                raise errors.failed_precondition(
                    "MIXED_CURRENCIES",
                    f"the cart is priced in {currencies.pop()}, product {product_id} "
                    f"in {product.currency_code}",
                )
            item = next((i for i in cart.items if i.product_id == product_id), None)
            if item is None:
                item = tables.CartItem(product_id=product_id, quantity=0, product=product)
                cart.items.append(item)
            if item.quantity + quantity > MAX_UNITS_PER_LINE:
                raise errors.invalid_argument(
                    "quantity", f"a cart holds at most {MAX_UNITS_PER_LINE} units of a product"
                )
            item.quantity += quantity
            return _touched(session, cart)

    def remove_cart_item(self, caller: Principal, cart_id: int, product_id: int) -> tables.Cart:
        with transaction(self._sessions) as session:
            cart = self._open_cart(session, caller, cart_id)
            item = next((i for i in cart.items if i.product_id == product_id), None)
            if item is None:
                raise errors.not_found(
                    "CART_ITEM_NOT_FOUND",
                    f"product {product_id} is not in cart {cart_id}",
                    cart_id=cart_id,
                    product_id=product_id,
                )
            cart.items.remove(item)
            return _touched(session, cart)

    def _open_cart(self, session: Session, caller: Principal, cart_id: int) -> tables.Cart:
        cart = session.get(tables.Cart, cart_id, with_for_update=True)
        if cart is None or not caller.may_see_customer(cart.customer_id):
            raise cart_not_found(cart_id)
        if cart.state != "open":
            raise errors.failed_precondition(
                "CART_CLOSED", f"cart {cart_id} became order {cart.order_id}", cart_id=cart_id
            )
        return cart

    # -- orders ---------------------------------------------------------------

    def create_order(
        self, caller: Principal, cart_id: int, request_id: str, address: Address | None
    ) -> Order:
        try:
            try:
                with transaction(self._sessions) as session:
                    return self._create_order(session, caller, cart_id, request_id, address)
            except store.StockMoved:
                # Another order took units this one planned on: decide again,
                # this time on locked stock, which cannot move.
                with transaction(self._sessions) as session:
                    return self._create_order(
                        session, caller, cart_id, request_id, address, lock_stock=True
                    )
        except IntegrityError:
            # Two first attempts with the same request id raced; the other won.
            with self._sessions() as session:
                existing = self._retried(session, caller, request_id)
                if existing is None:
                    raise
                return existing

    def _create_order(
        self,
        session: Session,
        caller: Principal,
        cart_id: int,
        request_id: str,
        address: Address | None,
        *,
        lock_stock: bool = False,
    ) -> Order:
        # A customer's request id names one order: a retry gets the first.
        retries = caller.customer_id if request_id and caller.role is Role.CUSTOMER else None
        found = store.lock_cart(session, cart_id, caller_customer_id=retries, request_id=request_id)
        if found is None:
            existing = self._retried(session, caller, request_id)
            if existing is None:
                raise cart_not_found(cart_id)
            return existing
        if found.retried_order_id is not None:
            return self._order(session, found.retried_order_id)
        cart = found.cart
        if not caller.may_see_customer(cart.customer_id):
            raise cart_not_found(cart_id)
        if cart.order_id is not None:
            # A retry after the first attempt's answer was lost.
            return self._order(session, cart.order_id)
        warehouses, names = store.read_items_and_stock(session, cart, lock=lock_stock)
        destination = address or found.customer_address
        plan = _plan(cart.wanted, warehouses, destination.point)
        order = cart.place(found.next_order_id, request_id, destination, plan, names)
        order.create_time, order.update_time = store.insert_order(
            session, order, events.entries(order)
        )
        return order

    @staticmethod
    def _retried(session: Session, caller: Principal, request_id: str) -> Order | None:
        if not (request_id and caller.role is Role.CUSTOMER):
            return None
        row = repository.order_by_request(session, caller.customer_id, request_id)
        return None if row is None else as_domain(row)

    @staticmethod
    def _order(session: Session, order_id: int) -> Order:
        order = store.order(session, order_id)
        if order is None:
            raise order_not_found(order_id)
        return order

    def get_order(self, caller: Principal, order_id: int) -> Order:
        with db.reading(self._sessions) as connection:
            order = store.read_orders(connection, [order_id]).get(order_id)
        if order is None or not caller.may_see_customer(order.customer_id):
            raise order_not_found(order_id)
        return order

    def list_orders(
        self, caller: Principal, customer_id: int, state: str | None, page_size: int, token: str
    ) -> paging.Page[Order]:
        size, before = paging.page_size(page_size), paging.decode(token)
        if caller.role is Role.CUSTOMER:
            customer_id = caller.customer_id
        with self._sessions() as session:
            rows = repository.page_of_orders(
                session, customer_id=customer_id or None, state=state, before=before, size=size
            )
            orders = [as_domain(row) for row in rows]
        return paging.page_of(orders, size, key=lambda order: order.order_id)

    def update_order(
        self,
        caller: Principal,
        order_id: int,
        expected_etag: str,
        quantities: Mapping[int, int] | None,
        address: Address | None,
    ) -> Order:
        with transaction(self._sessions) as session:
            order = self._changeable_order(session, caller, order_id, expected_etag)
            if quantities is not None:
                unknown = set(quantities) - {line.product_id for line in order.lines}
                if unknown:
                    raise errors.invalid_argument(
                        "order.lines", f"products {sorted(unknown)} are not in the order"
                    )
                if not any(quantities.get(line.product_id, line.quantity) for line in order.lines):
                    raise errors.invalid_argument(
                        "order.lines", "an order keeps at least one unit; cancel it instead"
                    )
                for line in list(order.lines):
                    line.quantity = quantities.get(line.product_id, line.quantity)
                    if line.quantity == 0:
                        order.lines.remove(line)
                order.total_minor = _total(order.lines, order.currency_code).amount_minor
            if address is not None:
                for name, value in vars(address).items():
                    setattr(order, name, value)
            # Re-plan from scratch: give back what was reserved, reserve anew.
            released = _release(order)
            wanted = {line.product_id: line.quantity for line in order.lines}
            order.allocations = _reserve(session, wanted, address_of(order), released)
            order.version += 1
            events.alert_shipping(session, order)
            events.notify_customer(
                session, order, f"Order {order.id} updated", f"Order {order.id} was updated."
            )
            session.flush()
            return as_domain(order)

    def cancel_order(self, caller: Principal, order_id: int, expected_etag: str) -> Order:
        with transaction(self._sessions) as session:
            order = repository.lock_order(session, order_id)
            if order is None or not caller.may_see_customer(order.customer_id):
                raise order_not_found(order_id)
            if order.state == OrderState.CANCELLED.value:
                return as_domain(order)  # cancelling twice is not an error
            order = self._changeable_order(session, caller, order_id, expected_etag, order)
            repository.adjust_stock(session, _release(order))
            order.allocations = []
            order.state = OrderState.CANCELLED.value
            order.version += 1
            events.alert_shipping(session, order)
            events.notify_customer(
                session,
                order,
                f"Order {order.id} cancelled",
                f"Order {order.id} was cancelled; you will not be charged.",
            )
            session.flush()
            return as_domain(order)

    def _changeable_order(
        self,
        session: Session,
        caller: Principal,
        order_id: int,
        expected_etag: str,
        order: tables.Order | None = None,
    ) -> tables.Order:
        order = order or repository.lock_order(session, order_id)
        if order is None or not caller.may_see_customer(order.customer_id):
            raise order_not_found(order_id)
        if expected_etag and expected_etag != etag(order):
            raise errors.aborted(
                "ETAG_MISMATCH",
                f"order {order_id} changed since it was read; read it again",
                order_id=order_id,
            )
        if not lifecycle.is_changeable(OrderState(order.state)):
            raise errors.failed_precondition(
                "ORDER_NOT_CHANGEABLE",
                f"order {order_id} is {order.state}; only confirmed orders change",
                order_id=order_id,
                state=order.state,
            )
        return order

    def record_shipment_progress(
        self, order_id: int, shipment_id: int, progress: Progress
    ) -> Order:
        (order,) = self.record_shipment_progress_many([(order_id, shipment_id, progress)])
        return order

    def record_shipment_progress_many(
        self, reports: Sequence[tuple[int, int, Progress]]
    ) -> list[Order]:
        """Record each (order id, shipment id, progress), all or none; the
        orders named, as they are after all of them, in order of id."""
        with transaction(self._sessions) as session:
            orders = store.lock_orders(session, [order_id for order_id, _, _ in reports])
            for order_id, shipment_id, progress in reports:
                order = orders.get(order_id)
                if order is None:
                    raise order_not_found(order_id)
                order.record_progress(shipment_id, progress)
                store.save_progress(session, order, shipment_id, events.entries(order))
                # Written: a later report on this order adds only its own.
                order.events.clear()
            return [orders[order_id] for order_id in sorted(orders)]

    def get_orders(self, order_ids: Sequence[int]) -> list[Order]:
        """Each order, in the order asked; NOT_FOUND for the first missing."""
        with db.reading(self._sessions) as connection:
            found = store.read_orders(connection, order_ids)
        for order_id in order_ids:
            if order_id not in found:
                raise order_not_found(order_id)
        return [found[order_id] for order_id in order_ids]


def _plan(wanted: Mapping[int, int], warehouses: list[WarehouseStock], to: Point) -> Plan:
    try:
        return allocate(wanted, warehouses, to)
    except OutOfStock as short:
        raise errors.failed_precondition(
            "OUT_OF_STOCK",
            f"product {short.product_id}: {short.wanted} wanted, {short.available} available",
            product_id=short.product_id,
            wanted=short.wanted,
            available=short.available,
        ) from None


def _reserve(
    session: Session,
    wanted: Mapping[int, int],
    destination: Address,
    give_back: Mapping[tuple[int, int], int] | None = None,
) -> list[tables.Allocation]:
    """Choose warehouses and take the units from their stock, under row locks.
    `give_back` is stock this order held until now (an update re-plans)."""
    warehouses, rows = repository.lock_stock(session, wanted)
    if give_back:
        warehouses = [
            type(w)(
                w.warehouse_id,
                w.location,
                {p: n + give_back.get((w.warehouse_id, p), 0) for p, n in w.available.items()},
            )
            for w in warehouses
        ]
    plan = _plan(wanted, warehouses, destination.point)
    deltas = dict(give_back or {})
    for warehouse_id, items in plan.items():
        for product_id, units in items.items():
            key = (warehouse_id, product_id)
            deltas[key] = deltas.get(key, 0) - units
    repository.adjust_stock(session, deltas)
    return [
        tables.Allocation(
            warehouse_id=warehouse_id,
            product_id=product_id,
            quantity=units,
            warehouse=rows[warehouse_id],
        )
        for warehouse_id, items in sorted(plan.items())
        for product_id, units in sorted(items.items())
    ]


def _release(order: tables.Order) -> dict[tuple[int, int], int]:
    return {(a.warehouse_id, a.product_id): a.quantity for a in order.allocations}


def address_of(row: tables.Customer | tables.Order) -> Address:
    return Address(
        recipient=row.recipient,
        line1=row.line1,
        city=row.city,
        postal_code=row.postal_code,
        country_code=row.country_code,
        latitude=row.latitude,
        longitude=row.longitude,
    )


def _total(lines: Sequence[tables.OrderLine], currency: str) -> Money:
    return total(
        (Money(line.unit_price_minor, currency).times(line.quantity) for line in lines), currency
    )


def _touched(session: Session, cart: tables.Cart) -> tables.Cart:
    cart.update_time = func.now()  # type: ignore[assignment]
    session.flush()
    session.refresh(cart, ["update_time"])
    return cart
