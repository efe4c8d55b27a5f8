"""Sustained flow: CreateOrder offered open loop at a fixed rate, and what it
costs and leaves behind; and the search for the highest rate that still
meets every target."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bench import calls, cpu, data, flow, handler_costs
from bench.context import Context
from bench.flow import Flows
from bench.load import Outcome, open_loop, percentile
from bench.report import Row
from shopctl import console

# The targets the services aim for (the bench only reports against them).
CREATE_P99 = 0.100
FLOW_P99 = 1.0
DRAIN = 1.0
CPU_PER_ORDER = 10.0  # milliseconds, every process of the mesh and PostgreSQL
TARGETS = "0 errors, CreateOrder p99 < 100 ms, both flows' p99 < 1 s, backlog empty < 1 s"


@dataclass(frozen=True)
class Settings:
    max_in_flight: int
    # Longest wait for the outboxes to empty after the load, before giving up.
    drain_limit: float


@dataclass(frozen=True)
class Sustained:
    rate: float
    seconds: float
    outcome: Outcome
    flows: Flows
    # Seconds from the last reply until no outbox had anything to deliver.
    drained_after: float | None
    failed_deliveries: int
    # CPU seconds of each process tree (instances, "postgres"), from the
    # first call until the outboxes were empty.
    cpu: dict[str, float]
    # Whether "postgres" is a server others may use too (DATABASE_URL).
    shared_server: bool
    # The load generator's (this process's) CPU seconds while it sent.
    load_generator_cpu: float
    rss: dict[str, int]
    # Each method's handler CPU over the run and drain, from the call logs.
    handlers: dict[str, handler_costs.MethodCost]

    @property
    def create_p99(self) -> float | None:
        return self.outcome.percentile(0.99)

    @property
    def shipment_p99(self) -> float | None:
        return percentile(self.flows.to_shipment, 0.99)

    @property
    def confirmation_p99(self) -> float | None:
        return percentile(self.flows.to_confirmation, 0.99)

    def misses(self) -> list[str]:
        """The targets this run missed."""
        missed = []
        if self.outcome.failed or self.failed_deliveries:
            missed.append("errors")
        if not _below(self.create_p99, CREATE_P99):
            missed.append("CreateOrder p99")
        if (
            not _below(self.shipment_p99, FLOW_P99)
            or not _below(self.confirmation_p99, FLOW_P99)
            or self.flows.without_shipment
            or self.flows.without_confirmation
        ):
            missed.append("flow p99")
        if not _below(self.drained_after, DRAIN):
            missed.append("backlog")
        return missed

    @property
    def cpu_per_order(self) -> float | None:
        """Milliseconds of every process's CPU per order committed."""
        return self.per_order(sum(self.cpu.values()))

    def per_order(self, seconds: float) -> float | None:
        """Milliseconds per order committed."""
        return 1000 * seconds / self.flows.orders if self.flows.orders else None

    def _cpu_note(self) -> str:
        if "postgres" not in self.cpu:
            return "(PostgreSQL runs on another machine: not counted)"
        if self.shared_server:
            return "(PostgreSQL: the whole DATABASE_URL server, whoever else uses it)"
        return ""

    def rows(self) -> list[Row]:
        outcome, flows = self.outcome, self.flows
        rows = [
            Row(
                "Sustained: CreateOrder offered",
                self.rate,
                "/s",
                text=f"for {self.seconds:g} s, open loop, {outcome.ok + outcome.failed} calls",
            ),
            Row(
                "CreateOrder errors",
                outcome.failed,
                "count",
                text=f"({outcome.describe_errors()})" if outcome.failed else "",
                target="0",
                met=outcome.failed == 0,
            ),
            Row("CreateOrder OK", outcome.rate, "/s", text=f"({outcome.ok} replies)"),
            Row("CreateOrder p50", _ms(outcome.percentile(0.5)), "ms"),
            Row(
                "CreateOrder p99",
                _ms(self.create_p99),
                "ms",
                target="< 100 ms",
                met=_below(self.create_p99, CREATE_P99),
            ),
            Row("Orders committed", flows.orders, "count", text="(the cost's denominator)"),
            _flow_row("order → shipment", flows.to_shipment, flows.without_shipment),
            _flow_row("order → confirmation", flows.to_confirmation, flows.without_confirmation),
            Row(
                "Outbox backlog empty after load",
                self.drained_after,
                "s",
                text="" if self.drained_after is not None else "not empty when the bench gave up",
                target="< 1 s",
                met=_below(self.drained_after, DRAIN),
            ),
            Row(
                "Outbox deliveries failed",
                self.failed_deliveries,
                "count",
                target="0",
                met=self.failed_deliveries == 0,
            ),
            Row(
                "CPU per order, mesh + PostgreSQL",
                self.cpu_per_order,
                "ms",
                text=self._cpu_note(),
                target=f"<= {CPU_PER_ORDER:g} ms",
                met=self.cpu_per_order is not None and self.cpu_per_order <= CPU_PER_ORDER,
            ),
        ]
        rows += [
            Row(f"  CPU per order: {name}", self.per_order(seconds), "ms")
            for name, seconds in self.cpu.items()
        ]
        rows += handler_costs.rows(self.handlers, self.flows.orders)
        rows.append(
            Row(
                "Load generator CPU per order",
                self.per_order(self.load_generator_cpu),
                "ms",
                text="(not in the sum)",
            )
        )
        rows += [
            Row(f"RSS after the run: {label}", size / 2**20, "MiB")
            for label, size in self.rss.items()
        ]
        lag_p99, lag_max = percentile(outcome.send_lags, 0.99), max(outcome.send_lags, default=0)
        if lag_p99 is not None and lag_p99 > 0.005:
            rows.append(
                Row(
                    "Load generator sent late, p99",
                    1000 * lag_p99,
                    "ms",
                    text=f"(max {1000 * lag_max:.0f} ms; latencies count from when calls were due)",
                )
            )
        return rows


