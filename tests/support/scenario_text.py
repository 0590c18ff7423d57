"""Scenario files written in tests: the smallest valid head, and the problems a file has."""

from __future__ import annotations

import pytest

from scenarios import ScenarioError, loads

__all__ = ["BASE", "problems"]

# Lines 1-7; tests append tables from line 8 on.
BASE = """\
[scenario]
name = "t"
description = "A test."
max_duration = "2h"

[fleet]
count = 3
"""


def problems(text: str) -> list[str]:
    """Every problem the reader reports in ``text`` (read as ``t.toml``), in file order."""
    with pytest.raises(ScenarioError) as info:
        loads(text, file="t.toml")
    return [str(problem) for problem in info.value.problems]
