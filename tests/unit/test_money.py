import pytest

from orders.domain.money import CurrencyMismatch, Money, total


def test_totals_are_exact_integer_minor_units() -> None:
    # 0.10 + 0.20 in floats is 0.30000000000000004; in cents it is 30.
    assert total([Money(10, "EUR"), Money(20, "EUR")], "EUR") == Money(30, "EUR")
    assert Money(1999, "EUR").times(3) == Money(5997, "EUR")


def test_an_empty_total_is_zero_in_its_currency() -> None:
    assert total([], "EUR") == Money(0, "EUR")


def test_currencies_never_mix() -> None:
    with pytest.raises(CurrencyMismatch, match=r"^cannot add USD to EUR$"):
        total([Money(100, "EUR"), Money(100, "USD")], "EUR")
