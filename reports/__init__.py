"""Reports: run results (plain records, JSONL histories) to Markdown, HTML, PNG plots and
JUnit XML.

This part reads results only and is the only home of matplotlib. A run's report
(``render_report``: ``summary.md``, ``report.html`` and the plots the Markdown shows, listed
in ``REPORT_FIGURES``), its JUnit XML (``render_junit``), two runs compared
(``reports.diff``), and the measures a report and the harness's thresholds state alike
(``percentile``, ``enqueue_to_radio``, ``endpoint_of``). ``reports.page`` holds the page
primitives every report shares.
"""

from __future__ import annotations

from .junit import render_junit
from .measures import endpoint_of, enqueue_to_radio, percentile
from .plots import FIGURES as _FIGURES
from .summary import RunReport, render_report, render_summary

REPORT_FIGURES: tuple[str, ...] = tuple(_FIGURES)  # the PNG files next to summary.md

__all__ = [
    "REPORT_FIGURES",
    "RunReport",
    "endpoint_of",
    "enqueue_to_radio",
    "percentile",
    "render_junit",
    "render_report",
    "render_summary",
]
