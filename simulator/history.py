"""The run's history: one plain event per thing that happened, in virtual-time order.

Each event is a dict with ``t`` (virtual seconds since the start, rounded to the
microsecond) and ``kind``; the rest are JSON-ready fields. The radio ledger's entries are
events of kind ``radio``. Oracles and reports read nothing else (plus the server's final
state), so a history written as JSONL can be judged again without re-running.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["History"]


class History:
    """An append-only list of events."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, t: float, kind: str, **fields: Any) -> dict[str, Any]:
        """Record an event at virtual time ``t``."""
        event = {"t": round(t, 6), "kind": kind, **fields}
        self.events.append(event)
        return event

    def of_kind(self, kind: str) -> Iterator[dict[str, Any]]:
        """The events of one kind, in order."""
        return (e for e in self.events if e["kind"] == kind)

    def __len__(self) -> int:
        return len(self.events)
