"""The bench's command line. Defaults keep `make bench` within about four
minutes on a 2-core machine; BENCH_RATE, BENCH_DURATION, BENCH_STREAMS and
BENCH_SKIP set the most used ones from the environment
(`make bench BENCH_RATE=50`)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

STAGES = ("sustained", "create-order", "get-order", "rest", "streams")


@dataclass(frozen=True)
class Options:
    rate: float
    duration: float
    max_in_flight: int
    drain_limit: float
    callers: int
    loop_seconds: float
    closed_carts: int
    pgbench_seconds: int
    pgbench_threads: int
    orders_instances: int
    shipping_instances: int
    notifications_instances: int
    streams: int
    streams_seconds: float
    find_max: bool
    find_max_from: float
    find_max_steps: int
    find_max_seconds: float
    skip: frozenset[str]

    def runs(self, stage: str) -> bool:
        return stage not in self.skip


def parse(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> Options:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Start a mesh of its own, measure it and its anchors, print one table "
        "(also written to .shopmesh/bench/last.json).",
    )
    sustained = parser.add_argument_group("sustained flow (open loop)")
    sustained.add_argument(
        "--rate",
        type=float,
        default=float(env.get("BENCH_RATE", 150)),
        help="CreateOrder calls offered per second (BENCH_RATE; default %(default)s)",
    )
    sustained.add_argument(
        "--duration",
        type=float,
        default=float(env.get("BENCH_DURATION", 30)),
        help="seconds to offer them for (BENCH_DURATION; default %(default)s)",
    )
    sustained.add_argument(
        "--max-in-flight",
        type=int,
        default=256,
        help="calls left unanswered before further ones count as not sent (default %(default)s)",
    )
    sustained.add_argument(
        "--drain-limit",
        type=float,
        default=120,
        help="seconds to wait at most for the outboxes to empty (default %(default)s)",
    )
    search = parser.add_argument_group("highest sustainable rate")
    search.add_argument(
        "--find-max",
        action="store_true",
        help="also search for the highest rate meeting every target (several minutes more)",
    )
    search.add_argument("--find-max-from", type=float, default=10, help="first rate (%(default)s)")
    search.add_argument(
        "--find-max-steps", type=int, default=7, help="runs at most (default %(default)s)"
    )
    search.add_argument(
        "--find-max-seconds", type=float, default=10, help="seconds per run (%(default)s)"
    )
    closed = parser.add_argument_group("closed loops and their anchors")
    closed.add_argument("--callers", type=int, default=8, help="concurrent callers (%(default)s)")
    closed.add_argument(
        "--loop-seconds",
        type=float,
        default=10,
        help="seconds of each closed loop: CreateOrder, GetOrder, echo, and each of REST"
        " GetOrder via Envoy and direct gRPC (%(default)s)",
    )
    closed.add_argument(
        "--closed-carts",
        type=int,
        default=4000,
        help="carts for closed-loop CreateOrder; it stops early when they run out (%(default)s)",
    )
    closed.add_argument("--pgbench-seconds", type=int, default=10, help="pgbench -T (%(default)s)")
    closed.add_argument("--pgbench-threads", type=int, default=2, help="pgbench -j (%(default)s)")
    streams = parser.add_argument_group("WatchNotifications streams on one instance")
    streams.add_argument(
        "--streams",
        type=int,
        default=int(env.get("BENCH_STREAMS", 5000)),
        help="streams to hold open (BENCH_STREAMS; default %(default)s)",
    )
    streams.add_argument(
        "--streams-seconds",
        type=float,
        default=10,
        help="seconds of health checks and ListNotifications while they are held (%(default)s)",
    )
    mesh = parser.add_argument_group("the mesh")
    mesh.add_argument("--orders-instances", type=int, default=2)
    mesh.add_argument("--shipping-instances", type=int, default=1)
    mesh.add_argument("--notifications-instances", type=int, default=1)
    parser.add_argument(
        "--skip",
        action="append",
        choices=STAGES,
        default=[s for s in env.get("BENCH_SKIP", "").split(",") if s],
        help="leave a stage out (repeatable; BENCH_SKIP=a,b)",
    )
    args = parser.parse_args(argv)
    unknown = set(args.skip) - set(STAGES)
    if unknown:
        parser.error(f"BENCH_SKIP: unknown stages {sorted(unknown)}; choose from {STAGES}")
    if args.streams < 1:
        parser.error("--streams (BENCH_STREAMS) must be at least 1; --skip streams leaves them out")
    return Options(
        rate=args.rate,
        duration=args.duration,
        max_in_flight=args.max_in_flight,
        drain_limit=args.drain_limit,
        callers=args.callers,
        loop_seconds=args.loop_seconds,
        closed_carts=args.closed_carts,
        pgbench_seconds=args.pgbench_seconds,
        pgbench_threads=args.pgbench_threads,
        orders_instances=args.orders_instances,
        shipping_instances=args.shipping_instances,
        notifications_instances=args.notifications_instances,
        streams=args.streams,
        streams_seconds=args.streams_seconds,
        find_max=args.find_max,
        find_max_from=args.find_max_from,
        find_max_steps=args.find_max_steps,
        find_max_seconds=args.find_max_seconds,
        skip=frozenset(args.skip),
    )
