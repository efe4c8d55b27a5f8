"""`shopmesh outbox`: how far each service's outbox has got, and the events
that are stuck, so an undeliverable event is seen rather than lost.

Relays prune delivered rows once they are older than their retention
(OUTBOX_RETENTION_SECONDS, 10 minutes by default), so "delivered" counts the
recent ones; pending and failed rows are never pruned."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.orm import Session

from meshkit.outbox import OutboxRow
from notifications.tables import DeliveryOutbox
from orders.tables import OrdersOutbox
from shipping.tables import ShippingOutbox
from shopctl import console

TABLES: tuple[type[OutboxRow], ...] = (OrdersOutbox, ShippingOutbox, DeliveryOutbox)
# Longer errors are cut: a stack of them should still fit a screen.
ERROR_WIDTH = 300


@dataclass(frozen=True)
class Counts:
    table: str
    pending: int
    # Pending rows that have failed at least once and wait for their next try.
    retrying: int
    failed: int
    delivered: int


@dataclass(frozen=True)
class Stuck:
    id: int
    state: str
    topic: str
    attempts: int
    # When it failed for good, or when it is next tried.
    when: datetime
    last_error: str


def counts(session: Session, table: type[OutboxRow]) -> Counts:
    pending = and_(table.delivered_at.is_(None), table.failed_at.is_(None))
    row = session.execute(
        select(
            func.count().filter(pending),
            func.count().filter(pending, table.attempts > 0),
            func.count().filter(table.failed_at.is_not(None)),
            func.count().filter(table.delivered_at.is_not(None)),
        )
    ).one()
    return Counts(_name(table), *row)


def stuck(session: Session, table: type[OutboxRow], limit: int) -> list[Stuck]:
    """The latest rows that failed for good or are being retried."""
    rows = session.scalars(
        select(table)
        .where(
            or_(
                table.failed_at.is_not(None),
                and_(table.delivered_at.is_(None), table.attempts > 0),
            )
        )
        .order_by(table.id.desc())
        .limit(limit)
    )
    return [
        Stuck(
            id=row.id,
            state="failed" if row.failed_at else "retrying",
            topic=row.topic,
            attempts=row.attempts,
            when=row.failed_at or row.available_at,
            last_error=row.last_error or "",
        )
        for row in rows
    ]


def report(engine: Engine, limit: int) -> None:
    with Session(engine) as session:
        tallies = [counts(session, table) for table in TABLES]
        problems = {_name(table): stuck(session, table, limit) for table in TABLES}
    width = max(len(t.table) for t in tallies)
    print(f"{'outbox':<{width}}  {'pending':>7}  {'retrying':>8}  {'failed':>6}  {'delivered':>9}")
    for t in tallies:
        print(
            f"{t.table:<{width}}  {t.pending:>7}  {t.retrying:>8}  {t.failed:>6}  {t.delivered:>9}"
        )
    for table, rows in problems.items():
        if not rows:
            continue
        print(f"\n{table}: latest {len(rows)} failed or retrying")
        console.block(_describe(row) for row in rows)


def _describe(row: Stuck) -> str:
    when = f"{'failed' if row.state == 'failed' else 'next try'} {row.when:%Y-%m-%d %H:%M:%S %Z}"
    error = " ".join(row.last_error.split())
    if len(error) > ERROR_WIDTH:
        error = error[: ERROR_WIDTH - 3] + "..."
    return (
        f"#{row.id} {row.state} {row.topic} (attempts {row.attempts}, {when})\n"
        f"      last error: {error or '-'}"
    )


def _name(table: type[OutboxRow]) -> str:
    return str(table.__tablename__)  # type: ignore[attr-defined]
