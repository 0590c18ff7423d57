"""Run time against the calendar: the rules by which a run's records are placed in time,
defined once for the oracles (``harness``) and the reports alike.

- :func:`utc_moment`: a timestamp as the history and the server write it (ISO 8601, ``Z`` or
  an offset; naive means UTC), as an aware UTC datetime;
- :func:`run_time`: a server timestamp as seconds since the run's start;
- :class:`Calendar`: the local calendar day of a run time, and the run time of a local
  midnight (the days a phone's daily limit counts in);
- :func:`month_of`: the limit month a local day falls in, months starting on a given day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

__all__ = ["Calendar", "month_of", "run_time", "utc_moment"]


def utc_moment(text: Any) -> datetime:
    """A timestamp (ISO 8601; ``Z``, an offset, or naive meaning UTC) as an aware UTC
    datetime; ValueError when it does not parse."""
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def run_time(start: datetime, server_time: Any) -> float | None:
    """A server timestamp (ISO, naive = UTC) as seconds since the run's ``start``; None when
    there is none or it does not parse."""
    if not server_time:
        return None
    try:
        moment = utc_moment(server_time)
    except ValueError:
        return None
    return (moment - start).total_seconds()


class Calendar:
    """Local calendar days of run times, converting only when a day boundary is crossed."""

    def __init__(self, start: datetime, tz: tzinfo) -> None:
        self._start = start
        self._tz = tz
        self._lo = self._hi = 0.0  # an empty range: the first call converts
        self._day = date.min

    def day(self, t: float) -> date:
        """The local calendar day of run time ``t``."""
        if not self._lo <= t < self._hi:
            self._day = (self._start + timedelta(seconds=t)).astimezone(self._tz).date()
            self._lo = self.midnight(self._day)
            self._hi = self.midnight(self._day + timedelta(days=1))
        return self._day

    def midnight(self, day: date) -> float:
        """The run time of the local midnight that begins ``day``."""
        return (datetime.combine(day, time(), tzinfo=self._tz) - self._start).total_seconds()


def month_of(day: date, start_day: int) -> tuple[int, int]:
    """The (year, month) of the limit month ``day`` falls in, months starting on
    ``start_day``: with 15, 2026-03-14 belongs to February's month."""
    if day.day >= start_day:
        return day.year, day.month
    return (day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1)
