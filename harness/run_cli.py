"""``hil run`` and ``hil scenarios``: run a scenario against a target, list the catalogue.

A scenario that says ``[scenario] served`` means something only in real time against
``hil serve`` on PostgreSQL (it needs polls the server handles at the same time). ``hil run``
takes the scenario's workers and time scale for ``--serve`` unless the options say otherwise,
and refuses, naming the options to add, to run it in virtual time or on SQLite: it will not
make a PostgreSQL database on a server nobody named (``hil selftest --pg`` does).

``hil run SCENARIO --twin SERIAL`` is a differential run (``harness.twin``): one phone of the
scenario over ADB beside a virtual twin of it, in real time; the run is judged as any other
and ``twin.md`` in its folder puts the two side by side.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from scenarios import DOUBLE_SERIAL, Scenario, ScenarioError, catalogue, load
from server_under_test import KNOWN_DEFECTS

from .folder import DATABASE_FILE, TWIN_FILE
from .phone_door import DEFAULT_PAIR_TIMEOUT, DoorOptions, PairingInterrupted
from .runner import (
    Progress,
    RunInputError,
    RunResult,
    TargetError,
    masked_url,
    prepare_out,
    run_scenario,
)
from .targets import DEFAULT_SERVED_SCALE, TargetOptions
from .twin import TWIN_SUFFIX, Twin, twin_scenario

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CODES_HELP",
    "EXIT_FAILED",
    "EXIT_HARNESS",
    "EXIT_PASSED",
    "MAX_SEED",
    "add_parsers",
    "database_option",
    "run_command",
    "scenarios_command",
    "served_options",
    "time_scale_option",
]

EXIT_PASSED = 0
EXIT_FAILED = 1  # an oracle failed or a demanded path was not hit
EXIT_BAD_INPUT = 2  # the scenario file or an option
EXIT_HARNESS = 3  # the harness or the target (database, server) failed
SIGNAL_EXIT = 128  # + the signal's number: 130 for SIGINT, 143 for SIGTERM
MAX_SEED = 2**64 - 1

EXIT_CODES_HELP = (
    "exit codes: 0 passed; 1 an oracle failed or a demanded path was not hit; 2 bad input "
    "(the scenario file, an option); 3 the harness or the target failed (database "
    "unreachable, a crash); 130 interrupted by Ctrl-C (SIGINT), 143 stopped by SIGTERM: the "
    "history so far and a verdicts.json saying when are written. No traceback unless "
    "--debug."
)


def seed_option(value: str) -> int:
    """``--seed``: an integer from 0 to 2**64 - 1."""
    try:
        seed: int | None = int(value)
    except ValueError:
        seed = None
    if seed is None or not 0 <= seed <= MAX_SEED:
        raise argparse.ArgumentTypeError(
            f"must be an integer from 0 to 2**64 - 1 ({MAX_SEED}), not {value!r}"
        )
    return seed


MAX_TIME_SCALE = 3600.0


def time_scale_option(value: str) -> float:
    """``--time-scale``: clock seconds per wall second, above 0 and at most 3600."""
    try:
        scale: float | None = float(value)
    except ValueError:
        scale = None
    if scale is None or not 0 < scale <= MAX_TIME_SCALE:
        raise argparse.ArgumentTypeError(
            f"must be a number above 0 and at most {MAX_TIME_SCALE:g}, not {value!r}"
        )
    return scale


def odoo_option(value: str) -> tuple[str, str, str, str]:
    """``--odoo``: URL,DB,USER,PASSWORD (the password may hold commas)."""
    parts = value.split(",", 3)
    if len(parts) != 4 or not all(parts) or not parts[0].startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(
            "must be URL,DB,USER,PASSWORD with an http(s) URL, e.g. "
            "http://odoo:8069,prod,admin,secret"
        )
    return parts[0], parts[1], parts[2], parts[3]


def target_options(args: argparse.Namespace) -> TargetOptions:
    """The target the options ask for; bad combinations raise ``RunInputError``."""
    remote_only = {"--fleet": args.fleet, "--admin-token": args.admin_token, "--odoo": args.odoo}
    given = [name for name, value in remote_only.items() if value]
    if given and not args.target:
        raise RunInputError(f"{', '.join(given)} only go with --target URL.")
    if args.workers not in (None, 1) and not args.serve:
        raise RunInputError("--workers only goes with --serve.")
    if args.workers is not None and args.workers < 1:
        raise RunInputError("--workers must be at least 1.")
    if args.time_scale is not None and not (args.serve or args.target):
        raise RunInputError("--time-scale only goes with --serve or --target.")
    if args.target:
        if args.db:
            raise RunInputError("--db does not go with --target: the target owns its database.")
        return TargetOptions(
            kind="remote",
            url=args.target,
            fleet=args.fleet,
            admin_token=args.admin_token,
            odoo=args.odoo,
            time_scale=args.time_scale,
        )
    if args.serve:
        return TargetOptions(
            kind="served", db=args.db, workers=args.workers or 1, time_scale=args.time_scale
        )
    return TargetOptions(db=args.db)


def served_options(args: argparse.Namespace, scenario: Scenario) -> argparse.Namespace:
    """The options with what a ``[scenario] served`` scenario needs filled in: its workers
    and time scale with ``--serve`` when not given. Without ``--serve`` or ``--target``, or on
    a database that is not PostgreSQL, ``RunInputError`` names the options to add."""
    served = scenario.served
    if served is None or args.target:
        return args
    needs = (
        f"--serve --db postgresql://USER@HOST:PORT/EMPTY_DB --workers {served.workers} "
        f"--time-scale {served.time_scale:g}"
    )
    why = (
        f"{scenario.name} needs polls the server handles at the same time ([scenario] served: "
        f"{served.workers} uvicorn workers on PostgreSQL, at {served.time_scale:g}x), which "
    )
    if not args.serve:
        raise RunInputError(
            f"{why}a run in virtual time never makes (it serves one request after another). "
            f"Add {needs} (an empty database: createdb -h HOST -U USER EMPTY_DB), or run "
            f"`hil selftest --scenario {scenario.name}`, which makes and drops one itself."
        )
    if not (args.db or "").startswith(("postgresql://", "postgres://", "postgresql+")):
        raise RunInputError(
            f"{why}SQLite never makes: it runs one write after another. Add --db "
            "postgresql://USER@HOST:PORT/EMPTY_DB (an empty database: createdb -h HOST -U "
            "USER EMPTY_DB)."
        )
    return argparse.Namespace(
        **{
            **vars(args),
            "workers": served.workers if args.workers is None else args.workers,
            "time_scale": served.time_scale if args.time_scale is None else args.time_scale,
        }
    )


def database_option(value: str) -> str:
    """``--db``: a SQLite path or a URL SQLAlchemy can parse (refused in one line if not)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from server_under_test.storage.database import normalise_url

    try:
        make_url(normalise_url(value))
    except (ArgumentError, ValueError) as exc:
        raise argparse.ArgumentTypeError(
            f"cannot parse the database URL {masked_url(value)!r} ({exc}); give a SQLite path "
            "or a postgresql://user@host:port/dbname URL"
        ) from exc
    return value


