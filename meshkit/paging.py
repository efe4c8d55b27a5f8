"""List pagination: clamped page sizes and opaque keyset page tokens.

A token encodes the last key of the page it ends, never an offset, so pages
stay stable while rows are inserted.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from meshkit.errors import invalid_argument as _invalid

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


def page_size(requested: int) -> int:
    if requested < 0:
        raise _invalid("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode(last_key: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_key}).encode()).decode()


def decode(token: str) -> int | None:
    """The key the previous page ended on; None for the first page."""
    if not token:
        return None
    try:
        after = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise _invalid("page_token", "is not a token this service issued") from None
    if not isinstance(after, int):
        raise _invalid("page_token", "is not a token this service issued")
    return after


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_token: str


def page_of(rows: Sequence[T], size: int, key: Callable[[T], int]) -> Page[T]:
    """`rows` were read with LIMIT size + 1 in `key` order: a row beyond
    `size` means there is a next page, which starts after the last key shown."""
    items = rows[:size]
    return Page(items, encode(key(items[-1])) if len(rows) > size else "")
