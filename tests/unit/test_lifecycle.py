"""An order's state follows its shipments (no I/O)."""

from orders.domain.lifecycle import OrderState, Progress, advance, derive_state, is_changeable

P = Progress


def test_progress_never_goes_back_when_reports_arrive_out_of_order() -> None:
    assert advance(P.DELIVERED, P.IN_TRANSIT) is P.DELIVERED
    assert advance(P.IN_TRANSIT, P.DELIVERED) is P.DELIVERED
    assert advance(None, P.LABEL_CREATED) is P.LABEL_CREATED


def test_only_a_parcel_that_has_not_left_can_be_cancelled() -> None:
    assert advance(P.LABEL_CREATED, P.CANCELLED) is P.CANCELLED
    assert advance(P.IN_TRANSIT, P.CANCELLED) is P.IN_TRANSIT
    assert advance(P.CANCELLED, P.IN_TRANSIT) is P.CANCELLED


def test_order_ships_when_any_parcel_leaves_and_is_delivered_when_all_arrive() -> None:
    confirmed = OrderState.CONFIRMED
    assert derive_state(confirmed, [P.LABEL_CREATED, P.LABEL_CREATED], 2) is confirmed
    assert derive_state(confirmed, [P.IN_TRANSIT, P.LABEL_CREATED], 2) is OrderState.SHIPPED
    assert derive_state(confirmed, [P.DELIVERED, P.LABEL_CREATED], 2) is OrderState.SHIPPED
    assert derive_state(confirmed, [P.DELIVERED, P.DELIVERED], 2) is OrderState.DELIVERED


def test_one_delivered_parcel_of_a_split_order_is_not_the_whole_order() -> None:
    # Only one of two shipments has been reported so far.
    assert derive_state(OrderState.CONFIRMED, [P.DELIVERED], 2) is OrderState.SHIPPED


def test_a_cancelled_order_stays_cancelled() -> None:
    assert derive_state(OrderState.CANCELLED, [P.DELIVERED], 1) is OrderState.CANCELLED


def test_only_confirmed_orders_change() -> None:
    assert [s for s in OrderState if is_changeable(s)] == [OrderState.CONFIRMED]