def add_parsers(sub: Any) -> None:
    """Add ``run`` and ``scenarios`` to the ``hil`` subcommands."""
    run = sub.add_parser(
        "run",
        help="run a scenario: virtual phones against the server, judged by the oracles",
        description=(
            "Run a scenario: virtual phones running the app model, faults as the scenario "
            "says, judged by the oracles. By default in virtual time against the gateway "
            "server in this process (a fresh SQLite file in the run folder unless --db is "
            "given: deterministic, hours in seconds); with --serve against `hil serve` started "
            "as a process, with --target against a server you run, both on the wall clock. "
            "Writes history.jsonl.gz, server_state.json.gz, verdicts.json, junit.xml and the "
            "report "
            "(report.html, one self-contained page; summary.md and its plot-*.png) to the run "
            "folder and prints the verdicts; an oracle needing state the target does not "
            "expose says NOT JUDGED. " + EXIT_CODES_HELP
        ),
    )
    run.add_argument(
        "scenario",
        metavar="SCENARIO",
        help="a catalogue name (see `hil scenarios`) or the path of a scenario TOML file",
    )
    run.add_argument(
        "--seed",
        type=seed_option,
        help="the random seed, 0 to 2**64 - 1 (default: the scenario's)",
    )
    run.add_argument(
        "--db",
        type=database_option,
        metavar="URL",
        help="an EMPTY database to run on: a SQLite path or a postgresql:// URL "
        "(default: a fresh SQLite file in the run folder, removed after the run unless "
        "--keep-db)",
    )
    run.add_argument(
        "--keep-db",
        action="store_true",
        help=f"keep the run's database ({DATABASE_FILE} in the run folder) after the run; by "
        "default it is removed once the run is judged, as the run folder has all the "
        "reports need. A database named with --db is never removed",
    )
    run.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="the run folder (default: runs/<scenario>-seed<N>); an earlier run's files in "
        "it are removed first, a folder holding other files is refused",
    )
    where = run.add_argument_group(
        "target (default: this project's server in this process, in virtual time)"
    )
    how = where.add_mutually_exclusive_group()
    how.add_argument(
        "--serve",
        action="store_true",
        help="start `hil serve` as a process (on --db, with --workers) and run the phones "
        "against it on the wall clock, its clock and scheduler --time-scale times faster",
    )
    how.add_argument(
        "--target",
        metavar="URL",
        help="run the phones on the wall clock against a gateway server you run, at URL "
        "(its device API under /sms-gateway/); needs --admin-token or --odoo, and --fleet for "
        "phones it already knows",
    )
    where.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="with --serve: uvicorn workers (default 1, or the scenario's [scenario] served)",
    )
    where.add_argument(
        "--time-scale",
        type=time_scale_option,
        metavar="K",
        help=f"clock seconds per wall second: with --serve the server's (default "
        f"{DEFAULT_SERVED_SCALE:g}, or the scenario's [scenario] served); with --target the "
        "pace its clock runs at, when it does not say so itself in GET /admin/clock "
        "(default: what it says there, else 1)",
    )
    where.add_argument(
        "--fleet",
        type=Path,
        metavar="FILE",
        help="with --target: a TOML fleet file, one [[phones]] table per phone with name, "
        "api_key and sims (see the README); default: the phones are created through the "
        "target's admin API or Odoo",
    )
    where.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="with --target: the token of its admin API (this project's hil serve, or a "
        "server implementing that API)",
    )
    where.add_argument(
        "--odoo",
        type=odoo_option,
        metavar="URL,DB,USER,PASSWORD",
        help="with --target: enqueue and read SMS through Odoo's external JSON-RPC API "
        "(an Odoo with the sms_gateway module)",
    )
    phones = run.add_argument_group(
        "real phones (fleet.devices by serial; see README, QA with real phones)"
    )
    phones.add_argument(
        "--phone-url",
        metavar="URL",
        help="the https URL the real phones reach this run at: it goes into each phone's "
        "pairing QR code, shown when the run starts (the app calls https only)",
    )
    phones.add_argument(
        "--phone-listen",
        type=listen_option,
        metavar="HOST:PORT",
        help="where the run listens for the phones (default --phone-url's port, on every "
        "interface with --phone-cert, else on 127.0.0.1 for your TLS proxy on this machine)",
    )
    phones.add_argument(
        "--phone-cert",
        type=Path,
        metavar="PEM",
        help="a certificate chain the phones trust, for --phone-url's host: the run speaks "
        "TLS itself (without it, put your own TLS proxy in front of --phone-listen)",
    )
    phones.add_argument("--phone-key", type=Path, metavar="PEM", help="--phone-cert's key")
    phones.add_argument(
        "--sms-to",
        type=lambda value: tuple(n.strip() for n in value.split(",") if n.strip()),
        default=(),
        metavar="NUMBERS",
        help="required with real phones: the numbers of SIMs you own (+CC..., comma-"
        "separated); every SMS a real phone is handed is sent to one of them instead of the "
        "scenario's made-up recipients",
    )
    phones.add_argument(
        "--pair-timeout",
        type=float,
        default=DEFAULT_PAIR_TIMEOUT,
        metavar="S",
        help="seconds to wait for each phone's first heartbeat once its QR code is shown "
        f"(default {DEFAULT_PAIR_TIMEOUT:g})",
    )
    run.add_argument(
        "--defect",
        action="append",
        default=[],
        choices=sorted(KNOWN_DEFECTS),
        metavar="D",
        help="switch on a defect of the server (repeatable; `hil defects` lists them) on top "
        "of the scenario's own: with the in-process server or --serve",
    )
    twin = run.add_argument_group(
        "differential run: a phone over ADB beside its virtual twin (real time: with --serve "
        "or --target)"
    )
    twin.add_argument(
        "--twin",
        metavar="SERIAL",
        help="run one phone of the scenario (see --twin-phone) over ADB as the phone with "
        f"this serial (or {DOUBLE_SERIAL!r}: the phone's virtual twin served as an ADB test "
        f"double), beside PHONE{TWIN_SUFFIX}, a virtual phone of the same spec (app, "
        "Android, Doze, limits, faults, as many SIMs, numbered apart); both draw from the "
        "one workload against the one target. The run is judged as any other; "
        f"{TWIN_FILE} in the run folder puts the two side by side: send cadence, batch "
        "sizes, status-sync delays, Doze. The scenario may have no [[fleet.devices]] of its "
        "own; the default run folder is runs/<scenario>-twin-seed<N>",
    )
    twin.add_argument(
        "--twin-phone",
        metavar="NAME",
        help="with --twin: the scenario's phone to twin (default: its first, phone-01)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress line")
    # SUPPRESS: without it, the subcommand's default would hide `hil --debug run`.
    run.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the traceback of a harness error",
    )
    sub.add_parser("scenarios", help="list the scenario catalogue")


