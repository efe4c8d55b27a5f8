"""A shipment's state rules and the reconcile plan, with no I/O."""

from __future__ import annotations

import re

import pytest

from shipping.domain.shipment import (
    Existing,
    Plan,
    ShipmentState,
    may_move,
    merge,
    new_tracking_number,
    reconcile,
)

LABEL = ShipmentState.LABEL_CREATED
TRANSIT = ShipmentState.IN_TRANSIT
DELIVERED = ShipmentState.DELIVERED
CANCELLED = ShipmentState.CANCELLED


@pytest.mark.parametrize(
    ("current", "target"),
    [(LABEL, TRANSIT), (TRANSIT, DELIVERED), (LABEL, CANCELLED)],
)
def test_a_shipment_moves_forward_or_is_cancelled_before_it_leaves(
    current: ShipmentState, target: ShipmentState
) -> None:
    assert may_move(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (TRANSIT, LABEL),
        (DELIVERED, TRANSIT),
        (DELIVERED, LABEL),
        (LABEL, DELIVERED),
        (TRANSIT, CANCELLED),
        (DELIVERED, CANCELLED),
        (CANCELLED, LABEL),
        (CANCELLED, TRANSIT),
        (LABEL, LABEL),
    ],
)
def test_a_shipment_never_moves_back_skips_transit_or_leaves_cancelled(
    current: ShipmentState, target: ShipmentState
) -> None:
    assert not may_move(current, target)


def test_tracking_numbers_are_distinct_and_fit_the_column() -> None:
    numbers = {new_tracking_number() for _ in range(1000)}
    assert len(numbers) == 1000
    assert all(n.startswith("SM-") and len(n) <= 32 for n in numbers)


def test_tracking_numbers_are_sm_and_twenty_upper_case_hex_digits() -> None:
    # Printed on labels and read out to carriers: one fixed, unambiguous form.
    assert re.fullmatch(r"SM-[0-9A-F]{20}", new_tracking_number())


def test_fulfillment_entries_merge_per_warehouse_and_drop_empty_ones() -> None:
    merged = merge([(1, 10, 2), (2, 11, 1), (1, 10, 3), (1, 12, 1), (3, 10, 0)])
    assert merged == {1: {10: 5, 12: 1}, 2: {11: 1}}


def test_a_zero_unit_line_is_not_kept_in_a_shipment() -> None:
    assert merge([(1, 10, 0), (1, 11, 2)]) == {1: {11: 2}}


def shipment(
    shipment_id: int, warehouse_id: int, state: ShipmentState, items: dict[int, int]
) -> Existing:
    return Existing(shipment_id, warehouse_id, state, items)


def test_an_order_without_shipments_gets_one_per_warehouse() -> None:
    plan = reconcile({1: {10: 2}, 2: {10: 1, 11: 4}}, [])
    assert plan == Plan(create={1: {10: 2}, 2: {10: 1, 11: 4}})


def test_shipments_that_match_the_order_are_left_alone() -> None:
    shipments = [shipment(7, 1, LABEL, {10: 2}), shipment(8, 2, TRANSIT, {11: 1})]
    plan = reconcile({1: {10: 2}, 2: {11: 1}}, shipments)
    assert plan == Plan()
    assert not plan.changes_anything


def test_a_waiting_shipment_takes_the_orders_new_items() -> None:
    plan = reconcile({1: {10: 5, 12: 1}}, [shipment(7, 1, LABEL, {10: 2})])
    assert plan == Plan(update={7: {10: 5, 12: 1}})


def test_a_warehouse_dropped_from_the_order_loses_its_waiting_shipment() -> None:
    plan = reconcile({2: {10: 1}}, [shipment(7, 1, LABEL, {10: 1})])
    assert plan == Plan(create={2: {10: 1}}, cancel=(7,))


def test_a_cancelled_shipment_is_replaced_when_its_warehouse_is_back() -> None:
    plan = reconcile({1: {10: 1}}, [shipment(7, 1, CANCELLED, {10: 1})])
    assert plan == Plan(create={1: {10: 1}})


def test_a_cancelled_order_cancels_what_has_not_left_and_flags_what_has() -> None:
    shipments = [
        shipment(7, 1, LABEL, {10: 1}),
        shipment(8, 2, TRANSIT, {11: 1}),
        shipment(9, 3, CANCELLED, {12: 1}),
    ]
    plan = reconcile(None, shipments)
    assert plan == Plan(cancel=(7,), diverged=(8,))


def test_a_shipment_that_left_is_never_rewritten_only_flagged() -> None:
    shipments = [shipment(7, 1, TRANSIT, {10: 1}), shipment(8, 2, DELIVERED, {11: 1})]
    plan = reconcile({1: {10: 3}}, shipments)
    assert plan == Plan(diverged=(7, 8))


def test_applying_the_plan_leaves_nothing_more_to_do() -> None:
    wanted = {1: {10: 2}, 2: {11: 1}}
    first = reconcile(wanted, [shipment(7, 1, LABEL, {10: 9}), shipment(8, 3, LABEL, {12: 1})])
    assert first == Plan(create={2: {11: 1}}, update={7: {10: 2}}, cancel=(8,))
    after = [
        shipment(7, 1, LABEL, first.update[7]),
        shipment(8, 3, CANCELLED, {12: 1}),
        shipment(9, 2, LABEL, first.create[2]),
    ]
    assert reconcile(wanted, after) == Plan()
