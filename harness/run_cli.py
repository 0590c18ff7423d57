"""``hil run`` and ``hil scenarios``: run a scenario in virtual time, list the catalogue."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from scenarios import ScenarioError, catalogue, load

from .runner import Progress, RunError, RunResult, run_scenario

__all__ = ["add_parsers", "run_command", "scenarios_command"]


def add_parsers(sub: Any) -> None:
    """Add ``run`` and ``scenarios`` to the ``hil`` subcommands."""
    run = sub.add_parser(
        "run",
        help="run a scenario: virtual phones against the server, judged by the oracles",
        description=(
            "Run a scenario in virtual time: the gateway server in this process (a fresh "
            "SQLite file in the run folder unless --db is given), virtual phones running the "
            "app model, faults as the scenario says. Writes history.jsonl, server_state.json, "
            "verdicts.json and summary.md to the run folder and prints the verdicts. Exit "
            "code 0 when every oracle is as the scenario expects, 1 when not, 2 for bad "
            "input."
        ),
    )
    run.add_argument(
        "scenario",
        metavar="SCENARIO",
        help="a catalogue name (see `hil scenarios`) or the path of a scenario TOML file",
    )
    run.add_argument("--seed", type=int, help="the random seed (default: the scenario's)")
    run.add_argument(
        "--db",
        metavar="URL",
        help="an EMPTY database to run on: a SQLite path or a postgresql:// URL "
        "(default: a fresh SQLite file in the run folder)",
    )
    run.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="the run folder (default: runs/<scenario>-seed<N>; its files are replaced)",
    )
    run.add_argument("--quiet", action="store_true", help="no progress line")
    sub.add_parser("scenarios", help="list the scenario catalogue")


class _ProgressLine:
    """One line, rewritten in place on a terminal, every 10 % otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last_tenth = -1

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
        if self.tty:
            print(file=sys.stderr)


def _table(result: RunResult) -> str:
    rows = [("oracle", "verdict", "judged", "summary")]
    for v in result.verdicts:
        word = "pass" if v.passed else "FAIL"
        if v.name in result.expected_failures:
            word = "FAIL (expected)" if not v.passed else "pass (expected FAIL)"
        rows.append((v.name, word, str(v.checked), v.summary))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}" for r in rows
    )


def run_command(args: argparse.Namespace) -> int:
    """``hil run``."""
    try:
        scenario = load(args.scenario)
    except ScenarioError as exc:
        print(f"hil run: {exc}", file=sys.stderr)
        return 2
    seed = scenario.seed if args.seed is None else args.seed
    out = args.out or Path("runs") / f"{scenario.name}-seed{seed}"
    line = None if args.quiet else _ProgressLine()
    print(f"hil run {scenario.name} (seed {seed}) -> {out}", file=sys.stderr)
    try:
        result = run_scenario(scenario, seed=seed, out=out, db=args.db, progress=line)
    except RunError as exc:
        if line:
            line.done()
        print(f"hil run: {exc}", file=sys.stderr)
        return 2
    if line:
        line.done()
    print(_table(result))
    v, w = result.virtual_duration, result.wall_seconds
    print(
        f"\n{result.scenario.name}: virtual {v / 3600:.2f} h in {w:.1f} s wall "
        f"({v / w if w else 0:.0f}x), {result.requests} requests, history "
        f"{result.digest[:16]} ({result.events} events) -> {out}"
    )
    for name in result.missing_hits:
        print(f"NOT HIT: the scenario demands '{name}' but it never happened", file=sys.stderr)
    if result.passed:
        print("PASSED")
        return 0
    replay = f"hil run {shlex.quote(args.scenario)} --seed {seed}"
    print(f"FAILED (seed {seed}). Replay: {replay}")
    return 1


def scenarios_command(args: argparse.Namespace) -> int:
    """``hil scenarios``."""
    del args
    for name, path in sorted(catalogue().items()):
        try:
            description = load(path).description
        except ScenarioError as exc:
            description = f"(invalid: {exc})"
        print(f"{name:<16} {description.splitlines()[0] if description else ''}")
    return 0
