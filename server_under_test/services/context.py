"""What every service needs besides its connection: the clock, the settings, the ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..clock import Clock, to_naive_utc
from ..ids import IdSource
from ..settings import Settings

__all__ = ["Context"]


@dataclass(frozen=True)
class Context:
    """The injected collaborators of the domain services."""

    clock: Clock
    settings: Settings
    ids: IdSource

    def now(self) -> datetime:
        """The current time as stored in the database (naive UTC)."""
        return to_naive_utc(self.clock.now())
