"""The ``hil`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
import time
import traceback
from collections.abc import Sequence
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from server_under_test import (
    KNOWN_DEFECTS,
    Database,
    GatewayError,
    Settings,
    make_waker,
    pairing,
)
from server_under_test.services import phones

from .devices_cli import add_device_check, devices_command, pair_check
from .devices_cli import add_parsers as add_devices_parsers
from .explore import add_parsers as add_explore_parsers
from .explore import explore_command
from .folder import masked_url
from .plan_cli import add_parsers as add_plan_parsers
from .plan_cli import plan_command
from .report_cli import add_parsers as add_report_parsers
from .report_cli import report_command
from .run_cli import (
    EXIT_BAD_INPUT,
    EXIT_CODES_HELP,
    EXIT_HARNESS,
    database_option,
    run_command,
    scenarios_command,
    time_scale_option,
)
from .run_cli import add_parsers as add_run_parsers
from .selftest import add_parsers as add_selftest_parsers
from .selftest import defects_command, selftest_command

__all__ = ["main"]

DEFAULT_DB = Settings.database_url
DEFAULT_PAIR_URL = "http://127.0.0.1:8069"
# uvicorn kills a worker that does not answer its health ping within this many seconds,
# starting up included (its default, 5 s, is too short for the imports on a busy machine).
WORKER_HEALTHCHECK_SECONDS = 120
# Commands that run scenarios and print verdicts.
RUNS_SCENARIOS = ("run", "selftest", "explore", "plan")


def _version() -> str:
    try:
        return version("sms-gateway-hil")
    except PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


def port_option(value: str) -> int:
    """``--port``: a TCP port from 1 to 65535."""
    try:
        port: int | None = int(value)
    except ValueError:
        port = None
    if port is None or not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port from 1 to 65535, not {value!r}")
    return port


def clock_start_option(value: str) -> datetime:
    """``--clock-start``: an ISO time with its offset."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"must be an ISO time with an offset, e.g. 2026-03-02T08:00:00+01:00, not {value!r}"
        )
    return when


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=os.environ.get("HIL_DB", DEFAULT_DB),
        type=database_option,
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
        epilog="hil run's " + EXIT_CODES_HELP + " Other commands exit 0, or 2 for bad input.",
    )
    parser.add_argument("--version", action="version", version=f"hil {_version()}")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of an unexpected error"
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
    serve.add_argument(
        "--port", type=port_option, default=8069, help="port, 1 to 65535 (default 8069, as Odoo)"
    )
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument(
        "--admin-token",
        default=os.environ.get("HIL_ADMIN_TOKEN"),
        help="admin API token (default: $HIL_ADMIN_TOKEN, else a random one printed at start)",
    )
    serve.add_argument(
        "--fcm-credentials",
        default=os.environ.get("HIL_FCM_CREDENTIALS"),
        metavar="JSON_OR_PATH",
        help="Firebase service-account JSON (inline or a file path): turns on FCM wake-ups "
        "after assignment (default: $HIL_FCM_CREDENTIALS; off when not given)",
    )
    serve.add_argument(
        "--manual-clock",
        action="store_true",
        help="run on a manual clock set through PUT /admin/clock (virtual time)",
    )
    serve.add_argument(
        "--time-scale",
        type=time_scale_option,
        metavar="K",
        help="run the server's clock and its job scheduler K times faster than the wall "
        "clock (0 < K <= 3600), so a 6-hour campaign takes 6/K hours; clients read the pace "
        "from GET /admin/clock (hil run --target does)",
    )
    serve.add_argument(
        "--clock-start",
        type=clock_start_option,
        metavar="ISO_TIME",
        help="with --time-scale: the time the clock shows at start, e.g. "
        "2026-03-02T08:00:00+01:00 (default: now)",
    )
    serve.add_argument(
        "--timezone",
        default=os.environ.get("HIL_TIMEZONE"),
        help="the time zone of daily and monthly resets (default Europe/Prague)",
    )
    serve.add_argument(
        "--stop-keyword",
        action="append",
        default=[],
        metavar="WORD",
        help="a reply that blacklists its sender (repeatable; default STOP)",
    )
    serve.add_argument(
        "--defect",
        action="append",
        default=[],
        choices=sorted(KNOWN_DEFECTS),
        metavar="B#|S#",
        help="switch on a known defect (repeatable): B# of the reference server, S# of "
        "this server before a fix: " + "; ".join(f"{k} {v}" for k, v in KNOWN_DEFECTS.items()),
    )
    serve.add_argument(
        "--job-period",
        action="append",
        default=[],
        metavar="JOB=SECONDS",
        help="run a periodic job more often than its real period (tests, demos); jobs: "
        "heartbeat_check (60 s), stuck_reset (300 s); daily jobs keep their times",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = db_sub.add_parser("upgrade", help="migrate the schema to the newest version")
    _add_db(upgrade)

    pair = sub.add_parser(
        "pair",
        help="show a phone's QR pairing code for the real Android app",
        description=(
            "Print the QR code the real app scans to pair with the server (in Unicode half "
            "blocks, for a dark-background terminal) and its JSON content, read straight "
            "from the database. The app rewrites http:// to https://, so an http URL pairs "
            "only behind a TLS-terminating proxy. An archived phone is refused. With --device "
            "SERIAL it also asks that phone over ADB whether the URL the app will call answers "
            "(exit 0 reachable, 1 not reachable, 2 bad input, 3 no adb or phone)."
        ),
    )
    pair.add_argument("phone", metavar="PHONE", help="the phone's id, exact name or SIM number")
    _add_db(pair)
    pair.add_argument(
        "--url",
        default=DEFAULT_PAIR_URL,
        help=(
            "the server base URL the app will call; the phone must reach it, so give the "
            f"LAN address or the TLS proxy's URL (default {DEFAULT_PAIR_URL})"
        ),
    )
    pair.add_argument("--png", metavar="FILE", type=Path, help="also write the code as a PNG")
    add_device_check(pair)
    add_run_parsers(sub)
    add_report_parsers(sub)
    add_selftest_parsers(sub)
    add_explore_parsers(sub)
    add_devices_parsers(sub)
    add_plan_parsers(sub)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.workers < 1:
        print("hil serve: --workers must be at least 1.", file=sys.stderr)
        return 2
    for spec in args.job_period:
        name, _, seconds = spec.partition("=")
        try:
            valid = name in ("heartbeat_check", "stuck_reset") and float(seconds) > 0
        except ValueError:
            valid = False
        if not valid:
            print(
                f"hil serve: --job-period {spec!r} is not JOB=SECONDS with JOB "
                "heartbeat_check or stuck_reset and SECONDS > 0.",
                file=sys.stderr,
            )
            return 2
    if args.clock_start is not None and args.time_scale is None:
        print("hil serve: --clock-start needs --time-scale.", file=sys.stderr)
        return 2
    if args.time_scale is not None and args.manual_clock:
        print("hil serve: choose --time-scale or --manual-clock, not both.", file=sys.stderr)
        return 2
    if args.timezone:
        try:
            ZoneInfo(args.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            print(
                f"hil serve: --timezone {args.timezone!r} is not a known time zone.",
                file=sys.stderr,
            )
            return 2
    if args.fcm_credentials:
        # Refuse bad credentials here, in one line, not in every worker's traceback.
        make_waker(enabled=True, credentials=args.fcm_credentials).close()
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
        HIL_JOB_PERIODS=",".join(args.job_period),
        HIL_FCM_CREDENTIALS=args.fcm_credentials or "",
        HIL_TIME_SCALE=str(args.time_scale or ""),
        HIL_CLOCK_START=args.clock_start.isoformat() if args.clock_start else "",
        HIL_CLOCK_EPOCH=repr(time.time()),
        HIL_TIMEZONE=args.timezone or "",
        HIL_STOP_KEYWORDS=",".join(w.strip().upper() for w in args.stop_keyword if w.strip()),
    )
    print(
        f"Gateway server on http://{args.host}:{args.port} (database {masked_url(args.db)})",
        flush=True,
    )
    uvicorn.run(
        "server_under_test.asgi:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )
    return 0


def _db_upgrade(args: argparse.Namespace) -> int:
    database = Database(args.db)
    database.migrate()
    database.dispose()
    print(f"Schema of {masked_url(args.db)} is at the newest version.")
    return 0


def _pair(args: argparse.Namespace) -> int:
    pairing.check_url(args.url)  # a typo in --url is reported before the database is read
    database = Database(args.db)
    try:
        sqlite_file = make_url(database.url).database if database.is_sqlite else None
        # Opening a missing SQLite file would create an empty one: refuse instead.
        if sqlite_file is not None and not Path(sqlite_file).is_file():
            print(
                f"hil pair: there is no database at {sqlite_file}; give the one hil serve "
                "uses with --db.",
                file=sys.stderr,
            )
            return 2
        try:
            with database.begin() as conn:
                phone = phones.find_phone(conn, args.phone, region=Settings.default_region)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            print(
                f"hil pair: cannot read the phones from {masked_url(args.db)}: {reason} "
                "(is it a gateway database? hil db upgrade migrates one).",
                file=sys.stderr,
            )
            return 2
    finally:
        database.dispose()
    text = pairing.phone_pairing_payload(phone, args.url)
    print(pairing.qr_terminal(text))
    print(text)
    if args.png is not None:
        try:
            args.png.write_bytes(pairing.qr_png(text))
        except OSError as exc:
            print(f"hil pair: cannot write {args.png}: {exc.strerror or exc}.", file=sys.stderr)
            return 2
        print(f"PNG written to {args.png}")
    if args.device is not None:
        return pair_check(args.device, pairing.check_url(args.url), args.adb_port)
    if args.url.lower().startswith("http://"):
        print(
            "Note: the app rewrites http:// to https://; it pairs only with a TLS-terminating "
            "proxy answering on that host.",
            file=sys.stderr,
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hil``; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if args.command in RUNS_SCENARIOS:  # the verdicts speak; the server's log would drown them
        for noisy in ("server_under_test", "httpx"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "pair":
            return _pair(args)
        if args.command == "run":
            return run_command(args)
        if args.command == "scenarios":
            return scenarios_command(args)
        if args.command == "report":
            return report_command(args)
        if args.command == "selftest":
            return selftest_command(args)
        if args.command == "defects":
            return defects_command(args)
        if args.command == "explore":
            return explore_command(args)
        if args.command == "devices":
            return devices_command(args)
        if args.command == "plan":
            return plan_command(args)
        return _db_upgrade(args)
    except GatewayError as exc:
        print(f"hil {args.command}: {exc.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:  # a second Ctrl-C, or one outside a run's steps
        print(f"hil {args.command}: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader stopped reading (`hil scenarios | head`): not a failure of a listing.
        # Later writes go nowhere, so Python's exit flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        if args.command in ("scenarios", "defects"):
            return 0
        print(f"hil {args.command}: its output was closed before it finished", file=sys.stderr)
        return EXIT_HARNESS
    except Exception as exc:
        # A harness error must never look like a failed oracle (1) nor drown the reason.
        if getattr(args, "debug", False):
            traceback.print_exc()
        text = str(getattr(exc, "orig", None) or exc).strip()
        reason = text.splitlines()[0] if text else ""
        hint = "--debug" if args.command == "run" else f"hil --debug {args.command} ..."
        print(
            f"hil {args.command}: the harness failed: {type(exc).__name__}: {reason} "
            f"(run again with {hint} for the traceback)",
            file=sys.stderr,
        )
        return EXIT_HARNESS


if __name__ == "__main__":
    sys.exit(main())
