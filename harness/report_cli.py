"""``hil report RUN_DIR``: write a run folder's reports again from the folder alone;
``hil report diff A B``: compare run B against baseline A;
``hil report twin RUN_DIR PHONE_A PHONE_B``: two phones of one run side by side (a phone over
ADB and its virtual twin, issue 13).

The reports (``summary.md`` and its plots, ``report.html``, ``junit.xml``) are rendered
from what the run wrote (``verdicts.json``, ``history.jsonl.gz``, ``server_state.json.gz``;
or ``history.jsonl`` and ``server_state.json``, as runs before issue 12 wrote them), never
from a new run, so a
report can be rebuilt after the reports changed, on another machine, or from a CI artefact.
Exit codes: 0 written (or no regression), 1 B regressed beyond the tolerance, 2 not a run
folder, a file that does not read, or a bad option.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from reports import render_junit, render_report
from reports.diff import compare, render_diff, run_figures
from reports.twin import twin_of_run

from .folder import TWIN_FILE, FolderError, read_history, read_state

__all__ = ["add_parsers", "rebuild", "report_command", "write_reports"]

EXIT_OK = 0
EXIT_REGRESSED = 1
EXIT_BAD_INPUT = 2
DEFAULT_TOLERANCE = 0.05


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


def _meta(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise ReportInputError(f"{folder}: no such folder")
    meta = _json(folder / "verdicts.json")
    if not isinstance(meta, dict) or "scenario" not in meta:
        raise ReportInputError(f"{folder / 'verdicts.json'}: not the verdicts of a hil run")
    return meta


def _records(folder: Path) -> tuple[list[dict[str, Any]], Any]:
    """The history's events and the server's final state of a judged run's folder."""
    try:
        state = read_state(folder)
        events = read_history(folder)
    except FolderError as exc:
        raise ReportInputError(str(exc)) from None
    return events, state


def write_reports(
    folder: Path,
    meta: dict[str, Any],
    records: tuple[Sequence[Mapping[str, Any]], Mapping[str, Any]] | None,
) -> list[Path]:
    """Write a run's reports to its folder; returns the files written, in order.

    ``junit.xml`` always; with the history's events and the server's final state
    (``records``), also ``summary.md``, ``report.html`` and the plots ``summary.md`` shows
    (``REPORT_FIGURES``), and for a differential run ``twin.md``. ``hil run`` and ``hil
    report`` both write through here, so the
    two write the same files, byte for byte."""
    written = [folder / "junit.xml"]
    written[0].write_text(render_junit(meta))
    if records is None:
        return written
    report = render_report(*records, meta)
    (folder / "summary.md").write_text(report.markdown)
    (folder / "report.html").write_text(report.html)
    written += [folder / "summary.md", folder / "report.html"]
    for name, png in report.images.items():
        (folder / name).write_bytes(png)
        written.append(folder / name)
    if meta.get("twin"):  # a differential run (hil run --twin): its two phones side by side
        device, twin = meta["twin"]
        (folder / TWIN_FILE).write_text(twin_of_run(records[0], device, twin))
        written.append(folder / TWIN_FILE)
    return written


def rebuild(folder: Path) -> list[Path]:
    """Render the reports of the run in ``folder`` again; returns the files written.

    ``summary.md``, ``report.html`` and the plots need the server's final state, which an
    interrupted run does not have: then only ``junit.xml`` is written, as the run itself
    did."""
    meta = _meta(folder)
    if meta.get("interrupted"):
        return write_reports(folder, meta, None)
    return write_reports(folder, meta, _records(folder))


def diff(baseline: Path, candidate: Path, tolerance: float) -> tuple[str, bool]:
    """Compare the run in ``candidate`` against the one in ``baseline``: (Markdown, regressed)."""
    runs = []
    for folder in (baseline, candidate):
        meta = _meta(folder)
        if meta.get("interrupted"):
            raise ReportInputError(
                f"{folder}: the run was interrupted ({meta['interrupted'].get('signal')}) and "
                "was never judged; compare finished runs only"
            )
        events, state = _records(folder)
        runs.append((meta, run_figures(events, state, meta)))
    comparison = compare(runs[0], runs[1], tolerance)
    return render_diff(comparison, str(baseline), str(candidate)), comparison.regressed


