"""Clocks: where the server's idea of "now" comes from.

The server never calls ``datetime.now()`` in its domain code; it asks the clock it was
given. ``SystemClock`` is the wall clock; ``ScaledClock`` runs ``scale`` times faster than
the wall clock from a chosen start (``hil serve --time-scale K``: a 6-hour campaign against
a real process in minutes); ``ManualClock`` is set from outside (the harness sets it to the
simulation's virtual time before each request, or a test moves it).

``scale`` says how many clock seconds pass per wall second (``None``: the clock moves only
when told), so the job scheduler knows how long to sleep and clients can learn the pace.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "ScaledClock", "SystemClock", "to_naive_utc"]


@runtime_checkable
class Clock(Protocol):
    """Something that tells the current time as an aware UTC datetime."""

    scale: float | None  # clock seconds per wall second; None: moves only when set

    def now(self) -> datetime:
        """Return the current time (timezone-aware, UTC)."""
        ...


class SystemClock:
    """The wall clock."""

    scale: float | None = 1.0

    def now(self) -> datetime:
        """Return the wall-clock time in UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; safe to set from another thread."""

    scale: float | None = None

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._now = _aware(start or datetime(2026, 1, 1, 8, 0, tzinfo=UTC))

    def now(self) -> datetime:
        """Return the time last set."""
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        """Set the time. Moving backwards is allowed (the harness may replay)."""
        with self._lock:
            self._now = _aware(when)

    def advance(self, delta: timedelta | float) -> datetime:
        """Move forward by a timedelta or a number of seconds; return the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        with self._lock:
            self._now = self._now + step
            return self._now


class ScaledClock:
    """The wall clock run ``scale`` times faster: ``start`` at wall time ``epoch`` (Unix
    seconds). Every worker process given the same three numbers tells the same time."""

    def __init__(self, start: datetime, scale: float, epoch: float | None = None) -> None:
        if not scale > 0:
            raise ValueError(f"The time scale must be positive, got {scale}.")
        self.start = _aware(start)
        self.scale: float | None = float(scale)
        self.epoch = time.time() if epoch is None else epoch

    def now(self) -> datetime:
        """``start`` plus the wall seconds since ``epoch`` times ``scale``."""
        return self.start + timedelta(seconds=(time.time() - self.epoch) * float(self.scale or 1))


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def to_naive_utc(when: datetime) -> datetime:
    """Convert an aware datetime to the naive UTC form stored in the database."""
    return _aware(when).replace(tzinfo=None)