class _ProgressLine:
    """One line, rewritten in place on a terminal, every 10 % otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_tenth = -1
        self.ended = False

    @staticmethod
    def _clock(seconds: float) -> str:
        hours, rest = divmod(int(seconds), 3600)
        return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"

    def __call__(self, p: Progress) -> None:
        share = p.virtual / p.horizon if p.horizon else 1.0
        bar = "#" * int(share * 30)
        text = (
            f"[{bar:<30}] virtual {self._clock(p.virtual)} / {self._clock(p.horizon)}  "
            f"wall {p.wall:6.1f} s  transmitted {p.transmitted}/{p.enqueued}"
        )
        if self.tty:
            print("\r" + text, end="", file=sys.stderr, flush=True)
        elif int(share * 10) > self.last_tenth:
            self.last_tenth = int(share * 10)
            print(text, file=sys.stderr, flush=True)

    def done(self) -> None:
        """End the line on a terminal (once)."""
        if self.tty and not self.ended:
            print(file=sys.stderr)
        self.ended = True


def _table(result: RunResult) -> str:
    rows = [("oracle", "verdict", "judged", "summary")]
    for v in result.verdicts:
        word = "pass" if v.passed else "FAIL"
        if not v.judged:
            word = "NOT JUDGED"
        elif v.name in result.expected_failures:
            word = "FAIL (expected)" if not v.passed else "pass (expected FAIL)"
        rows.append((v.name, word, str(v.checked), v.summary))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows
    )


class _Interrupt:
    """Turns SIGINT and SIGTERM into a request to stop after the current step.

    A second signal stops at once (Python's default ``KeyboardInterrupt``).
    """

    def __init__(self) -> None:
        self.signal: str | None = None

    def __call__(self) -> str | None:
        return self.signal

    def _handle(self, number: int, frame: FrameType | None) -> None:
        del frame
        self.signal = signal.Signals(number).name
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.default_int_handler)

    @contextmanager
    def installed(self) -> Iterator[_Interrupt]:
        """Handle both signals inside the block, restore the old handlers after it."""
        old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in old:
            signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)


def listen_option(value: str) -> tuple[str, int]:
    """``--phone-listen``: HOST:PORT, the port from 1 to 65535."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(
            f"give HOST:PORT with a port from 1 to 65535, not {value!r}"
        )
    return host.strip("[]"), int(port)


