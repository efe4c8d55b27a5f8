"""One bench run, stage by stage, every process it starts stopped at the end.

1. A database (embedded in a temporary folder, or DATABASE_URL), migrated,
   with the bench's customers, products and stock (bench/data.py).
2. The mesh: real service processes on free loopback ports (bench/mesh.py).
3. Sustained flow: CreateOrder open loop; flows, backlog, CPU, RSS
   (bench/sustained.py); with --find-max, the highest rate meeting targets.
4. Closed loops against the mesh: CreateOrder, then GetOrder (bench/ratios.py).
5. `rest`: Envoy starts in front of the Orders instances (bench/edge.py);
   REST GetOrder through it and direct gRPC GetOrder take turns, the same
   order and callers, with Envoy's CPU per call (bench/rest.py); Envoy stops.
6. `streams`: one Notifications instance holds --streams WatchNotifications
   streams while its health check and ListNotifications are timed, and its
   memory read (bench/streams.py).
7. The mesh stops, so that nothing of it competes with the anchors
   (bench/anchors.py): the echo servers for GetOrder, then pgbench with
   CreateOrder's SQL on the same PostgreSQL server.

Every stage but the database and the mesh can be left out (BENCH_SKIP).
The machine's other load moves every figure; the JSON records its load
average before and after.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from bench import anchors, data, mesh, ratios, rest, streams, sustained
from bench.calls import CustomerTokens
from bench.context import Context
from bench.load import Outcome, loop_notes
from bench.options import Options
from bench.report import Row
from meshkit.db import make_engine
from shopctl import console, secrets
from tests.support import keys

# Carts are prepared for pgbench to run this fast (each of its transactions
# takes one of its own: anchors.Pgbench.carts_needed). It ran at 600 to 1,000
# transactions/s on 2 shared cores; one that runs out fails loudly.
PGBENCH_TPS_CEILING = 2000
# The closed loops' target: at least this share of their anchor's rate.
ANCHOR_RATIO = 0.5


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    create_order: Outcome | None = None
    get_order: Outcome | None = None
    echo: Outcome | None = None
    pgbench: anchors.PgbenchResult | None = None
    rest_get_order: rest.Comparison | None = None
    held_streams: streams.Held | None = None


def run(options: Options) -> Results:
    results = Results()
    with tempfile.TemporaryDirectory(prefix="shopmesh-bench-") as scratch, ExitStack() as stack:
        folder = Path(scratch)
        os.chmod(folder, 0o755)  # the embedded server runs as a user of its own
        keys.use(secrets.ensure(folder / "secrets"))
        console.step("database", "starting and migrating")
        db = stack.enter_context(mesh.scratch_database(folder))
        engine = make_engine(db.url, application_name="bench", pool_size=2)
        stack.callback(engine.dispose)
        catalogue = data.prepare_catalogue(engine)
        order = _with_mesh(options, db, engine, catalogue, results)
        # The anchors run with the mesh stopped, so nothing else competes.
        if order is not None:
            results.echo = _echo(options, folder, order)
        if options.runs("create-order"):
            results.pgbench = _pgbench(options, db.url, engine, catalogue)
    results.rows += ratio_rows(options, results)
    if results.rest_get_order is not None:
        results.rows += results.rest_get_order.rows()
    if results.held_streams is not None:
        results.rows += results.held_streams.rows()
    return results


def _with_mesh(
    options: Options, db: mesh.Database, engine: Engine, catalogue: data.Catalogue, results: Results
) -> ratios.OrderToRead | None:
    """Every stage that needs the mesh; the order GetOrder read, if it ran."""
    instances = {
        "orders": options.orders_instances,
        "shipping": options.shipping_instances,
        "notifications": options.notifications_instances,
    }
    console.step("mesh", ", ".join(f"{n} x {name}" for name, n in instances.items()))
    loop = ratios.Loop(options.callers, options.loop_seconds)
    order = None
    with mesh.running(db.url, instances) as the_mesh:
        context = Context(
            engine,
            the_mesh,
            catalogue,
            CustomerTokens(catalogue),
            postmaster=mesh.postmaster_pid(engine),
            shared_server=not db.embedded,
        )
        settings = sustained.Settings(options.max_in_flight, options.drain_limit)
        if options.runs("sustained"):
            console.step("sustained", f"{options.rate:g}/s for {options.duration:g} s")
            flow = sustained.run(context, settings, rate=options.rate, seconds=options.duration)
            results.rows += flow.rows()
        if options.find_max:
            search = sustained.Search(
                options.find_max_from, options.find_max_steps, options.find_max_seconds
            )
            results.rows.append(sustained.find_max(context, settings, search))
        if options.runs("create-order"):
            console.step("create-order", f"{loop.callers} callers, {loop.seconds:g} s")
            results.create_order = ratios.create_order(
                context, loop, carts=options.closed_carts, drain_limit=options.drain_limit
            )
        if options.runs("get-order"):
            console.step("get-order", f"{loop.callers} callers, {loop.seconds:g} s")
            order = ratios.order_to_read(context)
            results.get_order = ratios.get_order(
                the_mesh.target("orders"), options.orders_instances, order, loop
            )
        if options.runs("rest"):
            console.step(
                "rest",
                f"GetOrder via Envoy and direct gRPC, {loop.callers} callers,"
                f" {loop.seconds:g} s each, taking turns",
            )
            to_read = order or ratios.order_to_read(context)
            results.rest_get_order = rest.compare(context, to_read, loop, keys.current().folder)
        if options.runs("streams"):
            console.step(
                "streams",
                f"{options.streams} WatchNotifications streams, probed for"
                f" {options.streams_seconds:g} s",
            )
            results.held_streams = streams.run(context, options.streams, options.streams_seconds)
    return order


def _echo(options: Options, folder: Path, order: ratios.OrderToRead) -> Outcome:
    """GetOrder's anchor: as many echo servers as Orders instances, driven
    by the same client and callers."""
    console.step("echo", f"{options.orders_instances} x bench.echo")
    reply_file = folder / "get-order-reply.bin"
    reply_file.write_bytes(order.reply)
    loop = ratios.Loop(options.callers, options.loop_seconds)
    with anchors.echo_servers(options.orders_instances, reply_file) as echoes:
        target = mesh.balanced([echo.target for echo in echoes])
        return ratios.get_order(target, len(echoes), order, loop)


def _pgbench(
    options: Options, url: str, engine: Engine, catalogue: data.Catalogue
) -> anchors.PgbenchResult:
    """CreateOrder's anchor: its SQL from pgbench, as many clients as callers."""
    pgbench = anchors.Pgbench(options.callers, options.pgbench_threads, options.pgbench_seconds)
    console.step("pgbench", pgbench.command_line)
    carts = data.add_carts(engine, catalogue, pgbench.carts_needed(PGBENCH_TPS_CEILING))
    high_water = anchors.outbox_high_water(engine)
    try:
        return anchors.run_pgbench(pgbench, url, catalogue, carts)
    finally:
        anchors.retire_pgbench_events(engine, high_water)


def ratio_rows(options: Options, results: Results) -> list[Row]:
    rows = []
    callers = f"{options.callers} callers, closed loop"
    if results.create_order is not None and results.pgbench is not None:
        rows.append(
            Row(
                f"CreateOrder, {callers}",
                results.create_order.rate,
                "/s",
                anchor=f"pgbench, same SQL, -c {options.callers} -j {options.pgbench_threads}"
                f" -T {options.pgbench_seconds}",
                anchor_value=results.pgbench.tps,
                text=loop_notes(results.create_order),
                target=f"ratio >= {ANCHOR_RATIO}",
                met=results.create_order.rate >= ANCHOR_RATIO * results.pgbench.tps,
            )
        )
    if results.get_order is not None and results.echo is not None:
        rows.append(
            Row(
                f"GetOrder, {callers}",
                results.get_order.rate,
                "/s",
                anchor=f"bare grpcio echo x {options.orders_instances}, same reply bytes",
                anchor_value=results.echo.rate,
                text=loop_notes(results.get_order),
                target=f"ratio >= {ANCHOR_RATIO}",
                met=results.get_order.rate >= ANCHOR_RATIO * results.echo.rate,
            )
        )
    return rows
