"""Scenarios: what to run (fleet, workload, faults, expectations) and their loader.

This part will hold the TOML scenario catalogue (``smoke``, ``dual-sim``, ``doze-night``,
``lost-callbacks``, ``android-cap``, ``stop-race``, ``campaign-100k``) and the loader that
validates a scenario file with errors naming the file, the field and the reason.

Nothing is implemented here yet; see the project's issues.
"""

from __future__ import annotations

__all__: list[str] = []
