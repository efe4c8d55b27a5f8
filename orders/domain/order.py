"""A cart and the order placed from it: their state and every change to it.

Handlers load an aggregate, call one of these methods and save what changed;
the rules live here. A change that others must hear about is appended to the
aggregate's `events`, which the handler writes to the outbox in the same
transaction.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from meshkit import errors
from orders.domain import lifecycle
from orders.domain.allocation import Plan, Point
from orders.domain.lifecycle import OrderState, Progress
from orders.domain.money import Money, total


@dataclass(frozen=True)
class Address:
    recipient: str
    line1: str
    city: str
    postal_code: str
    country_code: str
    latitude: float
    longitude: float

    @property
    def point(self) -> Point:
        return Point(self.latitude, self.longitude)


class CartState(enum.Enum):
    OPEN = "open"
    ORDERED = "ordered"


@dataclass(frozen=True)
class CartItem:
    product_id: int
    quantity: int
    sku: str
    name: str
    unit_price: Money


@dataclass(frozen=True)
class Line:
    """A product in an order, priced as it was when ordered."""

    product_id: int
    sku: str
    name: str
    quantity: int
    unit_price_minor: int


@dataclass(frozen=True)
class Allocation:
    """Units of a product reserved for the order in one warehouse."""

    warehouse_id: int
    warehouse_name: str
    product_id: int
    quantity: int


# -- what others hear about --------------------------------------------------


@dataclass(frozen=True)
class Confirmed:
    """A new order: Shipping plans its parcels, the customer gets a receipt."""

    units: int
    total: Money
    warehouses: int


@dataclass(frozen=True)
class Delivered:
    """Every parcel of the order has arrived."""


Event = Confirmed | Delivered


@dataclass
class Cart:
    cart_id: int
    customer_id: int
    state: CartState
    order_id: int | None
    items: list[CartItem]

    @property
    def wanted(self) -> dict[int, int]:
        """Product id -> units."""
        return {item.product_id: item.quantity for item in self.items}

    def place(
        self,
        order_id: int,
        request_id: str,
        address: Address,
        plan: Plan,
        warehouse_names: Mapping[int, str],
    ) -> Order:
        """The order this cart becomes, shipped as `plan` says; the cart is
        closed and remembers its order."""
        if self.state is not CartState.OPEN:
            raise errors.failed_precondition(
                "CART_CLOSED",
                f"cart {self.cart_id} became order {self.order_id}",
                cart_id=self.cart_id,
            )
        if not self.items:
            raise errors.failed_precondition(
                "CART_EMPTY", f"cart {self.cart_id} has no items", cart_id=self.cart_id
            )
        currency = self.items[0].unit_price.currency
        amount = total((item.unit_price.times(item.quantity) for item in self.items), currency)
        allocations = [
            Allocation(warehouse_id, warehouse_names[warehouse_id], product_id, units)
            for warehouse_id, items in sorted(plan.items())
            for product_id, units in sorted(items.items())
        ]
        order = Order(
            order_id=order_id,
            customer_id=self.customer_id,
            cart_id=self.cart_id,
            request_id=request_id,
            state=OrderState.CONFIRMED,
            currency_code=currency,
            total_minor=amount.amount_minor,
            version=1,
            address=address,
            lines=[
                Line(i.product_id, i.sku, i.name, i.quantity, i.unit_price.amount_minor)
                for i in sorted(self.items, key=lambda i: i.product_id)
            ],
            allocations=allocations,
        )
        order.events.append(Confirmed(sum(self.wanted.values()), amount, len(order.warehouse_ids)))
        self.state, self.order_id = CartState.ORDERED, order_id
        return order


@dataclass
class Order:
    order_id: int
    customer_id: int
    cart_id: int
    request_id: str
    state: OrderState
    currency_code: str
    total_minor: int
    # Bumped on every change; the etag is derived from it.
    version: int
    address: Address
    lines: list[Line]
    allocations: list[Allocation]
    # shipment id -> how far it has got, as Shipping reported it
    shipments: dict[int, Progress] = field(default_factory=dict)
    create_time: datetime | None = None
    update_time: datetime | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def etag(self) -> str:
        return f"{self.order_id}-{self.version}"

    @property
    def warehouse_ids(self) -> set[int]:
        return {a.warehouse_id for a in self.allocations}

    @property
    def total(self) -> Money:
        return Money(self.total_minor, self.currency_code)

    def record_progress(self, shipment_id: int, progress: Progress) -> None:
        """Shipping says how far a shipment has got. Reports may come twice
        or out of order: progress only moves forward, and the order's state
        follows its shipments."""
        self.shipments[shipment_id] = lifecycle.advance(self.shipments.get(shipment_id), progress)
        after = lifecycle.derive_state(self.state, self.shipments.values(), len(self.warehouse_ids))
        if after is self.state:
            return
        self.state = after
        self.version += 1
        if after is OrderState.DELIVERED:
            self.events.append(Delivered())
