"""Which warehouses an order ships from (no I/O)."""

import pytest

from orders.domain.allocation import OutOfStock, Point, WarehouseStock, allocate

BERLIN = Point(52.52, 13.405)
LEIPZIG = Point(51.34, 12.37)
MUNICH = Point(48.14, 11.58)
HAMBURG = Point(53.55, 9.99)


def test_the_nearest_warehouse_that_has_everything_ships_it_all() -> None:
    warehouses = [
        WarehouseStock(1, MUNICH, {10: 5, 11: 5}),
        WarehouseStock(2, LEIPZIG, {10: 5, 11: 5}),
    ]
    assert allocate({10: 2, 11: 1}, warehouses, BERLIN) == {2: {10: 2, 11: 1}}


def test_a_farther_complete_warehouse_beats_splitting_between_nearer_ones() -> None:
    warehouses = [
        WarehouseStock(1, LEIPZIG, {10: 5}),
        WarehouseStock(2, HAMBURG, {11: 5}),
        WarehouseStock(3, MUNICH, {10: 5, 11: 5}),
    ]
    assert allocate({10: 1, 11: 1}, warehouses, BERLIN) == {3: {10: 1, 11: 1}}


def test_splits_across_the_fewest_warehouses_then_the_nearest() -> None:
    warehouses = [
        WarehouseStock(1, MUNICH, {10: 3}),
        WarehouseStock(2, LEIPZIG, {10: 3}),
        WarehouseStock(3, HAMBURG, {10: 1, 11: 4}),
    ]
    # 4 units of 10 need two warehouses; Leipzig+Hamburg is the only pair that
    # also covers product 11.
    plan = allocate({10: 4, 11: 2}, warehouses, BERLIN)
    assert plan == {2: {10: 3}, 3: {10: 1, 11: 2}}


def test_a_split_takes_each_product_from_the_nearest_warehouse_first() -> None:
    warehouses = [WarehouseStock(1, MUNICH, {10: 5}), WarehouseStock(2, LEIPZIG, {10: 2})]
    assert allocate({10: 6}, warehouses, BERLIN) == {2: {10: 2}, 1: {10: 4}}


def test_not_enough_stock_anywhere_names_the_product() -> None:
    warehouses = [WarehouseStock(1, MUNICH, {10: 2}), WarehouseStock(2, LEIPZIG, {10: 1})]
    with pytest.raises(OutOfStock) as short:
        allocate({10: 4}, warehouses, BERLIN)
    assert (short.value.product_id, short.value.wanted, short.value.available) == (10, 4, 3)


def test_distance_is_great_circle_kilometres() -> None:
    assert BERLIN.km_to(MUNICH) == pytest.approx(504, abs=5)
