"""Reports: run results (plain records, JSONL histories) to Markdown, HTML, PNG plots,
JUnit XML and capacity plans.

This part reads results only and is the only home of matplotlib. Nothing is implemented
here yet; see the project's issues.
"""

from __future__ import annotations

__all__: list[str] = []
