"""The radio ledger: every transmission that leaves a phone, the oracles' ground truth.

The server's view (``sent`` in its database) is an opinion; the ledger is what the radio
did. Each entry is one attempt to transmit one message: a telephony retry that re-sends a
message is a second entry (that is how duplicates below the app are seen).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["RadioLedger", "Transmission"]


@dataclass(frozen=True)
class Transmission:
    """One message leaving a phone's radio."""

    at: float  # virtual seconds since the start of the run
    phone: str  # the virtual phone's name
    sim_slot: int
    sim_number: str
    recipient: str
    sms_id: int | None  # the server's id; None for a message the gateway did not send
    uuid: str | None
    parts: int
    parts_sent: int  # parts that reached the network; < parts for a partial send
    cause: str = "app"  # "app", or "telephony_retry" for a retry below the app

    def __post_init__(self) -> None:
        if not 0 <= self.parts_sent <= self.parts or self.parts < 1:
            raise ValueError(
                f"A transmission sends between 0 and its {self.parts} part(s), "
                f"not {self.parts_sent}."
            )

    @property
    def complete(self) -> bool:
        """Every part left the phone: the recipient gets the whole message."""
        return self.parts_sent == self.parts


class RadioLedger:
    """An append-only record of transmissions, in the order they happened."""

    def __init__(self) -> None:
        self._entries: list[Transmission] = []

    def record(self, entry: Transmission) -> None:
        """Append a transmission; time never goes backwards in a ledger."""
        if self._entries and entry.at < self._entries[-1].at:
            raise ValueError(
                f"A transmission at {entry.at} s cannot follow one at {self._entries[-1].at} s."
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
        """Plain dictionaries, for a JSONL history."""
        return [asdict(entry) for entry in self._entries]
