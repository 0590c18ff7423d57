"""``hil selftest``: prove the oracles catch what they claim, and stay green otherwise.

Every catalogue scenario may state, in ``[expect] catches``, the server's defect switches it
exposes and the oracles of which one must then fail. The self-test runs each such scenario
once as it is (a *clean* run, which must pass) and once per claimed switch with that switch
on (a *probe*, where a named oracle must fail). The result is the detection matrix: defect by
scenario → caught or missed, the oracles that failed, and the virtual time of the first
violation. A defect switch no scenario claims is *uncovered*. The self-test passes when
every probe catches its defect, every clean run passes and no switch is uncovered.

Runs are independent, so they go through a ``concurrent.futures`` executor (local processes
by default). Each run keeps its folder under the self-test's output folder, so a missed
probe can be replayed with the ``hil run`` line printed beside it (its report is not drawn,
which would take a second per run: ``hil report`` draws it from the folder).

A scenario that says ``[scenario] served`` (it needs requests the server handles at the same
time, which virtual time never makes) runs in real time against ``hil serve`` started as a
process with the scenario's workers and time scale, each run on a PostgreSQL database of its
own: created with a unique name on the server ``pg`` names, dropped afterwards. When that
server cannot be reached the run is broken, with the reason; it is never skipped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy import text as sql
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from scenarios import Scenario, catalogue, load
from scenarios.model import Served
from server_under_test import KNOWN_DEFECTS
from server_under_test.storage.database import normalise_url
from simulator.config import APP_DEFECTS, APP_PROFILES

from .errors import RunError, TargetError
from .folder import masked_url, one_line
from .pool import run_all
from .run_cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_HARNESS, EXIT_PASSED
from .runner import run_scenario
from .targets import TargetOptions

__all__ = [
    "DEFAULT_PG",
    "Matrix",
    "Outcome",
    "Probe",
    "add_parsers",
    "claims",
    "defects_command",
    "fresh_database",
    "plan",
    "run_probe",
    "selftest",
    "selftest_command",
]

logger = logging.getLogger(__name__)

CAUGHT, MISSED, CLEAN, FALSE_ALARM, BROKEN = "caught", "missed", "clean", "false alarm", "error"
# The PostgreSQL server on which a served scenario's runs get a database each.
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class Probe:
    """One run of the self-test: a catalogue scenario, with one defect switched on or not."""

    scenario: str
    defect: str | None = None  # None: the clean run
    oracles: tuple[str, ...] = ()  # of which one must fail (a probe)
    seed: int | None = None  # None: the scenario's

    @property
    def folder(self) -> str:
        seed = "" if self.seed is None else f"--seed{self.seed}"
        return f"{self.defect or 'clean'}--{Path(self.scenario).stem}{seed}"

    def replay(self, seed: int) -> str:
        """The ``hil run`` line that runs this probe again, for people."""
        defect = f" --defect {self.defect}" if self.defect else ""
        return f"hil run {self.scenario} --seed {seed}{defect}"


@dataclass(frozen=True)
class Outcome:
    """What became of one probe."""

    probe: Probe
    status: str  # CAUGHT, MISSED, CLEAN, FALSE_ALARM or BROKEN
    failed: tuple[str, ...]  # the oracles that failed
    detected_at: float | None  # virtual seconds of the first violation of a named oracle
    virtual_seconds: float
    wall_seconds: float
    seed: int
    detail: str = ""  # the first violation, or what broke
    target: str = ""  # the hil run options of a served run (" --serve --db ..."), else ""

    def replay(self) -> str:
        """The ``hil run`` line that runs this probe again, target options included."""
        return self.probe.replay(self.seed) + self.target

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "probe": dataclasses.asdict(self.probe)}


@dataclass
class Matrix:
    """The self-test's result: every outcome, and the switches nothing claims."""

    outcomes: list[Outcome] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        good = {CAUGHT, CLEAN}
        return not self.uncovered and all(o.status in good for o in self.outcomes)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in (CAUGHT, MISSED, CLEAN, FALSE_ALARM, BROKEN)}
        for outcome in self.outcomes:
            out[outcome.status] += 1
        out["uncovered"] = len(self.uncovered)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "counts": self.counts(),
            "uncovered": self.uncovered,
            "wall_seconds": round(self.wall_seconds, 1),
            "outcomes": [o.to_dict() for o in self.outcomes],
        }

    def markdown(self) -> str:
        """The matrix for people: one row per defect switch, one column per scenario; a
        cell sums up that pair's runs (one per seed)."""
        scenarios = sorted({o.probe.scenario for o in self.outcomes})
        groups: dict[tuple[str, str], list[Outcome]] = {}
        for o in self.outcomes:
            groups.setdefault((o.probe.defect or "clean", o.probe.scenario), []).append(o)
        lines = [
            "| defect | " + " | ".join(scenarios) + " |",
            "|---|" + "---|" * len(scenarios),
        ]
        for defect in [*KNOWN_DEFECTS, "clean"]:
            row = [_cell(groups.get((defect, s), [])) for s in scenarios]
            if defect in self.uncovered:
                row = ["**uncovered**: no scenario claims it", *[""] * (len(scenarios) - 1)]
            elif not any(row):
                continue
            lines.append(f"| {defect} | " + " | ".join(row) + " |")
        return "\n".join(lines) + "\n"