def run(context: Context, settings: Settings, *, rate: float, seconds: float) -> Sustained:
    """Offer `rate` CreateOrder/s for `seconds`, wait for the outboxes to
    empty, then read the flows and the cost from the database and /proc."""
    engine = context.engine
    carts = data.add_carts(engine, context.catalogue, round(rate * seconds))
    since = flow.database_now(engine)
    roots = context.cpu_roots()
    logs = handler_costs.log_offsets(context.mesh)

    async def drive() -> tuple[Outcome, dict[str, float], float]:
        channel = calls.channel(context.mesh.target("orders"))
        try:
            await calls.warm_up(channel, len(context.mesh.of("orders")))
            create = calls.create_orders(channel, carts, context.tokens)
            before, own = cpu.snapshot(roots), cpu.own_cpu_seconds()
            outcome = await open_loop(
                create, rate=rate, count=carts.count, max_in_flight=settings.max_in_flight
            )
            return outcome, before, cpu.own_cpu_seconds() - own
        finally:
            await channel.close()

    outcome, before, load_generator_cpu = asyncio.run(drive())
    drain = flow.wait_drained(engine, since=outcome.finished, limit=settings.drain_limit)
    used = cpu.used(before, cpu.snapshot(roots))
    if "postgres" in used:
        used["postgres"] -= drain.poller_cpu
    return Sustained(
        rate=rate,
        seconds=seconds,
        outcome=outcome,
        flows=flow.flows(engine, carts),
        drained_after=drain.seconds,
        failed_deliveries=flow.failed_deliveries(engine, since),
        cpu=used,
        shared_server=context.shared_server,
        load_generator_cpu=load_generator_cpu,
        rss={i.label: cpu.rss_bytes(i.pid) for i in context.mesh.instances},
        handlers=handler_costs.since(context.mesh, logs),
    )


@dataclass(frozen=True)
class Search:
    start: float
    steps: int
    seconds: float


def find_max(context: Context, settings: Settings, search: Search) -> Row:
    """The highest rate (to within 10 %) that meets every target: double from
    `search.start` until one misses, then halve the gap; `search.steps`
    runs of `search.seconds` at most."""
    tried: list[tuple[float, list[str]]] = []
    best: float | None = None
    worst: float | None = None
    rate = search.start
    for _ in range(search.steps):
        console.step("find-max", f"{rate:g}/s for {search.seconds:g} s")
        result = run(context, settings, rate=rate, seconds=search.seconds)
        misses = result.misses()
        tried.append((rate, misses))
        console.step("", ", ".join(misses) + " missed" if misses else "all targets met")
        if misses:
            worst = rate
        else:
            best = rate
        if result.drained_after is None:
            break  # the mesh is still busy: no later step would be measured fairly
        if worst is None:
            rate *= 2
        elif best is None:
            rate = round(rate / 2, 1)
        elif worst - best <= max(1.0, 0.1 * best):
            break
        else:
            rate = round((best + worst) / 2, 1)
    steps = "; ".join(f"{r:g}/s " + (", ".join(m) + " missed" if m else "ok") for r, m in tried)
    if best is None:
        steps = f"below {min(r for r, _ in tried):g}/s: {steps}"
    return Row(
        "Highest sustainable CreateOrder rate", best, "/s", text=f"({steps})", target=TARGETS
    )


def _below(value: float | None, limit: float) -> bool:
    return value is not None and value < limit


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else 1000 * seconds


def _flow_row(name: str, samples: list[float], missing: int) -> Row:
    p99 = percentile(samples, 0.99)
    p50 = percentile(samples, 0.5)
    text = f"(p50 {p50:.3f} s)" if p50 is not None else ""
    if missing:
        text += f" {missing} orders have none yet"
    return Row(
        f"{name} p99",
        p99,
        "s",
        text=text.strip(),
        target="< 1 s",
        met=_below(p99, FLOW_P99) and not missing,
    )
