"""Driving calls: open loop (sent on a schedule, whatever the replies do) and
closed loop (each caller sends its next call when the last one returns).

A call is any `async (index) -> None` that raises grpc.aio.AioRpcError (or
CallFailed, for REST) on failure; bench/calls.py makes the real ones.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc

Call = Callable[[int], Awaitable[None]]


class CallFailed(Exception):
    """A call that is not gRPC failed (REST through the edge); `code` says
    how, as a status code's name does for gRPC (`HTTP 503`, `ReadTimeout`)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _failure(error: grpc.aio.AioRpcError | CallFailed) -> str:
    return error.code if isinstance(error, CallFailed) else error.code().name


@dataclass
class Outcome:
    """What a run of calls came to. Times are event-loop (monotonic) seconds."""

    # Seconds each successful call took.
    latencies: list[float] = field(default_factory=list)
    # Failed calls by status code name.
    errors: Counter[str] = field(default_factory=Counter)
    # Open loop: calls due while `max_in_flight` were unanswered, not sent.
    not_sent: int = 0
    started: float = 0.0
    # When the last reply (or failure) came.
    finished: float = 0.0
    # Open loop: how late the generator sent each call.
    send_lags: list[float] = field(default_factory=list)
    # Closed loop: stopped early because the prepared work ran out.
    exhausted: bool = False

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def failed(self) -> int:
        """Calls that did not succeed, including those never sent."""
        return sum(self.errors.values()) + self.not_sent

    @property
    def elapsed(self) -> float:
        return self.finished - self.started

    @property
    def rate(self) -> float:
        """Successful calls per second."""
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, q: float) -> float | None:
        return percentile(self.latencies, q)

    def describe_errors(self) -> str:
        parts = [f"{code} {n}" for code, n in self.errors.most_common()]
        if self.not_sent:
            parts.append(f"not sent (in-flight cap) {self.not_sent}")
        return ", ".join(parts) or "none"


def loop_notes(outcome: Outcome) -> str:
    """A closed loop's errors, whether it ran out of work, and its p99, for
    a row of the table."""
    notes = []
    if outcome.failed:
        notes.append(f"{outcome.failed} errors: {outcome.describe_errors()}")
    if outcome.exhausted:
        notes.append(f"ran out of carts after {outcome.elapsed:.1f} s")
    p99 = outcome.percentile(0.99)
    if p99 is not None:
        notes.append(f"p99 {1000 * p99:.1f} ms")
    return f"({'; '.join(notes)})"


def combined(outcomes: Sequence[Outcome]) -> Outcome:
    """Closed loops of the same calls, run apart, as one: every call, over
    their summed durations (the time between the loops left out)."""
    whole = Outcome(started=0.0, finished=sum(o.elapsed for o in outcomes))
    for outcome in outcomes:
        whole.latencies += outcome.latencies
        whole.errors += outcome.errors
        whole.not_sent += outcome.not_sent
        whole.exhausted |= outcome.exhausted
    return whole


def percentile(samples: list[float], q: float) -> float | None:
    """Nearest rank: the smallest sample at or above a fraction `q` of them."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def open_loop(call: Call, *, rate: float, count: int, max_in_flight: int) -> Outcome:
    """Send `count` calls, call i at i / rate seconds. Latency counts from
    when a call was due, so a generator that falls behind cannot hide a slow
    server (no coordinated omission). At most `max_in_flight` wait for
    replies; a call due beyond that is counted as not sent, so a mesh that
    cannot keep up makes the run fail visibly rather than grow without bound."""
    loop = asyncio.get_running_loop()
    outcome = Outcome(started=loop.time())
    outcome.finished = outcome.started
    in_flight: set[asyncio.Task[None]] = set()

    async def one(index: int, due: float) -> None:
        try:
            await call(index)
        except (grpc.aio.AioRpcError, CallFailed) as error:
            outcome.errors[_failure(error)] += 1
        else:
            outcome.latencies.append(loop.time() - due)
        outcome.finished = max(outcome.finished, loop.time())

    for index in range(count):
        due = outcome.started + index / rate
        if (wait := due - loop.time()) > 0:
            await asyncio.sleep(wait)
        outcome.send_lags.append(loop.time() - due)
        if len(in_flight) >= max_in_flight:
            outcome.not_sent += 1
            continue
        task = asyncio.create_task(one(index, due))
        in_flight.add(task)
        task.add_done_callback(in_flight.discard)
    await asyncio.gather(*in_flight)
    return outcome


async def closed_loop(
    call: Call, *, callers: int, seconds: float, limit: int | None = None
) -> Outcome:
    """`callers` callers, each sending its next call as soon as the last
    returns, for `seconds` (or until `limit` calls have been started)."""
    loop = asyncio.get_running_loop()
    outcome = Outcome(started=loop.time())
    stop_at = outcome.started + seconds
    indices = itertools.count()

    async def caller() -> None:
        while (sent := loop.time()) < stop_at:
            index = next(indices)
            if limit is not None and index >= limit:
                outcome.exhausted = True
                return
            try:
                await call(index)
            except (grpc.aio.AioRpcError, CallFailed) as error:
                outcome.errors[_failure(error)] += 1
            else:
                outcome.latencies.append(loop.time() - sent)

    await asyncio.gather(*(caller() for _ in range(callers)))
    outcome.finished = loop.time()
    return outcome
