"""What a virtual phone sees of the world around it: its clock, the history, FCM's token
registry and the recipients' STOP words — not the whole ``World``.

A phone is built from this narrow context plus its own parts (Android's Doze and radio,
its network link), so the same ``GatewayApp`` can run in any environment that supplies
them: the virtual world of ``world.py`` today, a wall-clock one tomorrow (issue 10).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import simpy

from .history import History

__all__ = ["PhoneContext", "PushRegistry", "Pushable", "WallClock"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Pushable(Protocol):
    """A phone that FCM can deliver an ``sms_pending`` data message to."""

    name: str

    def on_push(self) -> None:
        """The data message arrived."""
        ...


class PushRegistry(Protocol):
    """FCM's side of a phone's token (``onNewToken``)."""

    def register(self, token: str, phone: Pushable) -> None:
        """From now on, pushes to ``token`` reach ``phone``."""
        ...


@dataclass(frozen=True)
class WallClock:
    """Simulation seconds as the phone's wall-clock time (``System.currentTimeMillis``)."""

    start: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("The world's start time needs a timezone.")

    def epoch_ms(self, t: float) -> int:
        """Virtual time ``t`` as Unix milliseconds."""
        return int((self.start - _EPOCH).total_seconds() * 1000) + int(t * 1000)

    def iso(self, epoch_ms: int) -> str:
        """Unix milliseconds as ``YYYY-MM-DDTHH:MM:SSZ``."""
        return (_EPOCH + timedelta(milliseconds=epoch_ms)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class PhoneContext:
    """The world as one phone sees it."""

    env: simpy.Environment
    history: History
    clock: WallClock
    push: PushRegistry | None  # None: FCM is off
    stop_words: tuple[str, ...]
