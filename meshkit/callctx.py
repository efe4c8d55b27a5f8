"""What follows a call from service to service: its request id and deadline.

The server interceptor binds both for the duration of an incoming call; the
client interceptor reads them to stamp outgoing calls.
"""

from __future__ import annotations

import contextvars
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

REQUEST_ID_KEY = "x-request-id"
# A call that carries the work of several requests (an outbox relay's batch)
# names them here, comma-separated, so that each one's trail in the logs
# continues through the batch.
BATCH_OF_KEY = "x-batch-of"
# The most request ids a call's log line repeats from BATCH_OF_KEY.
BATCH_OF_LOGGED = 100


def batch_of(metadata: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> list[str]:
    """The request ids a call's metadata says it carries the work of."""
    named = next((value for key, value in metadata if key == BATCH_OF_KEY), "")
    return [part for part in named.split(",") if part][:BATCH_OF_LOGGED]


_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
# time.monotonic() at which the incoming call's deadline passes.
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id() -> str:
    return _request_id.get()


# Work (a downstream call, a SQL statement) stops this much before the
# incoming deadline, so that there is still time to answer the caller with
# a status of our own rather than have gRPC cut the call.
ANSWER_MARGIN = 0.1


def work_budget() -> float | None:
    """Seconds left for work on the incoming call (its deadline less
    ANSWER_MARGIN), if it has a deadline; negative once that has passed."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - ANSWER_MARGIN - time.monotonic()


# gRPC reports a call without a deadline as one centuries away.
_NO_DEADLINE = 365 * 24 * 3600.0


@contextmanager
def bound(request_id: str, time_remaining: float | None) -> Iterator[None]:
    deadline = None
    if time_remaining is not None and time_remaining < _NO_DEADLINE:
        deadline = time.monotonic() + time_remaining
    id_token = _request_id.set(request_id)
    deadline_token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(deadline_token)
        _request_id.reset(id_token)