def door_options(args: argparse.Namespace) -> DoorOptions | None:
    """Where real phones reach the run, or ``None`` without ``--phone-url``."""
    given = [args.phone_listen, args.phone_cert, args.phone_key, args.sms_to or None]
    if args.phone_url is None:
        if any(value is not None for value in given):
            raise RunInputError(
                "--sms-to, --phone-listen, --phone-cert and --phone-key need --phone-url."
            )
        return None
    options = DoorOptions(
        args.phone_url,
        sms_to=args.sms_to,
        listen=args.phone_listen,
        cert=args.phone_cert,
        key=args.phone_key,
        pair_timeout=args.pair_timeout,
    )
    options.tls()  # a certificate that does not load is said before anything starts
    return options


def run_command(args: argparse.Namespace) -> int:
    """``hil run``; harness errors it does not know propagate (``hil`` maps them to 3)."""
    try:
        scenario = load(args.scenario)
    except ScenarioError as exc:
        print(f"hil run: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    extra = [d for d in dict.fromkeys(args.defect) if d not in scenario.defects]
    if extra:
        scenario = dataclasses.replace(scenario, defects=(*scenario.defects, *extra))
    try:
        twin = _twin(args, scenario)
        args = served_options(args, scenario)
        target = target_options(args)
        door = door_options(args)
    except RunInputError as exc:
        print(f"hil run: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if twin is not None:
        scenario = twin.scenario
    seed = scenario.seed if args.seed is None else args.seed
    out = args.out or Path("runs") / f"{scenario.name}-seed{seed}"
    try:
        removed = prepare_out(out)
    except RunInputError as exc:
        print(f"hil run: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if removed:
        print(
            f"hil run: removed the earlier run's {', '.join(removed)} from {out}", file=sys.stderr
        )
    line = None if args.quiet else _ProgressLine()
    print(f"hil run {scenario.name} (seed {seed}) -> {out}", file=sys.stderr)
    try:
        with _Interrupt().installed() as interrupt:
            result = run_scenario(
                scenario,
                seed=seed,
                out=out,
                target=target,
                progress=line,
                interrupt=interrupt,
                keep_db=args.keep_db,
                door=door,
                twin=(twin.device, twin.twin) if twin is not None else None,
            )
    except PairingInterrupted as exc:
        if line:
            line.done()
        print(f"hil run: {exc}; nothing ran.", file=sys.stderr)
        return SIGNAL_EXIT + signal.Signals[exc.reason].value
    except (RunInputError, TargetError) as exc:
        if line:
            line.done()
        print(f"hil run: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT if isinstance(exc, RunInputError) else EXIT_HARNESS
    finally:
        if line:
            line.done()
    if result.interrupted is not None:
        v = result.virtual_duration
        print(
            f"hil run: interrupted by {result.interrupted} at virtual {v / 3600:.2f} h "
            f"({result.wall_seconds:.1f} s wall); the history so far and verdicts.json are "
            f"in {out}, nothing was judged.",
            file=sys.stderr,
        )
        return SIGNAL_EXIT + signal.Signals[result.interrupted].value
    print(_table(result))
    v, w = result.virtual_duration, result.wall_seconds
    print(
        f"\n{result.scenario.name}: virtual {v / 3600:.2f} h in {w:.1f} s wall "
        f"({v / w if w else 0:.0f}x), {result.requests} requests, history "
        f"{result.digest[:16]} ({result.events} events) -> {out}"
    )
    print(f"report: {out / 'report.html'}")
    if twin is not None:
        print(f"twin: {out / TWIN_FILE} ({twin.device} over ADB beside {twin.twin})")
    for name in result.missing_hits:
        print(f"NOT HIT: the scenario demands '{name}' but it never happened", file=sys.stderr)
    if result.passed:
        print("PASSED")
        return EXIT_PASSED
    defects = [word for d in dict.fromkeys(args.defect) for word in ("--defect", d)]
    replay = shlex.join(
        [
            "hil",
            "run",
            args.scenario,
            "--seed",
            str(seed),
            *defects,
            *_replay_twin(args),
            *_replay_target(args),
        ]
    )
    print(f"FAILED (seed {seed}). Replay: {replay}")
    return EXIT_FAILED


def _twin(args: argparse.Namespace, scenario: Scenario) -> Twin | None:
    """The differential run ``--twin`` asks for (None without it); ``RunInputError`` when
    the options or the scenario do not allow one."""
    if args.twin is None:
        if args.twin_phone is not None:
            raise RunInputError("--twin-phone only goes with --twin SERIAL.")
        return None
    if not (args.serve or args.target):
        raise RunInputError(
            "--twin runs a phone over ADB, which lives in real time: add --serve (or --target URL)."
        )
    return twin_scenario(scenario, args.twin, args.twin_phone)


def _replay_twin(args: argparse.Namespace) -> list[str]:
    """The differential run's options, for the replay line."""
    if args.twin is None:
        return []
    return ["--twin", args.twin, *(["--twin-phone", args.twin_phone] if args.twin_phone else [])]


def _replay_target(args: argparse.Namespace) -> list[str]:
    """The target options of this run, secrets masked, for the replay line."""
    words: list[str] = []
    if args.serve:
        words += ["--serve", "--workers", str(args.workers or 1)]
        if args.db:
            words += ["--db", masked_url(args.db)]
    elif args.db:
        words += ["--db", masked_url(args.db)]
    if args.target:
        words += ["--target", args.target]
        if args.admin_token:
            words += ["--admin-token", "TOKEN"]
        if args.odoo:
            words += ["--odoo", ",".join([*args.odoo[:3], "PASSWORD"])]
        if args.fleet:
            words += ["--fleet", str(args.fleet)]
    if args.time_scale is not None:
        words += ["--time-scale", f"{args.time_scale:g}"]
    return words


def scenarios_command(args: argparse.Namespace) -> int:
    """``hil scenarios``."""
    del args
    listed = sorted(catalogue().items())
    width = max((len(name) for name, _ in listed), default=0)
    for name, path in listed:
        try:
            description = load(path).description
        except ScenarioError as exc:
            description = f"(invalid: {exc})"
        print(f"{name:<{width}}  {description.splitlines()[0] if description else ''}")
    return 0
