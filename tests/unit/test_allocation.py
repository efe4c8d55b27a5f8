"""Which warehouses an order ships from (no I/O)."""

import pytest

from orders.domain.allocation import OutOfStock, Point, WarehouseStock, allocate

BERLIN = Point(52.52, 13.405)
LEIPZIG = Point(51.34, 12.37)
MUNICH = Point(48.14, 11.58)
HAMBURG = Point(53.55, 9.99)
FRANKFURT = Point(50.11, 8.68)
COLOGNE = Point(50.94, 6.96)


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
    assert str(short.value) == "product 10: 4 wanted, 3 available"


def test_a_warehouse_lacking_a_product_adds_nothing_to_its_stock() -> None:
    warehouses = [WarehouseStock(1, LEIPZIG, {10: 2}), WarehouseStock(2, MUNICH, {11: 5})]
    with pytest.raises(OutOfStock) as short:
        allocate({10: 3}, warehouses, BERLIN)
    assert short.value.available == 2


def test_ordering_exactly_the_units_in_stock_takes_them_all() -> None:
    assert allocate({10: 2}, [WarehouseStock(1, LEIPZIG, {10: 2})], BERLIN) == {1: {10: 2}}


def test_a_warehouse_holding_exactly_the_units_wanted_ships_them_alone() -> None:
    warehouses = [WarehouseStock(1, LEIPZIG, {10: 2}), WarehouseStock(2, MUNICH, {10: 5})]
    assert allocate({10: 2}, warehouses, BERLIN) == {1: {10: 2}}


def test_warehouses_holding_one_unit_each_together_fill_an_order() -> None:
    warehouses = [WarehouseStock(1, LEIPZIG, {10: 1}), WarehouseStock(2, MUNICH, {10: 1})]
    assert allocate({10: 2}, warehouses, BERLIN) == {1: {10: 1}, 2: {10: 1}}


def test_a_product_filled_by_the_nearer_warehouse_takes_nothing_from_the_farther() -> None:
    warehouses = [WarehouseStock(1, LEIPZIG, {10: 1, 11: 5}), WarehouseStock(2, MUNICH, {10: 5})]
    assert allocate({10: 2, 11: 1}, warehouses, BERLIN) == {1: {10: 1, 11: 1}, 2: {10: 1}}


def test_nothing_wanted_ships_from_nowhere() -> None:
    assert allocate({}, [WarehouseStock(1, LEIPZIG, {10: 1})], BERLIN) == {}


def split_where_greedy_is_not_nearest() -> list[WarehouseStock]:
    """Two of each product wanted. Exact search ships from Leipzig and
    Hamburg; a greedy cover first takes Munich, which has the most of both."""
    return [
        WarehouseStock(1, LEIPZIG, {10: 2}),
        WarehouseStock(2, HAMBURG, {11: 2}),
        WarehouseStock(3, MUNICH, {10: 1, 11: 2}),
        WarehouseStock(4, FRANKFURT, {10: 1}),
    ]


def test_past_the_search_limit_a_greedy_cover_takes_the_largest_contribution_first() -> None:
    # 4 warehouses make 6 pairs: more than the limit allows searching.
    plan = allocate({10: 2, 11: 2}, split_where_greedy_is_not_nearest(), BERLIN, search_limit=5)
    assert plan == {1: {10: 2}, 3: {11: 2}}


def test_exactly_as_many_candidate_sets_as_the_limit_are_still_searched() -> None:
    plan = allocate({10: 2, 11: 2}, split_where_greedy_is_not_nearest(), BERLIN, search_limit=6)
    assert plan == {1: {10: 2}, 2: {11: 2}}


def test_warehouses_without_any_wanted_product_do_not_count_towards_the_search_limit() -> None:
    warehouses = [
        *split_where_greedy_is_not_nearest(),
        WarehouseStock(5, COLOGNE, {12: 9}),
        WarehouseStock(6, COLOGNE, {10: 0}),
    ]
    plan = allocate({10: 2, 11: 2}, warehouses, BERLIN, search_limit=6)
    assert plan == {1: {10: 2}, 2: {11: 2}}


def test_a_greedy_cover_adds_warehouses_until_every_unit_is_covered() -> None:
    warehouses = [
        WarehouseStock(1, LEIPZIG, {10: 3}),
        WarehouseStock(2, HAMBURG, {11: 1}),
        WarehouseStock(3, MUNICH, {10: 1}),
        WarehouseStock(4, FRANKFURT, {11: 1}),
    ]
    plan = allocate({10: 3, 11: 1}, warehouses, BERLIN, search_limit=1)
    assert plan == {1: {10: 3}, 2: {11: 1}}


def test_distance_is_great_circle_kilometres() -> None:
    assert BERLIN.km_to(MUNICH) == pytest.approx(504, abs=5)
