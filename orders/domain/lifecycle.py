"""An order's states and what moves it between them.

    confirmed --(a shipment leaves)--> shipped --(all delivered)--> delivered
    confirmed --(customer or staff cancels)--> cancelled

An order is derived from its shipments' progress as Shipping reports it;
reports may arrive twice or out of order, so progress only moves forward.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class OrderState(enum.Enum):
    CONFIRMED = "confirmed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class Progress(enum.Enum):
    LABEL_CREATED = "label_created"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


_RANK = {
    Progress.LABEL_CREATED: 1,
    Progress.IN_TRANSIT: 2,
    Progress.DELIVERED: 3,
}


def is_changeable(state: OrderState) -> bool:
    """Lines, address and cancellation: only before anything has shipped."""
    return state is OrderState.CONFIRMED


def advance(current: Progress | None, reported: Progress) -> Progress:
    """The shipment progress to keep when `reported` arrives."""
    if current is None or current is reported:
        return reported
    if reported is Progress.CANCELLED:
        # Only a parcel that has not left can be cancelled.
        return reported if current is Progress.LABEL_CREATED else current
    if current is Progress.CANCELLED:
        return current
    return reported if _RANK[reported] > _RANK[current] else current


def derive_state(current: OrderState, shipments: Iterable[Progress], warehouses: int) -> OrderState:
    """The order's state given its shipments' progress and how many
    warehouses it ships from."""
    if current is OrderState.CANCELLED:
        return current
    live = [p for p in shipments if p is not Progress.CANCELLED]
    if live and len(live) >= warehouses and all(p is Progress.DELIVERED for p in live):
        return OrderState.DELIVERED
    if any(p in (Progress.IN_TRANSIT, Progress.DELIVERED) for p in live):
        return OrderState.SHIPPED
    return OrderState.CONFIRMED
