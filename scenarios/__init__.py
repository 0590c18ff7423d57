"""Scenarios: what to run (fleet, workload, faults, expectations) and their loader.

A scenario is a TOML file (format: ``scenarios/README.md``) that the loader turns into a
``Scenario``: a ``simulator.config.WorldSpec`` plus the workload (``Batch``), the operator's
actions on the server (``Action``), the server's defect switches and what the run must show
(``Expect``). ``load("smoke")`` reads a packaged
catalogue scenario (``smoke``, ``dual-sim``, ``doze-night``, ``lost-callbacks``,
``android-cap``, ``stop-race``, ``campaign-100k``; see ``catalogue()``), ``load(path)`` any
file and ``loads(text)`` a string. Every problem in a file is reported at once in one
``ScenarioError``, each ``Problem`` naming the file, the line, the dotted field and the
reason.

Errors: ``ScenarioError`` (attributes ``file``, ``line``, ``field``, ``reason`` of the
first ``Problem`` and ``problems``, the full list) is the only exception this part raises.
"""

from __future__ import annotations

from .errors import Problem, ScenarioError
from .fields import evenly_spread, format_duration, parse_duration, parse_share
from .fleet import DOUBLE_SERIAL, RESULT_CODES, Device
from .loader import catalogue, load, loads
from .model import (
    ACTIONS,
    DEFECTS,
    DELIVERIES,
    HITS,
    ORACLES,
    Action,
    Batch,
    Expect,
    Scenario,
)

__all__ = [
    "ACTIONS",
    "DEFECTS",
    "DELIVERIES",
    "DOUBLE_SERIAL",
    "HITS",
    "ORACLES",
    "RESULT_CODES",
    "Action",
    "Batch",
    "Device",
    "Expect",
    "Problem",
    "Scenario",
    "ScenarioError",
    "catalogue",
    "evenly_spread",
    "format_duration",
    "load",
    "loads",
    "parse_duration",
    "parse_share",
]
