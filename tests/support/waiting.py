import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(probe: Callable[[], T], *, within: float, what: str, every: float = 0.05) -> T:
    """Return the first truthy value `probe` gives; fail after `within` seconds.
    For effects that happen asynchronously (outbox deliveries), not for readiness."""
    deadline = time.monotonic() + within
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what} (last: {value!r})")
        time.sleep(every)
