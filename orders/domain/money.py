"""Money as integer minor units of one currency: no floats, no silent mixing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class CurrencyMismatch(ValueError):
    pass


@dataclass(frozen=True)
class Money:
    amount_minor: int
    currency: str

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot add {other.currency} to {self.currency}")
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.amount_minor * quantity, self.currency)


def total(amounts: Iterable[Money], currency: str) -> Money:
    """Sum in `currency`; an empty sum is zero in that currency."""
    result = Money(0, currency)
    for amount in amounts:
        result = result + amount
    return result
