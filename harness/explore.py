"""``hil explore``: property-based exploration of fault schedules, shrunk to a scenario file.

Hypothesis draws a *schedule* for one scenario: a list of steps, each a phone fault at a
virtual time (a kind of ``simulator.config.FAULT_KINDS`` on one phone of the fleet, with its
duration and, for process death and reboot, whether it waits for SMS in flight). Each step has
its own time rather than a wait after the previous one, so that dropping a step while
shrinking leaves the others where they were. Every fault is over ``settle`` seconds before the
scenario's end (45 minutes by default: the stuck timeout and a margin), so that what a fault
left unconfirmed is settled when the oracles judge the end; and the run is longer than the
scenario by the time its phones are down (and waits for SMS in flight), which a phone's
backlog waits too, so that the oracles judge a drained queue rather than one cut off. The
schedule replaces the scenario's ``[[faults]]`` (or extends them with ``--keep-faults``);
fleet and workload stay as they are. The property is the oracles: the run of the modified
scenario, in virtual time, passes every oracle it judges. When one fails, Hypothesis shrinks
the schedule to a minimal one on which the same oracle still fails (fewer steps, earlier and
shorter faults, the first phones), and that schedule is written as a complete scenario file
(the original text with the minimal ``[[faults]]``) that ``hil run FILE --seed N --defect D``
replays; the command replays it once itself, and checks that the replay makes the same
history.

Every example is the scenario file it would write: the text is rendered, loaded with
``scenarios.loads`` and run, so what was explored is exactly what the file replays. Demanded
paths (``[expect] hit``) and expected failures (``[expect] fail``) are dropped from that
text: a drawn schedule need not hit the scenario's dangerous paths, and the property is that
every judged oracle passes.

There are no server faults: the harness can fire the server's periodic jobs only at their
due times, and a scenario file has no way to describe anything else happening to the server,
so a drawn server fault could not be replayed from the file.

Exploration is deterministic: Hypothesis draws from a ``random.Random`` seeded with
``--seed`` (which is also the runs' seed), with no example database and no deadline; the
shrink phase is bounded by a number of runs, not by the wall clock, and the runs themselves
are deterministic, so the same scenario, options and seed give the same examples, the same
minimal schedule and the same file.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import random
import re
import shlex
import sys
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scenarios import Scenario, ScenarioError, load, loads, parse_duration
from server_under_test import KNOWN_DEFECTS
from simulator.config import FAULT_KINDS, FAULT_WAIT_LIMIT

from .errors import RunError, RunInputError, TargetError
from .evidence import Verdict
from .run_cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_HARNESS, EXIT_PASSED, MAX_SEED
from .runner import RunResult, run_scenario

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

__all__ = [
    "DEFAULT_EXAMPLES",
    "DEFAULT_MAX_STEPS",
    "DEFAULT_SHRINK_RUNS",
    "Exploration",
    "ExploreInputError",
    "PlacedFault",
    "Step",
    "add_parsers",
    "explore",
    "explore_command",
    "place",
    "render",
    "schedule_strategy",
]

DEFAULT_EXAMPLES = 20
DEFAULT_SHRINK_RUNS = 60
DEFAULT_MAX_STEPS = 6
# After its last fault a run needs time to settle before the oracles judge its end: an SMS
# a phone never confirmed waits the stuck timeout, the next stuck reset (every 5 minutes),
# the next poll (5 minutes) and its sending. Faults are over this long before the run ends.
SETTLE_MARGIN = 900.0  # on top of the scenario's [expect] stuck_after
TIMED_KINDS = ("process_death", "reboot", "partition")  # the kinds that take a duration
MOMENT_KINDS = ("process_death", "reboot")  # the kinds that may wait for SMS in flight

EXIT_FOUND = EXIT_FAILED  # a failure found (and shrunk): an oracle failed


class ExploreInputError(ValueError):
    """Bad input to an exploration: an unknown defect or fault kind, a bad option."""


# -- the schedule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One step of a schedule: a fault on one phone of the fleet at a virtual time."""

    at: int  # seconds after the start
    phone: int  # index in the fleet
    kind: str  # FAULT_KINDS
    duration: int = 0  # seconds, for TIMED_KINDS
    during: str = "any"  # "sending": wait for SMS in flight (MOMENT_KINDS)


