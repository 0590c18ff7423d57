"""The ``hil`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from collections.abc import Sequence

from server_under_test import KNOWN_DEFECTS, Database, GatewayError, Settings

__all__ = ["main"]

DEFAULT_DB = Settings.database_url


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=os.environ.get("HIL_DB", DEFAULT_DB),
        metavar="URL",
        help=(
            "database: a SQLite file path or a postgresql:// URL "
            f"(default: $HIL_DB or {DEFAULT_DB})"
        ),
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``hil`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="hil",
        description=(
            "Hardware-in-the-loop simulator and test harness for Android-phone SMS gateways."
        ),
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = sub.add_parser(
        "serve",
        help="run the gateway server (device API + admin API) over HTTP",
        description=(
            "Run the gateway server under test with uvicorn. Phones call "
            "POST /sms-gateway/... with X-API-Key; seeding and inspection go through "
            "/admin/... with 'Authorization: Bearer <admin token>'. The OpenAPI document "
            "is at /docs. The schema is migrated on start."
        ),
    )
    _add_db(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8069, help="port (default 8069, as Odoo)")
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument(
        "--admin-token",
        default=os.environ.get("HIL_ADMIN_TOKEN"),
        help="admin API token (default: $HIL_ADMIN_TOKEN, else a random one printed at start)",
    )
    serve.add_argument(
        "--manual-clock",
        action="store_true",
        help="run on a manual clock set through PUT /admin/clock (virtual time)",
    )
    serve.add_argument(
        "--defect",
        action="append",
        default=[],
        choices=sorted(KNOWN_DEFECTS),
        metavar="B#",
        help="switch on a known defect of the reference server (repeatable): "
        + "; ".join(f"{k} {v}" for k, v in KNOWN_DEFECTS.items()),
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_sub.add_parser("upgrade", help="migrate the schema to the newest version")
    _add_db(upgrade)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers < 1:
        print("hil serve: --workers must be at least 1.", file=sys.stderr)
        return 2
    token = args.admin_token or secrets.token_urlsafe(24)
    if not args.admin_token:
        print(f"Admin token (generated): {token}", flush=True)
    # Migrate once here, so that several workers never race to create the schema.
    database = Database(args.db)
    database.migrate()
    database.dispose()
    os.environ.update(
        HIL_DB=args.db,
        HIL_ADMIN_TOKEN=token,
        HIL_MIGRATE="0",
        HIL_MANUAL_CLOCK="1" if args.manual_clock else "0",
        HIL_DEFECTS=",".join(args.defect),
    )
    print(f"Gateway server on http://{args.host}:{args.port} (database {args.db})", flush=True)
    uvicorn.run(
        "server_under_test.asgi:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
    )
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    database = Database(args.db)
    database.migrate()
    database.dispose()
    print(f"Schema of {args.db} is at the newest version.")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hil``; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        if args.command == "serve":
            return _serve(args)
        return _db_upgrade(args)
    except GatewayError as exc:
        print(f"hil {args.command}: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
