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
probe can be replayed with the ``hil run`` line printed beside it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenarios import Scenario, catalogue, load
from server_under_test import KNOWN_DEFECTS

from .errors import RunError
from .runner import run_scenario

__all__ = [
    "Matrix",
    "Outcome",
    "Probe",
    "add_parsers",
    "claims",
    "defects_command",
    "plan",
    "run_probe",
    "selftest",
    "selftest_command",
]

CAUGHT, MISSED, CLEAN, FALSE_ALARM, BROKEN = "caught", "missed", "clean", "false alarm", "error"


@dataclass(frozen=True)
class Probe:
    """One run of the self-test: a catalogue scenario, with one defect switched on or not."""

    scenario: str
    defect: str | None = None  # None: the clean run
    oracles: tuple[str, ...] = ()  # of which one must fail (a probe)
    seed: int | None = None  # None: the scenario's

    @property
    def folder(self) -> str:
        return f"{self.defect or 'clean'}--{self.scenario}"

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
        """The matrix for people: one row per defect switch, one column per scenario."""
        scenarios = sorted({o.probe.scenario for o in self.outcomes})
        cells: dict[tuple[str, str], str] = {}
        for o in self.outcomes:
            if o.probe.defect is not None:
                cells[(o.probe.defect, o.probe.scenario)] = _cell(o)
        lines = [
            "| defect | " + " | ".join(scenarios) + " |",
            "|---|" + "---|" * len(scenarios),
        ]
        for defect in KNOWN_DEFECTS:
            row = [cells.get((defect, s), "") for s in scenarios]
            if defect in self.uncovered:
                row = ["**uncovered**"] + [""] * (len(scenarios) - 1)
            elif not any(row):
                continue
            lines.append(f"| {defect} | " + " | ".join(row) + " |")
        clean = {o.probe.scenario: o for o in self.outcomes if o.probe.defect is None}
        lines.append(
            "| clean | "
            + " | ".join(_cell(clean[s]) if s in clean else "" for s in scenarios)
            + " |"
        )
        return "\n".join(lines) + "\n"


def _cell(o: Outcome) -> str:
    if o.status == CAUGHT:
        at = "" if o.detected_at is None else f" at {_hours(o.detected_at)}"
        return f"caught: {'+'.join(o.failed)}{at}"
    if o.status == CLEAN:
        return "pass"
    if o.status == FALSE_ALARM:
        return f"**false alarm**: {'+'.join(o.failed)}"
    return f"**{o.status}**"


def _hours(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def plan(
    scenarios: Iterable[Scenario],
    *,
    defects: Sequence[str] | None = None,
    seed: int | None = None,
    clean: bool = True,
) -> tuple[list[Probe], list[str]]:
    """The probes for these scenarios (only the ``defects`` named, when given), and the
    switches among ``defects`` (all known ones by default) that no scenario claims."""
    wanted = list(KNOWN_DEFECTS) if defects is None else list(defects)
    unknown = [d for d in wanted if d not in KNOWN_DEFECTS]
    if unknown:
        raise ValueError(
            f"Unknown defect switch(es) {', '.join(unknown)}; `hil defects` lists them all."
        )
    probes: list[Probe] = []
    claimed: set[str] = set()
    for scenario in scenarios:
        mine = [(d, oracles) for d, oracles in scenario.expect.catches if d in wanted]
        claimed.update(d for d, _ in mine)
        if not mine:
            continue
        if clean:
            probes.append(Probe(scenario.name, None, (), seed))
        probes += [Probe(scenario.name, d, oracles, seed) for d, oracles in mine]
    return probes, [d for d in wanted if d not in claimed]


def run_probe(probe: Probe, out: Path) -> Outcome:
    """Run one probe (in whatever process the executor chose) and judge it."""
    scenario = load(probe.scenario)
    defects = tuple(scenario.defects) + ((probe.defect,) if probe.defect else ())
    scenario = dataclasses.replace(
        scenario,
        defects=defects,
        expect=dataclasses.replace(scenario.expect, fail=()),
    )
    seed = scenario.seed if probe.seed is None else probe.seed
    wall = time.perf_counter()
    try:
        result = run_scenario(scenario, seed=seed, out=out / probe.folder)
    except RunError as exc:
        return Outcome(probe, BROKEN, (), None, 0.0, time.perf_counter() - wall, seed, str(exc))
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
            probe, status, bad, None, result.virtual_duration, result.wall_seconds, seed, detail
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
    )