def twin(folder: Path, phone_a: str, phone_b: str) -> str:
    """Two phones of the run in ``folder`` side by side, as Markdown
    (``reports.twin.twin_of_run``)."""
    _meta(folder)
    events, _ = _records(folder)
    config = next((e for e in events if e.get("kind") == "config"), None)
    phones = sorted((config or {}).get("phones", {}))
    for phone in (phone_a, phone_b):
        if phone not in phones:
            raise ReportInputError(
                f"{folder}: the run has no phone {phone!r}; its phones are "
                f"{', '.join(phones) or 'none'}"
            )
    return twin_of_run(events, phone_a, phone_b)


def tolerance_option(value: str) -> float:
    """``--tolerance``: a share such as ``5%`` or ``0.05``, from 0 to under 100 %."""
    text = value.strip()
    try:
        share = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a share; write it as 5% or 0.05"
        ) from None
    if not 0 <= share < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 0% and under 100%")
    return share


def add_parsers(sub: Any) -> None:
    """The ``report`` subcommand (``hil report RUN_DIR`` and ``hil report diff A B``)."""
    report = sub.add_parser(
        "report",
        help="write a run folder's reports again, or compare two runs (report diff A B) "
        "or two phones of one run (report twin RUN_DIR PHONE_A PHONE_B)",
        usage="hil report RUN_DIR\n       hil report diff A B [--tolerance PCT]\n"
        "       hil report twin RUN_DIR PHONE_A PHONE_B",
        description=(
            "hil report RUN_DIR renders a run's report (report.html, summary.md and its "
            "plot-*.png) and junit.xml again from what the run wrote (verdicts.json, "
            "history.jsonl.gz, server_state.json.gz; or an older run's history.jsonl and "
            "server_state.json), byte for byte as the run did, without running anything. "
            "hil report diff A B compares run B against baseline A (typically the "
            "same scenario and seed on two server builds): share sent, throughput, latency "
            "percentiles, per-phone fairness and oracle violations; a figure worse by more "
            "than --tolerance, or an oracle green in A and red in B, is a regression. "
            "hil report twin RUN_DIR PHONE_A PHONE_B prints two phones of one run side by "
            "side (typically a phone over ADB and its virtual twin): send cadence, batch "
            "sizes, status-sync delays and time in each Doze state, with B minus A. "
            "Exit codes: 0 written or no regression, 1 a regression, 2 not a run folder, a "
            "file that does not read, an unknown phone, or a bad option. A run folder named "
            "'diff' or 'twin' is written ./diff or ./twin."
        ),
    )
    report.add_argument(
        "folders",
        nargs="+",
        metavar="RUN_DIR",
        help="a hil run's --out folder; or 'diff' followed by two of them, baseline first; "
        "or 'twin' followed by one and two of its phones",
    )
    report.add_argument(
        "--tolerance",
        type=tolerance_option,
        default=None,
        metavar="PCT",
        help=f"with diff: how much worse B may be on a figure before it counts as a "
        f"regression (default {DEFAULT_TOLERANCE:.0%}; latencies are also allowed 1 s)",
    )


def report_command(args: argparse.Namespace) -> int:
    """``hil report RUN_DIR`` or ``hil report diff A B``."""
    folders: list[str] = args.folders
    is_diff = folders[0] == "diff"
    try:
        if folders[0] == "twin":
            return _twin_command(folders[1:], args)
        if is_diff and len(folders) != 3:
            raise ReportInputError(
                f"report diff takes two run folders, baseline first; got {len(folders) - 1}"
            )
        if not is_diff and len(folders) != 1:
            raise ReportInputError(
                f"report takes one run folder, or 'diff' and two; got {len(folders)} "
                f"({', '.join(folders)})"
            )
        if not is_diff and args.tolerance is not None:
            raise ReportInputError("--tolerance is for report diff A B only")
        if is_diff:
            tolerance = DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance
            text, regressed = diff(Path(folders[1]), Path(folders[2]), tolerance)
            print(text, end="")
            return EXIT_REGRESSED if regressed else EXIT_OK
        written = rebuild(Path(folders[0]))
    except ReportInputError as exc:
        print(f"hil report: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for path in written:
        print(path)
    return EXIT_OK


def _twin_command(words: Sequence[str], args: argparse.Namespace) -> int:
    """``hil report twin RUN_DIR PHONE_A PHONE_B``: print the two phones' table."""
    if len(words) != 3:
        raise ReportInputError(
            f"report twin takes a run folder and two of its phones; got {len(words)} argument(s)"
        )
    if args.tolerance is not None:
        raise ReportInputError("--tolerance is for report diff A B only")
    print(twin(Path(words[0]), words[1], words[2]), end="")
    return EXIT_OK
