"""Reports: run results (plain records, JSONL histories) to Markdown, HTML, PNG plots and
JUnit XML.

This part reads results only and is the only home of matplotlib. The run summary
(``render_summary``), its JUnit XML (``render_junit``), two runs compared
(``reports.diff``), and the measures a report and the harness's thresholds state alike
(``percentile``, ``enqueue_to_radio``, ``endpoint_of``). ``reports.page`` holds the page
primitives every report shares.
"""

from __future__ import annotations

from .junit import render_junit
from .measures import endpoint_of, enqueue_to_radio, percentile
from .summary import render_summary

__all__ = ["endpoint_of", "enqueue_to_radio", "percentile", "render_junit", "render_summary"]