def selftest(
    probes: Sequence[Probe],
    out: Path,
    *,
    uncovered: Sequence[str] = (),
    workers: int = 2,
    executor: Executor | None = None,
    progress: Callable[[Outcome, int, int], None] | None = None,
) -> Matrix:
    """Run every probe through ``executor`` (a pool of ``workers`` local processes by
    default) and collect the matrix; it is written to ``out`` as selftest.json and
    selftest.md."""
    out.mkdir(parents=True, exist_ok=True)
    wall = time.perf_counter()
    matrix = Matrix(uncovered=list(uncovered))
    own = executor is None
    pool = ProcessPoolExecutor(max_workers=workers) if executor is None else executor
    try:
        futures = {pool.submit(run_probe, probe, out): probe for probe in probes}
        for future in as_completed(futures):
            try:
                outcome = future.result()
            except Exception as exc:  # a crashed probe is reported, not raised
                probe = futures[future]
                seed = probe.seed if probe.seed is not None else -1
                why = f"{type(exc).__name__}: {exc}"
                outcome = Outcome(probe, BROKEN, (), None, 0.0, 0.0, seed, why)
            matrix.outcomes.append(outcome)
            if progress is not None:
                progress(outcome, len(matrix.outcomes), len(probes))
    finally:
        if own:
            pool.shutdown(cancel_futures=True)
    order = {probe: n for n, probe in enumerate(probes)}
    matrix.outcomes.sort(key=lambda o: order[o.probe])
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

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_HARNESS = 0, 1, 2, 3


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
    test.add_argument("--seed", type=int, help="run every scenario under this seed")
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
    test.add_argument(
        "--no-clean", action="store_true", help="skip the clean runs (only the probes)"
    )
    listing = sub.add_parser(
        "defects",
        help="list the server's defect switches and the scenarios that catch each",
        description="The defect switches of `hil serve --defect`, `hil run --defect` and a "
        "scenario's `defects`, one line each, with the catalogue scenarios that claim to "
        "catch each one (`hil selftest` checks the claims).",
    )
    listing.add_argument("--json", action="store_true", help="as JSON")


def defects_command(args: Any) -> int:
    """``hil defects``."""
    claimed = claims()
    if args.json:
        rows = [
            {
                "defect": d,
                "description": text,
                "caught_by": [{"scenario": s, "oracles": list(o)} for s, o in claimed[d]],
            }
            for d, text in KNOWN_DEFECTS.items()
        ]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return EXIT_PASSED
    width = max(map(len, KNOWN_DEFECTS))
    for defect, text in KNOWN_DEFECTS.items():
        by = ", ".join(f"{s} ({'/'.join(o)})" for s, o in claimed[defect]) or "no scenario yet"
        print(f"{defect:<{width}}  {text}\n{'':<{width}}  caught by: {by}")
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
    scenarios = [load(n) for n in names]
    probes, uncovered = plan(
        scenarios, defects=args.defect or None, seed=args.seed, clean=not args.no_clean
    )
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
            print(f"      replay: {o.probe.replay(o.seed)}", file=sys.stderr)

    matrix = selftest(probes, args.out, uncovered=uncovered, workers=args.workers, progress=report)
    print(matrix.markdown())
    counts = matrix.counts()
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    print(f"{'PASSED' if matrix.passed else 'FAILED'}: {summary} in {matrix.wall_seconds:.0f} s")
    if matrix.uncovered:
        print(f"no catalogue scenario catches: {', '.join(matrix.uncovered)}")
    if counts[BROKEN]:
        return EXIT_HARNESS
    return EXIT_PASSED if matrix.passed else EXIT_FAILED
