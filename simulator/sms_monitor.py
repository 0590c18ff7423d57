"""Android's outgoing SMS cap: ``SmsUsageMonitor`` (AOSP telephony), one per SIM slot.

Facts (reference/android-and-testing.md §A5.1): per package, a list of send timestamps;
entries older than ``now - period`` are pruned; a message of ``n`` parts passes if
``len(timestamps) + n <= max_count`` and only then are ``n`` timestamps recorded. Over the
cap the system holds the message behind a confirmation dialog; at most five messages may
wait there, the sixth and later fail at once with ``RESULT_ERROR_LIMIT_EXCEEDED`` (5). The
default SMS app is never limited. The monitor reads its settings once, at creation.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

__all__ = ["PRESETS", "SmsCap", "SmsUsageMonitor", "Verdict"]


@dataclass(frozen=True)
class SmsCap:
    """``sms_outgoing_check_max_count`` parts per ``sms_outgoing_check_interval_ms``."""

    max_count: int
    period: float  # seconds

    def __post_init__(self) -> None:
        if self.max_count < 1 or self.period <= 0:
            raise ValueError(
                f"An SMS cap needs max_count >= 1 and period > 0, not {self.max_count} per "
                f"{self.period} s."
            )


PRESETS: dict[str, SmsCap] = {
    "modern": SmsCap(30, 60.0),  # AOSP default since 2012
    "legacy": SmsCap(30, 1800.0),  # before 2012: 30 per 30 min
    "granted": SmsCap(1000, 60.0),  # what the app writes with WRITE_SECURE_SETTINGS
}


class Verdict(Enum):
    """What Android does with a message at the cap check."""

    SEND = "send"  # under the cap: sent now, its parts recorded
    HOLD = "hold"  # over the cap: held behind the confirmation dialog
    REFUSE = "refuse"  # over the cap with five already held: LIMIT_EXCEEDED at once


class SmsUsageMonitor:
    """The cap of one SIM slot for one app."""

    QUEUE_LIMIT = 5  # SMSDispatcher.MO_MSG_QUEUE_LIMIT

    def __init__(self, cap: SmsCap, *, exempt: bool = False) -> None:
        self.cap = cap
        self.exempt = exempt
        self._stamps: deque[float] = deque()
        self._held = 0

    @property
    def held(self) -> int:
        """Messages waiting behind the confirmation dialog."""
        return self._held

    def used(self, now: float) -> int:
        """Parts counted in the window ending at ``now``."""
        self._prune(now)
        return len(self._stamps)

    def check(self, now: float, parts: int) -> Verdict:
        """Ask to send a message of ``parts`` parts at time ``now`` (seconds)."""
        if parts < 1:
            raise ValueError(f"A message has at least one part, not {parts}.")
        if self.exempt:
            return Verdict.SEND
        self._prune(now)
        if len(self._stamps) + parts <= self.cap.max_count:
            self._stamps.extend([now] * parts)
            return Verdict.SEND
        if self._held >= self.QUEUE_LIMIT:
            return Verdict.REFUSE
        self._held += 1
        return Verdict.HOLD

    def answer(self, *, allowed: bool) -> Verdict:
        """The dialog for the oldest held message is answered.

        "Allow" sends it without recording its parts; "Don't allow" (or a dismissal)
        fails every part with LIMIT_EXCEEDED.
        """
        if self._held == 0:
            raise ValueError("No message is held behind the SMS confirmation dialog.")
        self._held -= 1
        return Verdict.SEND if allowed else Verdict.REFUSE

    def _prune(self, now: float) -> None:
        horizon = now - self.cap.period
        while self._stamps and self._stamps[0] < horizon:
            self._stamps.popleft()
