"""``hil report RUN_DIR``: write a run folder's reports again from the folder alone.

The reports (``summary.md``, ``junit.xml``) are rendered from what the run wrote
(``verdicts.json``, ``history.jsonl.gz``, ``server_state.json.gz``; or ``history.jsonl`` and
``server_state.json``, as runs before issue 12 wrote them), never from a new run, so a
report can be rebuilt after the reports changed, on another machine, or from a CI artefact.
Exit codes: 0 written, 2 not a run folder or a file that does not read.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from reports.junit import render_junit
from reports.summary import render_summary

from .folder import FolderError, read_history, read_state

__all__ = ["add_parsers", "rebuild", "report_command"]

EXIT_OK = 0
EXIT_BAD_INPUT = 2


class ReportInputError(ValueError):
    """The folder is not a run folder, or one of its files does not read."""


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportInputError(
            f"{path}: no such file; is {path.parent} a hil run folder?"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInputError(f"{path}: cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ReportInputError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None


def rebuild(folder: Path) -> list[Path]:
    """Render the reports of the run in ``folder`` again; returns the files written.

    ``summary.md`` needs the server's final state, which an interrupted run does not have:
    then only ``junit.xml`` is written, as the run itself did."""
    if not folder.is_dir():
        raise ReportInputError(f"{folder}: no such folder")
    meta = _json(folder / "verdicts.json")
    if not isinstance(meta, dict) or "scenario" not in meta:
        raise ReportInputError(f"{folder / 'verdicts.json'}: not the verdicts of a hil run")
    written = [folder / "junit.xml"]
    written[0].write_text(render_junit(meta))
    if meta.get("interrupted"):
        return written
    try:
        state = read_state(folder)
        events = read_history(folder)
    except FolderError as exc:
        raise ReportInputError(str(exc)) from None
    summary = folder / "summary.md"
    summary.write_text(render_summary(events, state, meta))
    return [*written, summary]


def add_parsers(sub: Any) -> None:
    """The ``report`` subcommand."""
    report = sub.add_parser(
        "report",
        help="write a run folder's reports again from the folder alone",
        description=(
            "Render summary.md and junit.xml of a run again from what the run wrote "
            "(verdicts.json, history.jsonl.gz, server_state.json.gz; or an older run's "
            "history.jsonl and server_state.json), without running anything. "
            "Exit codes: 0 written, 2 not a run folder or a file that does not read."
        ),
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a hil run's --out folder")


def report_command(args: argparse.Namespace) -> int:
    """``hil report RUN_DIR``."""
    try:
        written = rebuild(args.run_dir)
    except ReportInputError as exc:
        print(f"hil report: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for path in written:
        print(path)
    return EXIT_OK