@dataclass(frozen=True)
class PlacedFault:
    """A fault of a schedule at its run time: one ``[[faults]]`` table of the file."""

    at: int
    phone: str
    kind: str
    duration: int
    during: str

    def describe(self) -> str:
        """One line for people: ``reboot phone-01 at 1m for 40m``."""
        text = f"{self.kind} {self.phone} at {_duration(self.at)}"
        if self.kind in TIMED_KINDS:
            text += f" for {_duration(self.duration)}"
        if self.during == "sending":
            text += ", while sending (waits up to 30m for SMS in flight)"
        return text


def place(schedule: Sequence[Step], phones: Sequence[str], until: int) -> list[PlacedFault]:
    """The faults of ``schedule`` in time order (steps at the same time in schedule order),
    each over by ``until``: a fault that would start then or later is left out, a longer
    one is cut to end then."""
    out = []
    for step in sorted(schedule, key=lambda s: s.at):
        if step.at < until:
            duration = min(step.duration, until - step.at) if step.kind in TIMED_KINDS else 0
            out.append(PlacedFault(step.at, phones[step.phone], step.kind, duration, step.during))
    return out


def schedule_strategy(
    phones: int, window: int, kinds: Sequence[str], max_steps: int
) -> SearchStrategy[list[Step]]:
    """Schedules of up to ``max_steps`` steps for a fleet of ``phones`` phones, with times
    and durations up to ``window`` seconds. Hypothesis shrinks a schedule by dropping steps,
    then towards earlier times, shorter durations, the first phone and the first kind of
    ``kinds``."""
    from hypothesis import strategies as st

    top = max(1, window)

    @st.composite
    def step(draw: st.DrawFn) -> Step:
        at = draw(st.integers(0, top - 1))
        kind = draw(st.sampled_from(tuple(kinds)))
        phone = draw(st.integers(0, phones - 1))
        duration = draw(st.integers(1, top)) if kind in TIMED_KINDS else 0
        during = draw(st.sampled_from(("any", "sending"))) if kind in MOMENT_KINDS else "any"
        return Step(at, phone, kind, duration, during)

    return st.lists(step(), max_size=max_steps)


def _duration(seconds: int) -> str:
    """Seconds as a scenario file writes them: ``"1h30m"``, ``"90s"``, ``"0s"``."""
    rest, out = seconds, ""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out or "0s"


# -- the scenario file ----------------------------------------------------------------------

