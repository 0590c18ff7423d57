"""Reports: run results (plain records, JSONL histories) to Markdown, HTML, PNG plots,
JUnit XML and capacity plans.

This part reads results only and is the only home of matplotlib. A run's report
(``render_report``: ``summary.md``, ``report.html`` and the plots the Markdown shows, listed
in ``REPORT_FIGURES``), its JUnit XML (``render_junit``), two runs compared
(``reports.diff``), two phones of one run side by side (``reports.twin``: a phone over
ADB and its virtual twin), and the measures a report and the harness's oracles and thresholds
state alike, defined here once since this part may import no other: the latency and its
percentile, when an SMS became final, what a transmission counts as (``reports.measures``),
run time against the calendar (``reports.run_clock``), and what sends put against a phone's
limits and Android's cap (``reports.limits``). ``reports.page`` holds the page primitives
every report shares; ``reports.plan`` renders ``hil plan``'s capacity plan.
"""

from __future__ import annotations

from .junit import render_junit
from .limits import (
    CapWindow,
    PartsUse,
    cap_windows,
    counts_toward_limits,
    first_whole,
    over_window,
    parts_use,
    window_totals,
)
from .measures import (
    TERMINAL,
    app_send,
    app_transmissions,
    ended_at,
    ended_sent,
    endpoint_of,
    enqueue_to_radio,
    first_acks,
    heartbeat_timeout,
    percentile,
    sent_whole,
)
from .plots import FIGURES as _FIGURES
from .run_clock import Calendar, month_of, run_time, utc_moment
from .summary import RunReport, render_report, render_summary

REPORT_FIGURES: tuple[str, ...] = tuple(_FIGURES)  # the PNG files next to summary.md

__all__ = [
    "REPORT_FIGURES",
    "TERMINAL",
    "Calendar",
    "CapWindow",
    "PartsUse",
    "RunReport",
    "app_send",
    "app_transmissions",
    "cap_windows",
    "counts_toward_limits",
    "ended_at",
    "ended_sent",
    "endpoint_of",
    "enqueue_to_radio",
    "first_acks",
    "first_whole",
    "heartbeat_timeout",
    "month_of",
    "over_window",
    "parts_use",
    "percentile",
    "render_junit",
    "render_report",
    "render_summary",
    "run_time",
    "sent_whole",
    "utc_moment",
    "window_totals",
]
