"""Choosing the warehouses an order ships from.

The rule, in order of preference:
1. the nearest warehouse that can fill the whole order;
2. otherwise the fewest warehouses that together can, nearest first
   (smallest total distance to the customer among sets of that size);
   each product is then taken from the nearest of them that has it.

Exact search over sets of warehouses is cheap for the handful of warehouses a
shop has; past `EXACT_SEARCH_LIMIT` candidate sets of one size it falls back to
a greedy cover (largest remaining contribution first), which is not always
minimal. Warehouses holding none of the wanted products take no part.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

EARTH_RADIUS_KM = 6371.0
EXACT_SEARCH_LIMIT = 20_000

# product id -> units
Quantities = Mapping[int, int]
# warehouse id -> product id -> units
Plan = dict[int, dict[int, int]]


@dataclass(frozen=True)
class Point:
    latitude: float
    longitude: float

    def km_to(self, other: Point) -> float:
        """Great-circle (haversine) distance."""
        lat1, lon1, lat2, lon2 = map(
            math.radians, (self.latitude, self.longitude, other.latitude, other.longitude)
        )
        a = (
            math.sin((lat2 - lat1) / 2) ** 2
            + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
        )
        return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class WarehouseStock:
    warehouse_id: int
    location: Point
    # product id -> units free to reserve
    available: Quantities


class OutOfStock(Exception):
    def __init__(self, product_id: int, wanted: int, available: int) -> None:
        super().__init__(f"product {product_id}: {wanted} wanted, {available} available")
        self.product_id = product_id
        self.wanted = wanted
        self.available = available


def allocate(
    wanted: Quantities,
    warehouses: Sequence[WarehouseStock],
    destination: Point,
    search_limit: int = EXACT_SEARCH_LIMIT,
) -> Plan:
    """Decide which warehouse ships how many of each product."""
    for product_id in sorted(wanted):
        in_stock = sum(w.available.get(product_id, 0) for w in warehouses)
        if in_stock < wanted[product_id]:
            raise OutOfStock(product_id, wanted[product_id], in_stock)

    useful = [w for w in warehouses if any(w.available.get(p, 0) > 0 for p in wanted)]
    by_distance = sorted(useful, key=lambda w: (w.location.km_to(destination), w.warehouse_id))

    # Smaller sets first; the set of all of them needs no search: the stock
    # was counted above, so together they always cover.
    for size in range(1, len(by_distance)):
        if math.comb(len(by_distance), size) > search_limit:
            return _take_nearest_first(wanted, _greedy_cover(wanted, by_distance))
        covering = [
            group for group in itertools.combinations(by_distance, size) if _covers(group, wanted)
        ]
        if covering:
            nearest = min(covering, key=lambda g: sum(w.location.km_to(destination) for w in g))
            return _take_nearest_first(wanted, nearest)
    return _take_nearest_first(wanted, by_distance)


def _covers(group: Sequence[WarehouseStock], wanted: Quantities) -> bool:
    return all(sum(w.available.get(p, 0) for w in group) >= n for p, n in wanted.items())


def _take_nearest_first(wanted: Quantities, group: Sequence[WarehouseStock]) -> Plan:
    """`group` is ordered nearest first."""
    plan: Plan = {}
    for product_id, units in sorted(wanted.items()):
        for warehouse in group:
            if units == 0:
                break
            taken = min(units, warehouse.available.get(product_id, 0))
            if taken:
                plan.setdefault(warehouse.warehouse_id, {})[product_id] = taken
                units -= taken
    return plan


def _greedy_cover(
    wanted: Quantities, by_distance: Sequence[WarehouseStock]
) -> list[WarehouseStock]:
    remaining = dict(wanted)
    chosen: list[WarehouseStock] = []
    candidates = list(by_distance)
    while any(remaining.values()):
        best = max(
            candidates,
            key=lambda w: sum(min(n, w.available.get(p, 0)) for p, n in remaining.items()),
        )
        candidates.remove(best)
        chosen.append(best)
        for p, n in remaining.items():
            remaining[p] = n - min(n, best.available.get(p, 0))
    # Nearest first, so each product comes from the closest chosen warehouse.
    return sorted(chosen, key=by_distance.index)
