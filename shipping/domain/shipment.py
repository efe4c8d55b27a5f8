"""A shipment's states, what moves it between them, and how an order's
shipments are brought in line with the order.

    label_created --> in_transit --> delivered
    label_created --> cancelled

Only a parcel that has not left its warehouse can still change: its items can
be corrected and it can be cancelled. Once it is in transit, Shipping no
longer rewrites it, whatever the order says.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

# product id -> units
Items = Mapping[int, int]


class ShipmentState(enum.Enum):
    LABEL_CREATED = "label_created"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


_NEXT: dict[ShipmentState, frozenset[ShipmentState]] = {
    ShipmentState.LABEL_CREATED: frozenset({ShipmentState.IN_TRANSIT, ShipmentState.CANCELLED}),
    ShipmentState.IN_TRANSIT: frozenset({ShipmentState.DELIVERED}),
    ShipmentState.DELIVERED: frozenset(),
    ShipmentState.CANCELLED: frozenset(),
}


def may_move(current: ShipmentState, target: ShipmentState) -> bool:
    """Whether `current` may become `target` (staying put is not a move)."""
    return target in _NEXT[current]


def is_live(state: ShipmentState) -> bool:
    return state is not ShipmentState.CANCELLED


def new_tracking_number() -> str:
    # 80 random bits: a clash is practically impossible, and the unique
    # constraint on the column turns the impossible into an error, not a mix-up.
    return "SM-" + secrets.token_hex(10).upper()


def merge(entries: Iterable[tuple[int, int, int]]) -> dict[int, dict[int, int]]:
    """(warehouse, product, units) entries -> warehouse -> product -> units.

    Repeated entries add up; warehouses left with nothing to ship are dropped,
    so they get no shipment."""
    wanted: dict[int, dict[int, int]] = {}
    for warehouse_id, product_id, quantity in entries:
        items = wanted.setdefault(warehouse_id, {})
        items[product_id] = items.get(product_id, 0) + quantity
    return {
        warehouse_id: {p: q for p, q in items.items() if q > 0}
        for warehouse_id, items in wanted.items()
        if any(q > 0 for q in items.values())
    }


@dataclass(frozen=True)
class Existing:
    """A shipment as the plan needs to see it."""

    shipment_id: int
    warehouse_id: int
    state: ShipmentState
    items: Items


@dataclass(frozen=True)
class Plan:
    # warehouse id -> items of a new shipment
    create: dict[int, dict[int, int]] = field(default_factory=dict)
    # shipment id -> the items it should carry instead
    update: dict[int, dict[int, int]] = field(default_factory=dict)
    cancel: tuple[int, ...] = ()
    # Shipments that already left and no longer match the order: nothing can
    # be done to them here, but someone should know.
    diverged: tuple[int, ...] = ()

    @property
    def changes_anything(self) -> bool:
        return bool(self.create or self.update or self.cancel)


def reconcile(wanted: Mapping[int, Items] | None, shipments: Iterable[Existing]) -> Plan:
    """What to do so that the live shipments match `wanted` (warehouse ->
    items), or, with `wanted` None, so that a cancelled order ships nothing.

    Depends only on the order and the shipments as they are now, never on what
    alerts came before, so applying it twice, or alerts out of order, is safe.
    """
    target = {} if wanted is None else {w: dict(items) for w, items in wanted.items() if items}
    live = {s.warehouse_id: s for s in shipments if is_live(s.state)}
    create: dict[int, dict[int, int]] = {}
    update: dict[int, dict[int, int]] = {}
    cancel: list[int] = []
    diverged: list[int] = []

    for warehouse_id, items in sorted(target.items()):
        shipment = live.get(warehouse_id)
        if shipment is None:
            create[warehouse_id] = items
        elif dict(shipment.items) != items:
            if shipment.state is ShipmentState.LABEL_CREATED:
                update[shipment.shipment_id] = items
            else:
                diverged.append(shipment.shipment_id)

    for warehouse_id, shipment in sorted(live.items()):
        if warehouse_id in target:
            continue
        if shipment.state is ShipmentState.LABEL_CREATED:
            cancel.append(shipment.shipment_id)
        else:
            diverged.append(shipment.shipment_id)

    return Plan(create, update, tuple(cancel), tuple(sorted(diverged)))
