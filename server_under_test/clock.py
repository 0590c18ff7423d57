"""Clocks: where the server's idea of "now" comes from.

The server never calls ``datetime.now()`` in its domain code; it asks the clock it was
given. ``SystemClock`` is the wall clock; ``ManualClock`` is set from outside (the harness
sets it to the simulation's virtual time before each request, or a test moves it).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "ManualClock", "SystemClock", "to_naive_utc"]


@runtime_checkable
class Clock(Protocol):
    """Something that tells the current time as an aware UTC datetime."""

    def now(self) -> datetime:
        """Return the current time (timezone-aware, UTC)."""
        ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        """Return the wall-clock time in UTC."""
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to; safe to set from another thread."""

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


def _aware(when: datetime) -> datetime:
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def to_naive_utc(when: datetime) -> datetime:
    """Convert an aware datetime to the naive UTC form stored in the database."""
    return _aware(when).replace(tzinfo=None)
