"""The run's history: one event per thing that happened, in virtual-time order.

Events are written as typed records (``simulator.events``) and kept as plain dicts,
``{"t": ..., "kind": ..., <fields>}``, exactly the JSON line each becomes. The radio
ledger's entries are the ``radio`` events. Oracles and reports read nothing else (plus the
server's final state), so a history written as JSONL can be judged again without
re-running; :func:`load_history` is the one reader of such a file, plain or gzip-compressed
(a run folder's ``history.jsonl.gz``: told by its first bytes, not its name).
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .events import Event, HistoryError, decode

__all__ = ["History", "iter_history", "load_history"]


class History:
    """An append-only list of events, each kept as its JSON-ready dict."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self._listeners: list[Callable[[Event], None]] = []

    def emit(self, event: Event) -> dict[str, Any]:
        """Record an event, then tell the listeners; returns the dict the history keeps."""
        row = event.to_dict()
        self.events.append(row)
        for listener in self._listeners:
            listener(event)
        return row

    def subscribe(self, listener: Callable[[Event], None]) -> None:
        """Call ``listener`` with every event emitted from now on, on the emitting thread
        (a mirror of a phone outside the simulation follows it so)."""
        self._listeners.append(listener)

    def of_kind(self, kind: str) -> Iterator[dict[str, Any]]:
        """The events of one kind, in order."""
        return (e for e in self.events if e["kind"] == kind)

    def __len__(self) -> int:
        return len(self.events)


_GZIP_MAGIC = b"\x1f\x8b"  # the first two bytes of every gzip file (RFC 1952)


def iter_history(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """The events of a ``history.jsonl`` (or of its gzip-compressed form) one at a time, as
    plain dicts, each checked against its kind's class.

    Raises :class:`~simulator.events.HistoryError` naming the file and line of the first
    line that is not JSON or not a known event, or naming a compressed file that breaks off.
    """
    source = Path(path)
    with source.open("rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
    try:
        with (
            gzip.open(source, "rt", encoding="utf-8")
            if compressed
            else source.open(encoding="utf-8")
        ) as fh:
            yield from _events(source, fh)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise HistoryError(
            f"{source} is not a whole gzip file ({exc}); it was cut short or damaged."
        ) from exc


def _events(source: Path, lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise HistoryError(f"Line {number} of {source} is not JSON: {exc}.") from exc
        if not isinstance(row, dict):
            raise HistoryError(
                f"Line {number} of {source} is not an event: a JSON object is expected."
            )
        try:
            decode(row)
        except HistoryError as exc:
            raise HistoryError(f"Line {number} of {source}: {exc}") from exc
        yield row


def load_history(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every event of a ``history.jsonl`` (or of its gzip-compressed form), in order, as
    plain dicts (see :func:`iter_history`)."""
    return list(iter_history(path))