_HEADER = re.compile(r"\s*\[(\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"\s*([A-Za-z0-9_-]+)\s*=")


@dataclass
class _Line:
    text: str
    table: str  # the header above it ("" before the first)
    array: bool  # that header is an array of tables ([[...]])
    key: str | None  # the top-level key of its table this line belongs to
    header: bool = False  # the line is the table's header


def _lines(text: str) -> list[_Line]:
    """Each line of a TOML text with its table and key; a multi-line value (an array over
    several lines, a multi-line string) belongs to its key on every line."""
    out: list[_Line] = []
    table, array, key = "", False, None
    quote: str | None = None  # inside a multi-line string opened by this delimiter
    depth = 0  # open brackets and braces of a value
    for line in text.splitlines():
        clean = quote is None and depth == 0
        if clean and (header := _HEADER.match(line)):
            table, array, key = header.group(2).strip(), bool(header.group(1)), None
            out.append(_Line(line, table, array, None, header=True))
            continue
        if clean:
            found = _KEY.match(line)
            key = found.group(1) if found else None
        out.append(_Line(line, table, array, key))
        quote, depth = _scan(line, quote, depth)
    return out


def _scan(line: str, quote: str | None, depth: int) -> tuple[str | None, int]:
    """The string and bracket state after ``line``, from the state before it."""
    i, size = 0, len(line)
    while i < size:
        if quote is not None:
            if line.startswith(quote, i):
                i, quote = i + len(quote), None
                continue
            i += 2 if line[i] == "\\" and quote == '"""' else 1
            continue
        ch = line[i]
        if ch == "#":
            break
        if ch in "\"'":
            if line.startswith(ch * 3, i):
                quote, i = ch * 3, i + 3
                continue
            end = i + 1
            while end < size and line[end] != ch:
                end += 2 if line[end] == "\\" and ch == '"' else 1
            i = end + 1
            continue
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
    return quote, depth


def _fault_table(fault: PlacedFault) -> list[str]:
    lines = ["", "[[faults]]", f'phones = ["{fault.phone}"]', f'kind = "{fault.kind}"']
    lines.append(f'at = "{_duration(fault.at)}"')
    if fault.kind in TIMED_KINDS:
        lines.append(f'duration = "{_duration(fault.duration)}"')
    if fault.during != "any":
        lines.append(f'during = "{fault.during}"')
    return lines


def render(
    text: str,
    faults: Sequence[PlacedFault],
    *,
    name: str,
    seed: int,
    max_duration: float | None = None,
    keep_faults: bool = False,
    note: Sequence[str] = (),
) -> str:
    """The scenario ``text`` with its ``[[faults]]`` replaced by ``faults`` (appended to
    them with ``keep_faults``), named ``name``, seeded ``seed``, its ``max_duration`` set
    when given, without ``[expect] hit`` and ``fail``; ``note`` goes on top as comments.

    Raises ExploreInputError when the text is not laid out so that this can be done (the
    result is read back and checked)."""
    scenario_keys = {"name": json.dumps(name), "seed": str(seed)}
    if max_duration is not None:
        scenario_keys["max_duration"] = f'"{_duration(round(max_duration))}"'
    out = [f"# {line}".rstrip() for line in note]
    lines = _lines(text)
    present = {ln.key for ln in lines if ln.table == "scenario" and not ln.array}
    written: set[str] = set()
    for line in lines:
        if line.table == "faults" and line.array and not keep_faults:
            continue
        if line.table == "expect" and not line.array and line.key in ("hit", "fail"):
            continue
        if line.table == "scenario" and not line.array and line.key in scenario_keys:
            if line.key not in written:
                written.add(line.key)
                out.append(f"{line.key} = {scenario_keys[line.key]}")
            continue
        out.append(line.text)
        if line.table == "scenario" and not line.array and line.header:
            # the [scenario] header: the keys the text lacks go right below it
            for key, value in scenario_keys.items():
                if key not in present:
                    out.append(f"{key} = {value}")
    while out and not out[-1].strip():
        out.pop()
    for fault in faults:
        out += _fault_table(fault)
    result = "\n".join(out) + "\n"
    _check_rendered(result, faults, name=name, seed=seed, keep_faults=keep_faults, before=text)
    return result


def _check_rendered(
    result: str,
    faults: Sequence[PlacedFault],
    *,
    name: str,
    seed: int,
    keep_faults: bool,
    before: str,
) -> None:
    """The rewrite did what it says, or ExploreInputError: the file is laid out otherwise
    (an inline ``[expect]``, dotted keys, ...)."""
    try:
        data = tomllib.loads(result)
        old = tomllib.loads(before)
    except tomllib.TOMLDecodeError as exc:
        raise ExploreInputError(f"cannot rewrite the scenario's TOML text: {exc}") from exc
    kept = len(old.get("faults", [])) if keep_faults else 0
    head = data.get("scenario", {})
    expect = data.get("expect", {})
    if (
        head.get("name") != name
        or head.get("seed") != seed
        or len(data.get("faults", [])) != kept + len(faults)
        or "hit" in expect
        or "fail" in expect
    ):
        raise ExploreInputError(
            "cannot rewrite the scenario's text: write its [scenario], [expect] and "
            "[[faults]] as tables with one key = value per line (as the catalogue does)"
        )


# -- the exploration ------------------------------------------------------------------------


@dataclass
class Exploration:
    """What an exploration found."""

    scenario: str
    seed: int
    defects: tuple[str, ...]
    tried: int = 0  # examples Hypothesis drew before the first failure (or all of them)
    examples: int = 0  # of them, distinct schedules run
    shrink_runs: int = 0  # runs made while shrinking
    wall_seconds: float = 0.0
    oracle: str | None = None  # the oracle the minimal schedule fails
    violation: str = ""  # its first violation on the replay
    first_at: float | None = None  # its virtual time
    schedule: list[PlacedFault] = field(default_factory=list)
    file: Path | None = None  # the minimal scenario file
    replay: str = ""  # the hil run line that replays it
    replay_digest: str = ""  # the history digest of the replay the command made
    broken: str = ""  # a run that broke (harness or server): what happened

    @property
    def found(self) -> bool:
        return self.oracle is not None

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["file"] = str(self.file) if self.file else None
        out["found"] = self.found
        out["schedule"] = [dataclasses.asdict(f) for f in self.schedule]
        return out


@dataclass(frozen=True)
class _Ran:
    failed: tuple[str, ...]  # the judged oracles that failed
    first: Verdict | None  # the first of them
    digest: str  # of the run's history


def _first_failure(result: RunResult) -> _Ran:
    failed = [v for v in result.verdicts if v.judged and not v.passed]
    return _Ran(tuple(v.name for v in failed), failed[0] if failed else None, result.digest)


class _Explorer:
    """The property Hypothesis falsifies: ``fails(schedule)`` runs the scenario with that
    schedule (each distinct file once) and says whether the oracle it is after failed."""

    def __init__(
        self,
        text: str,
        scenario: Scenario,
        *,
        name: str,
        seed: int,
        defects: tuple[str, ...],
        max_duration: float | None,
        settle: float,
        keep_faults: bool,
        examples: int,
        shrink_runs: int,
        oracle: str | None,
        work: Path,
        say: Callable[[str], None],
    ) -> None:
        self.text, self.name, self.seed, self.defects = text, name, seed, defects
        self.max_duration, self.keep_faults = max_duration, keep_faults
        self.horizon = scenario.max_duration if max_duration is None else max_duration
        self.window = int(self.horizon - settle)  # every drawn fault is over by then
        self.phones = [p.name for p in scenario.world.phones]
        self.examples, self.shrink_budget = examples, shrink_runs
        self.oracle = oracle  # None: the first oracle that fails becomes the one
        self.work, self.say = work, say
        self.cache: dict[str, _Ran] = {}
        self.tried = 0
        self.generated = 0
        self.shrunk = 0
        self.found = False
        self.spent = False
        self.broken = ""
        self.refused = False  # the run refused the scenario (bad input, not a harness error)

    def render(self, faults: Sequence[PlacedFault], note: Sequence[str] = ()) -> str:
        # A phone that is down holds its backlog back for as long (the real app's alarms
        # even take SMS it will not send until the stuck reset returns them): the run gets
        # that much longer, so that the oracles judge a drained queue, not a cut-off one.
        down = sum(
            f.duration + (FAULT_WAIT_LIMIT if f.during == "sending" else 0)
            for f in faults
            if f.kind in TIMED_KINDS
        )
        longer = self.horizon + down if down else self.max_duration
        return render(
            self.text,
            faults,
            name=self.name,
            seed=self.seed,
            max_duration=longer,
            keep_faults=self.keep_faults,
            note=note,
        )

    def fails(self, schedule: list[Step]) -> bool:
        faults = place(schedule, self.phones, self.window)
        text = self.render(faults)
        if not self.found:
            self.tried += 1
        ran = self.cache.get(text)
        if ran is None:
            if self.broken or self.spent:
                return False
            if self.found and self.shrunk >= self.shrink_budget:
                self.spent = True
                self.say(
                    f"(the shrink budget of {self.shrink_budget} runs is spent: the smallest "
                    "failing schedule so far is the result)"
                )
                return False
            ran = self._run(text, faults)
            if ran is None:
                return False
            self.cache[text] = ran
        hit = ran.first is not None and (self.oracle is None or self.oracle in ran.failed)
        if hit and self.oracle is None:
            self.oracle = ran.failed[0]
        self.found = self.found or hit
        return hit

    def _run(self, text: str, faults: Sequence[PlacedFault]) -> _Ran | None:
        if self.found:
            self.shrunk += 1
            label = f"shrink {self.shrunk}/{self.shrink_budget}"
        else:
            self.generated += 1
            label = f"example {self.generated}/{self.examples}"
        what = "; ".join(f.describe() for f in faults) or "no faults"
        wall = time.perf_counter()
        try:
            scenario = loads(text, file=f"{self.name}.toml")
            scenario = dataclasses.replace(scenario, defects=self.defects)
            result = run_scenario(scenario, seed=self.seed, out=self.work, reports=False)
        except (ScenarioError, RunError) as exc:
            self.refused = isinstance(exc, RunInputError)
            self.broken = f"{type(exc).__name__}: {exc} (schedule: {what})"
            self.say(f"{label}  {what} -> BROKEN: {exc}")
            return None
        ran = _first_failure(result)
        verdict = "pass" if not ran.failed else "FAIL " + ", ".join(ran.failed)
        self.say(f"{label}  {what} -> {verdict}  ({time.perf_counter() - wall:.1f} s)")
        return ran


@contextlib.contextmanager
def _shrinking_unbounded_by_the_clock() -> Iterator[None]:
    """Hypothesis stops shrinking after five minutes of wall time
    (``MAX_SHRINKING_SECONDS``), which would make the minimal schedule depend on how busy
    the machine is; the exploration bounds shrinking by a number of runs instead."""
    from hypothesis.internal.conjecture import engine

    old = getattr(engine, "MAX_SHRINKING_SECONDS", None)
    if old is None:  # another Hypothesis: nothing to lift
        yield
        return
    engine.MAX_SHRINKING_SECONDS = 10**9
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = old


def explore(
    scenario_ref: str | Path,
    *,
    out: Path,
    defects: Sequence[str] = (),
    examples: int = DEFAULT_EXAMPLES,
    seed: int | None = None,
    max_duration: float | None = None,
    settle: float | None = None,
    kinds: Sequence[str] = FAULT_KINDS,
    max_steps: int = DEFAULT_MAX_STEPS,
    shrink_runs: int = DEFAULT_SHRINK_RUNS,
    keep_faults: bool = False,
    oracle: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Exploration:
    """Explore fault schedules of a scenario (catalogue name or file); see the module
    docstring. Writes ``out/explore.json``, and on a failure the minimal scenario file
    ``out/<scenario>-minimal.toml`` and its replay's run folder ``out/replay``.

    Raises ScenarioError (a bad scenario), ExploreInputError (a bad option) and RunError
    (``RunInputError``: a run folder refused; ``TargetError``: the replay did not
    reproduce the failure).
    """
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis.errors import NoSuchExample

    wall = time.perf_counter()
    say = progress or (lambda line: None)
    base = load(scenario_ref)
    unknown = [d for d in defects if d not in KNOWN_DEFECTS]
    if unknown:
        raise ExploreInputError(
            f"unknown defect switch {', '.join(unknown)}; `hil defects` lists them: "
            f"{', '.join(KNOWN_DEFECTS)}"
        )
    bad = [k for k in kinds if k not in FAULT_KINDS]
    if bad or not kinds:
        raise ExploreInputError(
            f"unknown fault kind {', '.join(bad) or '(none given)'}; the kinds are "
            f"{', '.join(FAULT_KINDS)}"
        )
    if examples < 1 or max_steps < 1 or shrink_runs < 0:
        raise ExploreInputError(
            "--examples and --max-steps must be at least 1, --shrink-runs at least 0"
        )
    if seed is not None and not 0 <= seed <= MAX_SEED:
        raise ExploreInputError(f"--seed must be an integer from 0 to 2**64 - 1, not {seed}")
    if max_duration is not None and max_duration < 1:
        raise ExploreInputError("--max-duration must be at least one second")
    if oracle is not None and oracle not in base.expect.oracles:
        raise ExploreInputError(
            f"the scenario does not judge the oracle {oracle!r}; it judges "
            f"{', '.join(base.expect.oracles)}"
        )
    if base.served is not None:
        raise ExploreInputError(
            f"{base.name} says [scenario] served: it means something only in real time "
            "against hil serve, and hil explore runs in virtual time"
        )
    horizon = base.max_duration if max_duration is None else max_duration
    settle = base.expect.stuck_after + SETTLE_MARGIN if settle is None else settle
    if settle < 0 or horizon - settle < 1:
        raise ExploreInputError(
            f"a run of {_duration(round(horizon))} leaves no time for faults before the "
            f"last {_duration(round(settle))}, which are kept fault-free so that the run "
            "settles; give a longer --max-duration or a shorter --settle"
        )
    if base.path is None:  # load() always reads a file; a guard for the type checker
        raise ExploreInputError("the scenario has no file to rewrite")
    text = base.path.read_text(encoding="utf-8")
    seed = base.seed if seed is None else seed
    switched = tuple(dict.fromkeys((*base.defects, *defects)))
    name = f"{base.name}-minimal"
    explorer = _Explorer(
        text,
        base,
        name=name,
        seed=seed,
        defects=switched,
        max_duration=max_duration,
        settle=settle,
        keep_faults=keep_faults,
        examples=examples,
        shrink_runs=shrink_runs,
        oracle=oracle,
        work=out / "example",
        say=say,
    )
    # The file without drawn faults must load: a --max-duration before the workload's last
    # batch, for one, is the user's mistake, reported before anything runs.
    loads(explorer.render([]), file=f"{name}.toml")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.toml").unlink(missing_ok=True)  # an earlier exploration's finding
    found = Exploration(base.name, seed, tuple(defects))
    strategy = schedule_strategy(len(explorer.phones), explorer.window, tuple(kinds), max_steps)
    options = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    say(
        f"exploring {base.name} (seed {seed}, defects {', '.join(switched) or 'none'}): "
        f"{examples} examples of up to {max_steps} steps of {', '.join(kinds)} on "
        f"{len(explorer.phones)} phones in the first {_duration(explorer.window)} of "
        f"{_duration(round(explorer.horizon))} -> {out}"
    )
    minimal: list[Step] | None
    with _shrinking_unbounded_by_the_clock():
        try:
            minimal = find(
                strategy,
                explorer.fails,
                settings=options,
                random=random.Random(seed),  # noqa: S311 - exploration, not secrets
            )
        except NoSuchExample:
            minimal = None
    if explorer.refused:
        raise RunInputError(explorer.broken)
    found.tried, found.examples = explorer.tried, explorer.generated
    found.shrink_runs = explorer.shrunk
    found.broken = explorer.broken
    if minimal is not None and not found.broken:
        _write_minimal(explorer, minimal, found, out, list(defects))
    found.wall_seconds = time.perf_counter() - wall
    (out / "explore.json").write_text(json.dumps(found.to_dict(), indent=2) + "\n")
    return found


def _write_minimal(
    explorer: _Explorer,
    minimal: list[Step],
    found: Exploration,
    out: Path,
    defects: list[str],
) -> None:
    """Write the minimal schedule's scenario file, replay it from the file and note the
    failure the replay shows (TargetError if it does not show the same one)."""
    assert explorer.oracle is not None
    faults = place(minimal, explorer.phones, explorer.window)
    path = out / f"{explorer.name}.toml"
    words = ["hil", "run", str(path), "--seed", str(explorer.seed)]
    words += [w for d in defects for w in ("--defect", d)]
    replay = shlex.join(words)
    note = [
        f"Written by hil explore: {found.scenario} with its [[faults]] "
        f"{'extended' if explorer.keep_faults else 'replaced'} by the minimal schedule found "
        f"on which {explorer.oracle} fails",
        f"(defects: {', '.join(explorer.defects) or 'none'}; [expect] hit and fail dropped).",
        f"Replay: {replay}",
        "",
    ]
    text = explorer.render(faults, note)
    explored = explorer.cache[explorer.render(faults)]
    path.write_text(text, encoding="utf-8")
    scenario = load(path)
    scenario = dataclasses.replace(
        scenario, defects=tuple(dict.fromkeys((*scenario.defects, *defects)))
    )
    result = run_scenario(scenario, seed=explorer.seed, out=out / "replay")
    ran = _first_failure(result)
    verdict = next((v for v in result.verdicts if v.name == explorer.oracle), None)
    if verdict is None or verdict.passed or not verdict.judged:
        raise TargetError(
            f"The minimal scenario {path} did not fail {explorer.oracle} again on replay "
            f"(it failed {', '.join(ran.failed) or 'nothing'}): the runs are not deterministic."
        )
    if result.digest != explored.digest:
        raise TargetError(
            f"The replay of {path} made another history ({result.digest[:16]}) than the "
            f"run explored ({explored.digest[:16]}): the runs are not deterministic."
        )
    found.oracle = explorer.oracle
    found.violation = verdict.violations[0] if verdict.violations else verdict.summary
    found.first_at = verdict.first_at
    found.schedule = faults
    found.file = path
    found.replay = replay
    found.replay_digest = result.digest


# -- the command line -----------------------------------------------------------------------


def add_parsers(sub: Any) -> None:
    """Add ``explore`` to the ``hil`` subcommands."""
    parser = sub.add_parser(
        "explore",
        help="search fault schedules of a scenario for an oracle failure, shrink it to a file",
        description=(
            "Property-based exploration with Hypothesis: draw fault schedules for one "
            "scenario (phone faults at drawn times: " + ", ".join(FAULT_KINDS) + "; no server "
            "faults, which a scenario file cannot describe), run the scenario with each "
            "schedule in place of its [[faults]] (fleet and workload unchanged, in virtual "
            "time) and check that every oracle it judges passes. On a failure, shrink the "
            "schedule to a minimal one that fails the same oracle, write it as a complete "
            "scenario file in --out, replay that file once, and print the oracle, its first "
            "violation and the `hil run FILE --seed N` line that replays it. One line per run "
            "on stderr. The same scenario, options and seed always explore the same schedules "
            "and find the same minimal one. Exit codes: 0 no failure in N examples; 1 a "
            "failure found and shrunk; 2 bad input (unknown scenario, defect, option); 3 "
            "the harness failed (a run broke, or the replay did not reproduce the failure)."
        ),
    )
    parser.add_argument(
        "scenario",
        metavar="SCENARIO",
        help="a catalogue name (see `hil scenarios`) or the path of a scenario TOML file; "
        "small fleets and workloads keep each example short",
    )
    parser.add_argument(
        "--defect",
        action="append",
        default=[],
        metavar="D",
        help="switch on a defect of the server (repeatable; `hil defects` lists them)",
    )
    parser.add_argument(
        "--examples",
        type=int,
        default=DEFAULT_EXAMPLES,
        metavar="N",
        help=f"schedules to try before giving up (default {DEFAULT_EXAMPLES})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="seeds both Hypothesis and every run (default: the scenario's seed)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="where the minimal scenario file, explore.json and the run folders go "
        "(default: runs/explore-<scenario>)",
    )
    parser.add_argument(
        "--max-duration",
        metavar="DURATION",
        help="cap each run at this virtual time, e.g. 90m (default: the scenario's "
        "max_duration); written into the minimal file",
    )
    parser.add_argument(
        "--settle",
        metavar="DURATION",
        help="keep the last DURATION of each run free of drawn faults (a longer fault is cut "
        "short), so that SMS a fault left unconfirmed are settled by the stuck reset before "
        "the oracles judge the end (default: the scenario's stuck_after + 15m, i.e. 45m)",
    )
    parser.add_argument(
        "--kind",
        action="append",
        default=[],
        metavar="KIND",
        help="draw only this fault kind (repeatable; default all: " + ", ".join(FAULT_KINDS) + ")",
    )
    parser.add_argument(
        "--max-steps",
        type=int,
        default=DEFAULT_MAX_STEPS,
        metavar="N",
        help=f"faults per schedule at most (default {DEFAULT_MAX_STEPS})",
    )
    parser.add_argument(
        "--shrink-runs",
        type=int,
        default=DEFAULT_SHRINK_RUNS,
        metavar="N",
        help=f"runs spent shrinking a failure at most (default {DEFAULT_SHRINK_RUNS})",
    )
    parser.add_argument(
        "--oracle",
        metavar="NAME",
        help="look for failures of this oracle only (default: the first one that fails)",
    )
    parser.add_argument(
        "--keep-faults",
        action="store_true",
        help="add the drawn faults to the scenario's own [[faults]] instead of replacing them",
    )


def _duration_option(value: str) -> float:
    """A duration as a scenario file writes it (``"90m"``, ``"1h30m"``), or plain seconds."""
    try:
        return parse_duration(float(value))
    except ValueError:
        return parse_duration(value)


def explore_command(args: argparse.Namespace) -> int:
    """``hil explore``."""
    for noisy in ("server_under_test", "httpx"):
        logging.getLogger(noisy).setLevel(logging.ERROR)

    def err(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    durations: dict[str, float | None] = {}
    for option in ("max_duration", "settle"):
        value = getattr(args, option)
        try:
            durations[option] = None if value is None else _duration_option(value)
        except ValueError as exc:
            err(f"hil explore: --{option.replace('_', '-')} {exc}")
            return EXIT_BAD_INPUT
    ref = args.scenario
    try:
        name = load(ref).name
    except ScenarioError as exc:
        err(f"hil explore: {exc}")
        return EXIT_BAD_INPUT
    out = args.out or Path("runs") / f"explore-{name}"
    try:
        found = explore(
            ref,
            out=out,
            defects=args.defect,
            examples=args.examples,
            seed=args.seed,
            max_duration=durations["max_duration"],
            settle=durations["settle"],
            kinds=args.kind or FAULT_KINDS,
            max_steps=args.max_steps,
            shrink_runs=args.shrink_runs,
            keep_faults=args.keep_faults,
            oracle=args.oracle,
            progress=err,
        )
    except (ExploreInputError, ScenarioError, RunInputError) as exc:
        err(f"hil explore: {exc}")
        return EXIT_BAD_INPUT
    except RunError as exc:
        err(f"hil explore: {exc}")
        return EXIT_HARNESS
    runs = found.examples + found.shrink_runs
    if found.broken:
        err(f"hil explore: a run broke: {found.broken}")
        return EXIT_HARNESS
    if not found.found:
        print(
            f"PASSED: no oracle failed in {found.tried} examples ({found.examples} distinct "
            f"schedules run) of {found.scenario} (seed {found.seed}) in "
            f"{found.wall_seconds:.0f} s"
        )
        return EXIT_PASSED
    at = "" if found.first_at is None else f" at {_duration(round(found.first_at))}"
    print(
        f"FOUND: {found.oracle} fails at example {found.tried} ({found.examples} distinct "
        f"schedules run); shrunk in {found.shrink_runs} runs ({runs} runs, "
        f"{found.wall_seconds:.0f} s)"
    )
    print(f"first violation{at}: {found.violation}")
    count = len(found.schedule)
    print(f"minimal schedule ({count} fault{'' if count == 1 else 's'}):")
    for fault in found.schedule or []:
        print(f"  {fault.describe()}")
    if not found.schedule:
        print("  none: the scenario fails without any fault")
    print(f"scenario file: {found.file} (replayed: {found.oracle} fails again)")
    print(f"replay: {found.replay}")
    return EXIT_FOUND
