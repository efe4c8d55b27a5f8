"""The `shopmesh` command line: argument parsing only; each command's work
lives in its own module."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence

from sqlalchemy.exc import SQLAlchemyError

from meshkit.config import token_issuers
from shopctl import background, console, database, mesh, outbox, prepare, supervisor, tokens

DESCRIPTION = """\
Run the shopmesh services (Orders, Shipping, Notifications) on your machine.

Without DATABASE_URL the mesh uses an embedded PostgreSQL kept in the state
folder (.shopmesh/, or SHOPMESH_STATE_DIR). Ports: ORDERS_PORT (50051),
SHIPPING_PORT (50052), NOTIFICATIONS_PORT (50053). Development keys and
certificates are generated into the state folder's secrets/ on first use.
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except (console.Failure, mesh.MeshConfigError) as error:
        console.error("error", str(error))
        return 1
    except SQLAlchemyError as error:
        console.error("error", f"database: {database.explain(error)}")
        return 1
    except KeyboardInterrupt:
        return 130


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="shopmesh",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(title="commands", required=True, metavar="COMMAND")

    db = commands.add_parser("db", help="set up the database").add_subparsers(
        title="database commands", required=True, metavar="COMMAND"
    )
    db.add_parser("upgrade", help="apply the migrations").set_defaults(command=_db_upgrade)
    db.add_parser("seed", help="load the demo data (safe to repeat)").set_defaults(command=_db_seed)

    run = commands.add_parser(
        "run", help="migrate, seed and run the services in the foreground; Ctrl-C stops"
    )
    _timeout(run, 60)
    run.set_defaults(command=_run)

    up = commands.add_parser("up", help="like run, in the background; returns once all are healthy")
    _timeout(up, 120)
    up.set_defaults(command=_up)

    commands.add_parser("down", help="stop what `up` started").set_defaults(command=_down)
    commands.add_parser("status", help="each service's health").set_defaults(command=_status)

    report = commands.add_parser("outbox", help="pending, failed and delivered events")
    report.add_argument(
        "--limit", type=int, default=5, help="failed or retrying rows to list per table"
    )
    report.set_defaults(command=_outbox)

    token = commands.add_parser(
        "token",
        help="print an edge token for a customer or a member of staff",
        description="Print a bearer token signed with the development edge key; "
        'send it as `authorization: Bearer <token>`, e.g. grpcurl -H "authorization: '
        'Bearer $(shopmesh token --customer-id 1)".',
    )
    who = token.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer-id", type=int, metavar="N", help="a customer's token")
    who.add_argument("--role", choices=tokens.STAFF_ROLES, help="a member of staff's token")
    token.add_argument(
        "--ttl",
        type=int,
        default=tokens.DEFAULT_TTL,
        metavar="SECONDS",
        help=f"how long the token is valid (default {tokens.DEFAULT_TTL})",
    )
    token.set_defaults(command=_token)
    return root


def _timeout(command: argparse.ArgumentParser, seconds: float) -> None:
    command.add_argument(
        "--timeout",
        type=float,
        default=seconds,
        metavar="SECONDS",
        help=f"how long the services may take to become healthy (default {seconds:g})",
    )


def _db_upgrade(args: argparse.Namespace) -> int:
    with prepare.connected() as engine:
        prepare.migrate(engine)
    return 0


def _db_seed(args: argparse.Namespace) -> int:
    with prepare.connected() as engine:
        prepare.load_demo_data(engine)
    return 0


def _run(args: argparse.Namespace) -> int:
    prepare.ensure_secrets()
    return supervisor.run(within=args.timeout)


def _up(args: argparse.Namespace) -> int:
    return background.up(within=args.timeout)


def _down(args: argparse.Namespace) -> int:
    return background.down()


def _status(args: argparse.Namespace) -> int:
    return background.status()


def _outbox(args: argparse.Namespace) -> int:
    with prepare.connected() as engine:
        outbox.report(engine, args.limit)
    return 0


def _token(args: argparse.Namespace) -> int:
    if args.customer_id is not None and args.customer_id <= 0:
        raise console.Failure(f"--customer-id must be positive, not {args.customer_id}")
    if args.ttl <= 0:
        raise console.Failure(f"--ttl must be positive, not {args.ttl}")
    # stdout is the token alone, for `$(shopmesh token ...)`.
    found = prepare.ensure_secrets(quiet=True)
    issuers = token_issuers(os.environ)
    who = {"customer_id": args.customer_id, "role": args.role}
    print(tokens.edge_token(found.edge_signing_key(), issuers, **who, ttl=args.ttl))
    return 0
