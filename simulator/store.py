"""The app's persistent side: the local status store (``GS/SmsStatusDb.kt``), its sync
backoff ladder, and the texts the app writes for failed parts (``reference-system.md``
§5.5-§5.7). It survives process death; the app's in-memory trackers do not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["StatusStore", "due", "error_reason"]

_ERROR_NAMES = {
    1: "GENERIC_FAILURE",
    2: "RADIO_OFF",
    3: "NULL_PDU",
    4: "NO_SERVICE",
    7: "SHORT_CODE_NOT_ALLOWED",
    8: "SHORT_CODE_NEVER_ALLOWED",
}


def error_reason(code: int) -> str:
    """The app's text for a failed part (``getSmsErrorReason``)."""
    return _ERROR_NAMES.get(code, f"UNKNOWN_ERROR_{code}")


@dataclass
class _Row:
    status: str
    error: str | None
    created: float
    attempts: int = 0
    synced: bool = False


@dataclass
class StatusStore:
    """``sms_status_log``: one row per SMS id, REPLACE on write, unsynced rows in age order."""

    rows: dict[int, _Row] = field(default_factory=dict)
    unsynced: dict[int, None] = field(default_factory=dict)  # insertion order = created_at

    def put(self, sms_id: int, status: str, error: str | None, now: float) -> None:
        """``insertOrUpdate``: REPLACE resets synced, attempts and created_at."""
        self.rows[sms_id] = _Row(status, error, now)
        self.unsynced.pop(sms_id, None)
        self.unsynced[sms_id] = None

    def oldest(self, limit: int) -> list[int]:
        """``getUnsynced(limit)``: the oldest unsynced ids."""
        out: list[int] = []
        for sms_id in self.unsynced:
            out.append(sms_id)
            if len(out) == limit:
                break
        return out

    def mark_synced(self, ids: list[int]) -> None:
        """``markSynced``: synced now, one more attempt."""
        for sms_id in ids:
            row = self.rows.get(sms_id)
            if row is not None and sms_id in self.unsynced:
                row.synced = True
                row.attempts += 1
                del self.unsynced[sms_id]

    def items(self, ids: list[int]) -> list[dict[str, object]]:
        """The confirm items of these rows: ``{id, status, error_message?}`` (GS:576-583)."""
        out: list[dict[str, object]] = []
        for sms_id in ids:
            row = self.rows[sms_id]
            item: dict[str, object] = {"id": sms_id, "status": row.status}
            if row.error:
                item["error_message"] = row.error
            out.append(item)
        return out

    def failed(self, ids: list[int]) -> None:
        """``incrementSyncAttempts`` after an HTTP failure."""
        for sms_id in ids:
            row = self.rows.get(sms_id)
            if row is not None:
                row.attempts += 1


def due(attempts: int, cycle: int) -> bool:
    """The sync backoff ladder: 0-2 always, 3-5 every 10th, 6-9 every 100th, 10+ every 600th
    cycle of 3 s."""
    if attempts < 3:
        return True
    if attempts < 6:
        return cycle % 10 == 0
    if attempts < 10:
        return cycle % 100 == 0
    return cycle % 600 == 0
