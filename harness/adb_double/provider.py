"""The SMS content provider of the test double: ``content://sms`` read from the radio ledger.

Android keeps one ``sms`` table for every box (``Telephony.TextBasedSmsColumns``; reference
``android-and-testing.md`` §A8): ``type`` 1 inbox, 2 sent, 5 failed, one ``_id`` sequence
for all. When the gateway app (not the default SMS app) sends, the framework writes the
row itself, once per message whatever the telephony retries below it, with the sending
package as ``creator``. So a sent row is a ledger entry of cause ``"app"``: complete, it is
in ``sent``; partly sent, in ``failed``. Received SMS come in as the simulator's
``InboundReceived`` events.

The provider catches up with the ledger whenever it is read, so ids follow the order in
which the phone saw its messages, and stay put between queries. The ledger has no text: a
body is known only for the server SMS ids in ``bodies`` (``NULL`` otherwise).

``query`` answers ``content query`` (``cmds/content/.../Content.java``, ``QueryCommand``):
``--projection a:b``, ``--where`` as ``column OP value`` terms joined by ``AND`` (all this
double understands of SQL), ``--sort "column [ASC|DESC], ..."``, default ``date DESC``
(``Telephony.Sms.DEFAULT_SORT_ORDER``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from simulator import InboundReceived, RadioLedger, Transmission

from ..phone_facts import APP_PACKAGE

__all__ = ["BOXES", "COLUMNS", "QueryError", "SmsProvider"]

COLUMNS = (
    "_id",
    "thread_id",
    "address",
    "person",
    "date",
    "date_sent",
    "protocol",
    "read",
    "status",
    "type",
    "reply_path_present",
    "subject",
    "body",
    "service_center",
    "locked",
    "sub_id",
    "error_code",
    "creator",
    "seen",
)
# The URI's last segment -> the message type it selects (None: every box).
BOXES: dict[str, int | None] = {
    "": None,
    "inbox": 1,
    "sent": 2,
    "draft": 3,
    "outbox": 4,
    "failed": 5,
    "queued": 6,
}
INBOX, SENT, FAILED = 1, 2, 5
STATUS_NONE = -1

Row = dict[str, Any]

_TERM = re.compile(
    r"\s*(?P<col>\w+)\s*(?P<op><=|>=|!=|<>|=|<|>)\s*(?P<val>'(?:[^']|'')*'|-?\d+)\s*"
    r"(?P<tail>(?i:AND)\b|$)"
)
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class QueryError(ValueError):
    """A query the provider refuses (``android.database.sqlite.SQLiteException``)."""


class SmsProvider:
    """The ``sms`` table of one phone, fed by its radio ledger and its received SMS."""

    def __init__(
        self,
        phone: str,
        ledger: RadioLedger,
        epoch: datetime,
        bodies: dict[int, str],
    ) -> None:
        self.phone = phone
        self.ledger = ledger
        self.epoch = epoch
        self.bodies = bodies
        self._rows: list[Row] = []
        self._seen = 0  # ledger entries already looked at
        self._threads: dict[str, int] = {}

    def _millis(self, t: float) -> int:
        return round((self.epoch.timestamp() + t) * 1000)

    def _thread(self, address: str) -> int:
        return self._threads.setdefault(address, len(self._threads) + 1)

    def _add(self, row: Row) -> None:
        row["_id"] = len(self._rows) + 1
        self._rows.append({name: row.get(name) for name in COLUMNS})

    def _catch_up(self) -> None:
        for entry in islice(self.ledger, self._seen, None):
            self._seen += 1
            if entry.phone == self.phone and entry.cause == "app":
                self._add_sent(entry)

    def _add_sent(self, entry: Transmission) -> None:
        self._add(
            {
                "thread_id": self._thread(entry.recipient),
                "address": entry.recipient,
                "date": self._millis(entry.submitted),
                "date_sent": 0,
                "read": 1,
                "status": STATUS_NONE,
                "type": SENT if entry.complete else FAILED,
                "body": self.bodies.get(entry.sms_id) if entry.sms_id is not None else None,
                "locked": 0,
                "sub_id": entry.sim_slot + 1,
                "error_code": 0,
                "creator": APP_PACKAGE,
                "seen": 1,
            }
        )

    def receive(self, sms: InboundReceived, slot: int) -> None:
        """An SMS arrived in SIM ``slot``: its inbox row."""
        self._catch_up()  # what the radio sent before it keeps the lower ids
        when = datetime.strptime(sms.date, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        millis = round(when.timestamp() * 1000)
        self._add(
            {
                "thread_id": self._thread(sms.sender),
                "address": sms.sender,
                "date": millis,
                "date_sent": millis,
                "protocol": 0,
                "read": 0,
                "status": STATUS_NONE,
                "type": INBOX,
                "reply_path_present": 0,
                "body": sms.body,
                "locked": 0,
                "sub_id": slot + 1,
                "error_code": 0,
                "creator": "com.android.phone",
                "seen": 0,
            }
        )

    def query(
        self,
        box: str,
        projection: list[str] | None = None,
        where: str | None = None,
        sort: str | None = None,
    ) -> list[Row]:
        """The rows of ``box`` (a :data:`BOXES` key), as ``content query`` selects them."""
        self._catch_up()
        kind = BOXES[box]
        rows = [row for row in self._rows if kind is None or row["type"] == kind]
        columns = projection if projection else list(COLUMNS)
        for column in columns:
            if column not in COLUMNS:
                raise QueryError(f"no such column: {column}")
        for column, op, value in _terms(where):
            rows = [row for row in rows if _matches(row[column], op, value)]
        for column, descending in reversed(_order(sort or "date DESC")):
            rows.sort(key=lambda row: _sort_key(row[column]), reverse=descending)
        return [{column: row[column] for column in columns} for row in rows]


def _terms(where: str | None) -> list[tuple[str, str, Any]]:
    if not where or not where.strip():
        return []
    terms, pos = [], 0
    while pos < len(where):
        match = _TERM.match(where, pos)
        if match is None or match.end() == pos:
            raise QueryError(
                "the HIL test double understands only 'column OP value' terms joined by AND "
                f"in --where, not: {where}"
            )
        if match["col"] not in COLUMNS:
            raise QueryError(f"no such column: {match['col']}")
        raw = match["val"]
        value: Any = raw[1:-1].replace("''", "'") if raw.startswith("'") else int(raw)
        terms.append((match["col"], match["op"], value))
        pos = match.end()
        if match["tail"] and pos >= len(where):
            raise QueryError(f"the --where {where!r} ends in AND")
    return terms


def _matches(cell: Any, op: str, value: Any) -> bool:
    if cell is None:
        return False  # SQL: a comparison with NULL is never true
    if isinstance(value, int) and not isinstance(cell, int):
        return False
    if isinstance(value, str):
        cell = str(cell)
    return _OPS[op](cell, value)


def _order(sort: str) -> list[tuple[str, bool]]:
    keys = []
    for part in sort.split(","):
        words = part.split()
        if not words or len(words) > 2 or words[0] not in COLUMNS:
            raise QueryError(f"the sort order {sort!r} is not 'column [ASC|DESC], ...'")
        direction = words[1].upper() if len(words) == 2 else "ASC"
        if direction not in ("ASC", "DESC"):
            raise QueryError(f"the sort order {sort!r} is not 'column [ASC|DESC], ...'")
        keys.append((words[0], direction == "DESC"))
    return keys


def _sort_key(cell: Any) -> tuple[int, Any]:
    # SQLite sorts NULL first, then numbers, then text.
    if cell is None:
        return (0, 0)
    return (1, cell) if isinstance(cell, int) else (2, str(cell))
