"""The radio ledger: every transmission that leaves a phone, the oracles' ground truth.

The server's view (``sent`` in its database) is an opinion; the ledger is what the radio
did. Each entry is one attempt to transmit one message: a telephony retry that re-sends a
message is a second entry (that is how duplicates below the app are seen). An entry is the
``radio`` event itself (:class:`~simulator.events.Transmission`): the radio writes one
object to both the ledger and the history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from .events import Transmission

__all__ = ["RadioLedger", "Transmission"]


class RadioLedger:
    """An append-only record of transmissions, in the order they happened."""

    def __init__(self) -> None:
        self._entries: list[Transmission] = []

    def record(self, entry: Transmission) -> None:
        """Append a transmission; time never goes backwards in a ledger."""
        if self._entries and entry.t < self._entries[-1].t:
            raise ValueError(
                f"A transmission at {entry.t} s cannot follow one at {self._entries[-1].t} s."
            )
        self._entries.append(entry)

    def __iter__(self) -> Iterator[Transmission]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def by_sms(self) -> dict[int, list[Transmission]]:
        """The transmissions of each server SMS id (complete or not)."""
        grouped: dict[int, list[Transmission]] = defaultdict(list)
        for entry in self._entries:
            if entry.sms_id is not None:
                grouped[entry.sms_id].append(entry)
        return dict(grouped)

    def to_records(self) -> list[dict[str, Any]]:
        """The entries as the history's ``radio`` lines."""
        return [entry.to_dict() for entry in self._entries]