def _cell(runs: Sequence[Outcome]) -> str:
    """One pair's runs: "caught: no_loss at 0:02:00" for one seed; "caught 20/20: no_loss,
    median 0:02:00" for many; anything not as expected in bold, with its count."""
    if not runs:
        return ""
    n = len(runs)
    bad = [o for o in runs if o.status not in (CAUGHT, CLEAN)]
    if bad:
        kinds: dict[str, int] = {}
        for o in bad:
            kinds[o.status] = kinds.get(o.status, 0) + 1
        return ", ".join(f"**{status} {k}/{n}**" for status, k in kinds.items())
    if runs[0].status == CLEAN:
        return "pass" if n == 1 else f"pass {n}/{n}"
    oracles = "+".join(sorted({name for o in runs for name in o.failed}))
    times = sorted(o.detected_at for o in runs if o.detected_at is not None)
    if n == 1:
        return f"caught: {oracles}" + (f" at {_hours(times[0])}" if times else "")
    median = f", median {_hours(times[len(times) // 2])}" if times else ""
    return f"caught {n}/{n}: {oracles}{median}"


def _hours(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def plan(
    scenarios: Iterable[Scenario],
    *,
    defects: Sequence[str] | None = None,
    seed: int | None = None,
    seeds: Sequence[int] | None = None,
    clean: bool = True,
    probes: bool = True,
) -> tuple[list[Probe], list[str]]:
    """The runs for these scenarios (only the ``defects`` named, when given), under ``seed``
    (the scenario's own by default) or each of ``seeds``; and the switches among
    ``defects`` (all known ones by default) that no scenario claims. ``clean`` and
    ``probes`` choose the clean runs and the runs with a switch on."""
    wanted = list(KNOWN_DEFECTS) if defects is None else list(defects)
    unknown = [d for d in wanted if d not in KNOWN_DEFECTS]
    if unknown:
        raise ValueError(
            f"Unknown defect switch(es) {', '.join(unknown)}; `hil defects` lists them all."
        )
    each: Sequence[int | None] = [seed] if seeds is None else list(seeds)
    runs: list[Probe] = []
    claimed: set[str] = set()
    for scenario in scenarios:
        mine = [(d, oracles) for d, oracles in scenario.expect.catches if d in wanted]
        claimed.update(d for d, _ in mine)
        if not mine:
            continue
        for n in each:
            if clean:
                runs.append(Probe(scenario.name, None, (), n))
            if probes:
                runs += [Probe(scenario.name, d, oracles, n) for d, oracles in mine]
    return runs, [d for d in wanted if d not in claimed]


def run_probe(probe: Probe, out: Path, pg: str = DEFAULT_PG) -> Outcome:
    """Run one probe (in whatever process the executor chose) and judge it.

    A served scenario runs against ``hil serve`` on a fresh database of the PostgreSQL
    server ``pg``; anything else in process, in virtual time.
    """
    scenario = load(probe.scenario)
    defects = tuple(scenario.defects) + ((probe.defect,) if probe.defect else ())
    scenario = dataclasses.replace(
        scenario,
        defects=defects,
        expect=dataclasses.replace(scenario.expect, fail=()),
    )
    seed = scenario.seed if probe.seed is None else probe.seed
    served = scenario.served
    target = "" if served is None else _served_replay(served, pg)
    wall = time.perf_counter()
    try:
        if served is None:
            result = run_scenario(scenario, seed=seed, out=out / probe.folder, reports=False)
        else:
            with fresh_database(pg, scenario.name) as db:
                options = TargetOptions(
                    kind="served", db=db, workers=served.workers, time_scale=served.time_scale
                )
                result = run_scenario(
                    scenario, seed=seed, out=out / probe.folder, target=options, reports=False
                )
    except RunError as exc:
        return Outcome(
            probe, BROKEN, (), None, 0.0, time.perf_counter() - wall, seed, str(exc), target
        )
    failed = tuple(v.name for v in result.verdicts if v.judged and not v.passed)
    missing = result.missing_hits
    if probe.defect is None:
        bad = failed or tuple(f"hit:{name}" for name in missing)
        status = FALSE_ALARM if bad else CLEAN
        first = next((v for v in result.verdicts if v.name in failed), None)
        detail = first.violations[0] if first and first.violations else ""
        if missing and not failed:
            detail = f"demanded paths not hit: {', '.join(missing)}"
        return Outcome(
            probe,
            status,
            bad,
            None,
            result.virtual_duration,
            result.wall_seconds,
            seed,
            detail,
            target,
        )
    named = [v for v in result.verdicts if v.name in probe.oracles and v.judged and not v.passed]
    at = [v.first_at if v.first_at is not None else result.virtual_duration for v in named]
    detail = named[0].violations[0] if named and named[0].violations else ""
    return Outcome(
        probe,
        CAUGHT if named else MISSED,
        failed,
        min(at) if at else None,
        result.virtual_duration,
        result.wall_seconds,
        seed,
        detail,
        target,
    )


def _served_replay(served: Served, pg: str) -> str:
    """The ``hil run`` options that replay a served probe (any empty database will do)."""
    try:
        url = make_url(pg).set(database="EMPTY_DB")
        db = masked_url(url.render_as_string(hide_password=False))
    except (ArgumentError, ValueError):
        db = "postgresql://USER@HOST:PORT/EMPTY_DB"
    return f" --serve --db {db} --workers {served.workers} --time-scale {served.time_scale:g}"


@contextlib.contextmanager
def fresh_database(server: str, scenario: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server ``server`` (the URL of any database
    there), with a name no other run uses; its URL is yielded, and it is dropped afterwards.

    ``TargetError`` says why when the server cannot be reached or refuses.
    """
    shown = masked_url(server)
    why = (
        f"{scenario} runs only in real time against hil serve on PostgreSQL ([scenario] "
        "served); start PostgreSQL there or give another server with hil selftest --pg URL"
    )
    try:
        url = make_url(normalise_url(server))
    except (ArgumentError, ValueError) as exc:
        raise TargetError(f"Cannot parse the PostgreSQL URL {shown!r} ({exc}); {why}.") from exc
    if url.get_backend_name() != "postgresql":
        raise TargetError(f"{shown!r} is not a PostgreSQL URL; {why}.")
    name = f"hil_selftest_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        try:
            with admin.connect() as conn:
                conn.execute(sql(f'CREATE DATABASE "{name}"'))
        except SQLAlchemyError as exc:
            raise TargetError(
                f"Cannot create a database on the PostgreSQL server {shown}: {one_line(exc)}; "
                f"{why}."
            ) from exc
        try:
            yield url.set(database=name).render_as_string(hide_password=False)
        finally:
            try:
                with admin.connect() as conn:
                    conn.execute(sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except SQLAlchemyError as exc:
                logger.warning("Could not drop the self-test database %s: %s", name, exc)
    finally:
        admin.dispose()


def selftest(
    probes: Sequence[Probe],
    out: Path,
    *,
    uncovered: Sequence[str] = (),
    workers: int = 2,
    executor: Executor | None = None,
    progress: Callable[[Outcome, int, int], None] | None = None,
    pg: str = DEFAULT_PG,
) -> Matrix:
    """Run every probe through ``executor`` (a pool of ``workers`` local processes by
    default) and collect the matrix; it is written to ``out`` as selftest.json and
    selftest.md. Served scenarios get a database each on the PostgreSQL server ``pg``."""
    out.mkdir(parents=True, exist_ok=True)
    wall = time.perf_counter()

    def crashed(probe: Probe, exc: BaseException) -> Outcome:  # reported, not raised
        seed = probe.seed if probe.seed is not None else -1
        return Outcome(probe, BROKEN, (), None, 0.0, 0.0, seed, f"{type(exc).__name__}: {exc}")

    outcomes = run_all(
        functools.partial(run_probe, out=out, pg=pg),
        probes,
        executor=executor,
        workers=workers,
        crashed=crashed,
        progress=progress,
    )
    matrix = Matrix(outcomes=outcomes, uncovered=list(uncovered))
    matrix.wall_seconds = time.perf_counter() - wall
    (out / "selftest.json").write_text(json.dumps(matrix.to_dict(), indent=2) + "\n")
    (out / "selftest.md").write_text(matrix.markdown())
    return matrix


def claims() -> Mapping[str, list[tuple[str, tuple[str, ...]]]]:
    """Defect switch -> the catalogue scenarios that claim to catch it, with their oracles."""
    found: dict[str, list[tuple[str, tuple[str, ...]]]] = {d: [] for d in KNOWN_DEFECTS}
    for name in catalogue():
        for defect, oracles in load(name).expect.catches:
            found.setdefault(defect, []).append((name, oracles))
    return found


# -- the command line ---------------------------------------------------------------------


def add_parsers(sub: Any) -> None:
    """Add ``selftest`` and ``defects`` to the ``hil`` subcommands."""
    test = sub.add_parser(
        "selftest",
        help="prove the oracles catch every defect switch, with no false alarm",
        description=(
            "Run each catalogue scenario that claims defects ([expect] catches) once as it "
            "is, where every oracle must pass, and once per claimed defect switch with the "
            "switch on, where one of the oracles it names must fail. Prints and saves the "
            "detection matrix (selftest.md, selftest.json in --out). Exit codes: 0 every "
            "defect caught and every clean run green; 1 a defect missed, a switch no scenario "
            "claims, or a clean run failed; 2 bad input; 3 a run broke (harness or server)."
        ),
    )
    test.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NAME",
        help="only this catalogue scenario (repeatable; default: every one that claims a defect)",
    )
    test.add_argument(
        "--defect",
        action="append",
        default=[],
        choices=list(KNOWN_DEFECTS),
        metavar="D",
        help="only this defect switch (repeatable; default: every one `hil defects` lists)",
    )
    seeds = test.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, help="run every scenario under this seed")
    seeds.add_argument(
        "--seeds",
        type=int,
        metavar="N",
        help="run everything under each of the seeds 1..N: detection rates, and false "
        "alarms across seeds (default: each scenario's own seed)",
    )
    test.add_argument(
        "--workers", type=int, default=2, metavar="N", help="runs at once (local processes)"
    )
    test.add_argument(
        "--out",
        type=Path,
        default=Path("runs") / "selftest",
        metavar="DIR",
        help="where the runs and the matrix go (default: runs/selftest)",
    )
    only = test.add_mutually_exclusive_group()
    only.add_argument(
        "--no-clean", action="store_true", help="skip the clean runs (only the probes)"
    )
    only.add_argument(
        "--clean-only",
        action="store_true",
        help="only the clean runs: with --seeds, a false-alarm sweep of the correct server",
    )
    test.add_argument(
        "--pg",
        default=DEFAULT_PG,
        metavar="URL",
        help="the PostgreSQL server on which each run of a served scenario ([scenario] served) "
        "gets a database of its own, created and dropped by the self-test: the URL of any "
        f"database there (default: {DEFAULT_PG}); unreachable: those runs are broken",
    )
    listing = sub.add_parser(
        "defects",
        help="list the server's defect switches and the scenarios that catch each, then the "
        "app model's",
        description="The defect switches of `hil serve --defect`, `hil run --defect` and a "
        "scenario's `defects`, one line each, with the catalogue scenarios that claim to "
        "catch each one (`hil selftest` checks the claims); then, under their own heading, "
        "the app model's defect switches (a scenario's `app_fixes`), with the app profiles "
        "that have each. --json: an object with the keys `server` and `app`.",
    )
    listing.add_argument("--json", action="store_true", help="as JSON")


APP_SWITCHES_NOTE = (
    "Switches of the app model, not of the server: on in every profile of an app that has "
    "the defect, as the real app has it; a scenario's [fleet] or [[phones]] app_fixes "
    "switches them off."
)


def _app_profiles_with(defect: str) -> list[str]:
    return [name for name, profile in APP_PROFILES.items() if defect in profile.defects]


def defects_command(args: Any) -> int:
    """``hil defects``: the server's defect switches, then the app model's."""
    claimed = claims()
    if args.json:
        listing = {
            "server": [
                {
                    "defect": d,
                    "description": text,
                    "caught_by": [{"scenario": s, "oracles": list(o)} for s, o in claimed[d]],
                }
                for d, text in KNOWN_DEFECTS.items()
            ],
            "app": [
                {"defect": d, "description": text, "profiles": _app_profiles_with(d)}
                for d, text in APP_DEFECTS.items()
            ],
            "app_note": APP_SWITCHES_NOTE,
        }
        print(json.dumps(listing, indent=2, ensure_ascii=False))
        return EXIT_PASSED
    width = max(map(len, [*KNOWN_DEFECTS, *APP_DEFECTS]))
    print("Server defect switches (hil run --defect, a scenario's defects):\n")
    for defect, text in KNOWN_DEFECTS.items():
        by = ", ".join(f"{s} ({'/'.join(o)})" for s, o in claimed[defect]) or "no scenario yet"
        print(f"{defect:<{width}}  {text}\n{'':<{width}}  caught by: {by}")
    print(f"\nApp model switches (app_fixes). {APP_SWITCHES_NOTE}\n")
    for defect, text in APP_DEFECTS.items():
        profiles = ", ".join(_app_profiles_with(defect))
        print(f"{defect:<{width}}  {text}\n{'':<{width}}  in profiles: {profiles}")
    return EXIT_PASSED


def selftest_command(args: Any) -> int:
    """``hil selftest``."""
    import sys

    names = args.scenario or list(catalogue())
    unknown = [n for n in names if n not in catalogue()]
    if unknown:
        print(
            f"hil selftest: no catalogue scenario named {', '.join(unknown)}; "
            "`hil scenarios` lists them.",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if args.workers < 1:
        print("hil selftest: --workers must be at least 1.", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not args.pg.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        print(
            f"hil selftest: --pg must be a postgresql://user@host:port/dbname URL, not "
            f"{masked_url(args.pg)!r}.",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    scenarios = [load(n) for n in names]
    if args.seeds is not None and args.seeds < 1:
        print("hil selftest: --seeds must be at least 1.", file=sys.stderr)
        return EXIT_BAD_INPUT
    probes, uncovered = plan(
        scenarios,
        defects=args.defect or None,
        seed=args.seed,
        seeds=None if args.seeds is None else range(1, args.seeds + 1),
        clean=not args.no_clean,
        probes=not args.clean_only,
    )
    if args.clean_only:
        uncovered = []  # a false-alarm sweep judges no detection
    if args.scenario:
        uncovered = []  # a partial self-test judges only what it ran
    print(
        f"hil selftest: {len(probes)} runs ({sum(p.defect is None for p in probes)} clean) "
        f"of {len({p.scenario for p in probes})} scenarios on {args.workers} workers "
        f"-> {args.out}",
        file=sys.stderr,
    )

    def report(o: Outcome, done: int, total: int) -> None:
        what = o.probe.defect or "clean"
        line = f"[{done}/{total}] {what:>5} {o.probe.scenario:<16} {o.status}"
        if o.failed:
            line += f" ({', '.join(o.failed)})"
        line += f"  {o.wall_seconds:.0f} s"
        print(line, file=sys.stderr, flush=True)
        if o.status not in (CAUGHT, CLEAN):
            if o.detail:
                print(f"      {o.detail[:300]}", file=sys.stderr)
            print(f"      replay: {o.replay()}", file=sys.stderr)

    matrix = selftest(
        probes,
        args.out,
        uncovered=uncovered,
        workers=args.workers,
        progress=report,
        pg=args.pg,
    )
    print(matrix.markdown())
    counts = matrix.counts()
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    print(f"{'PASSED' if matrix.passed else 'FAILED'}: {summary} in {matrix.wall_seconds:.0f} s")
    if matrix.uncovered:
        print(f"no catalogue scenario catches: {', '.join(matrix.uncovered)}")
    if counts[BROKEN]:
        return EXIT_HARNESS
    return EXIT_PASSED if matrix.passed else EXIT_FAILED
