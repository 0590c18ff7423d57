"""Ground truth from a phone over ADB: its SMS provider and the app's log as history events.

A phone's own record of what left its radio is the SMS provider: when an app that is not the
default SMS app sends, the framework writes one row per message (``sent``, or ``failed``),
with the recipient, the time and the SIM's subscription (reference ``android-and-testing.md``
§A8); received SMS are in ``inbox``. What the row lacks is the server's SMS id. The gateway
app logs it, in the order it hands messages to Android: ``SMS <id>: submitted <n> part(s)
to SmsManager`` (``phone_facts.LOG_LINES``, ``SmsGatewayService.kt:934``). So
:func:`ledger_of` links the rows the app wrote, in the order of their ``date`` (the
framework writes a row when the send has ended, dated when the app handed it over), each
to the next ``submitted`` line not later than the row (and, when the harness knows which
number each SMS id goes to, with the same recipient); a row that no line explains keeps
``sms_id`` ``None``: a message the gateway did not send, which is what the oracles make of
it.

Read with: ``content query --uri content://sms/sent|failed|inbox --projection ...`` (rows
``Row: N col=value, ...`` joined by ``, ``, ``NULL`` for null, integers through
``Cursor.getLong``, ``No result found.`` for none: ``QueryCommand.onExecute`` of
``cmds/content/src/com/android/commands/content/Content.java``, Android 12+ as in
Neoteric-OS/android_frameworks_base 1d65117c; the body is asked for last because a value is
printed raw, ``, `` and line breaks included) and ``logcat -d -v threadtime -v epoch``
(``SECONDS.mmm  PID  TID L TAG     : message``, the seconds right-aligned in 19 columns:
``"%19lld"`` and ``"%s %s%5d %5d %c %-8.*s: "`` in ``liblog/logprint.cpp``, system/logging
android-12.0.0_r1 to android-14.0.0_r1). The result is the history's own
events (``radio``, ``inbound_received``, ``app_start``, ``tracker_timeout``), so the oracles
judge a phone over ADB by the same rules as a virtual one.

Only what is dated from the run's start (t = 0) on is the run's: a phone in service keeps
rows and log lines of its life before (earlier runs; the pairing that preceded this one).
The phone's clock is taken to agree with this machine's (NTP keeps both within a second).

Limits: a row's ``sub_id`` is taken as slot + 1 (true on a single-SIM phone and on the test
double; on a dual-SIM phone subscription ids are per SIM card and may differ); a row's
time is when the framework wrote it (the submit), not when the radio finished; a failed
row counts the parts the app's log saw sent.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import adbutils

from simulator import AppStart, Event, InboundReceived, TrackerTimeout, Transmission
from simulator.config import SimSpec

from .devices import COMMAND_TIMEOUT, AdbUnavailable
from .evidence import canonical
from .phone_facts import APP_PACKAGE, APP_TAG, APP_VERSION, LOG_LINES

__all__ = [
    "LogEntry",
    "PhoneTruth",
    "SmsRow",
    "ledger_of",
    "parse_logcat",
    "parse_rows",
    "read_log",
    "read_truth",
]

PROJECTION = ("_id", "address", "date", "type", "sub_id", "creator", "body")  # body last
SENT, FAILED, INBOX = 2, 5, 1
_ROW = re.compile(r"^Row: \d+ ", re.M)
_THREADTIME = re.compile(
    r"^\s*(?:(?P<epoch>\d+\.\d{3})|(?P<month>\d\d)-(?P<day>\d\d) "
    r"(?P<clock>\d\d:\d\d:\d\d\.\d{3}))\s+(?P<pid>\d+)\s+"
    r"(?P<tid>\d+) (?P<level>[VDIWEF]) (?P<tag>.*?)\s*: (?P<message>.*)$"
)


def _template(key: str) -> re.Pattern[str]:
    """A ``LOG_LINES`` template as a regular expression with named groups."""
    pattern = re.escape(LOG_LINES[key])
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m[1]}>.+?)", pattern) + "$")


_LINES = {key: _template(key) for key in ("start", "submitted", "part_ok", "swept")}


@dataclass(frozen=True)
class SmsRow:
    """One row of the SMS provider."""

    id: int
    address: str
    date: int  # milliseconds since 1970
    type: int
    sub_id: int | None
    creator: str | None
    body: str | None


@dataclass(frozen=True)
class LogEntry:
    """One line of the app's log."""

    t: float  # virtual seconds since the run's start
    level: str
    tag: str
    message: str


@dataclass
class PhoneTruth:
    """What one phone's own records say it did, as history events in time order."""

    radio: list[Transmission] = field(default_factory=list)
    inbound: list[InboundReceived] = field(default_factory=list)
    app: list[Event] = field(default_factory=list)
    unlinked: int = 0  # rows no log line explains (sms_id None)

    @property
    def events(self) -> list[Event]:
        """Every event, by time (stable: radio, then inbound, then the app's)."""
        return sorted([*self.radio, *self.inbound, *self.app], key=lambda event: event.t)


def parse_rows(text: str) -> list[SmsRow]:
    """The rows of ``content query --projection _id:address:date:type:sub_id:creator:body``
    (the body last: it may hold ``, `` and line breaks)."""
    if text.strip() in ("", "No result found."):
        return []
    rows = []
    marks = list(_ROW.finditer(text))
    starts = [m.end() for m in marks]
    ends = [*(m.start() for m in marks[1:]), len(text)]
    for start, end in zip(starts, ends, strict=True):
        chunk = text[start:end].removesuffix("\n")
        cells: dict[str, str] = {}
        for index, column in enumerate(PROJECTION):
            if not chunk.startswith(f"{column}="):
                raise ValueError(f"A content row lacks {column}: {text[start:end]!r}")
            chunk = chunk[len(column) + 1 :]
            if index == len(PROJECTION) - 1:
                cells[column] = chunk
                break
            value, sep, chunk = chunk.partition(f", {PROJECTION[index + 1]}=")
            cells[column] = value
            chunk = PROJECTION[index + 1] + "=" + chunk if sep else chunk
        rows.append(
            SmsRow(
                id=int(cells["_id"]),
                address=cells["address"],
                date=int(cells["date"]),
                type=int(cells["type"]),
                sub_id=_int_or_none(cells["sub_id"]),
                creator=None if cells["creator"] == "NULL" else cells["creator"],
                body=None if cells["body"] == "NULL" else cells["body"],
            )
        )
    return rows


def _int_or_none(value: str) -> int | None:
    return None if value == "NULL" else int(value)


def parse_logcat(text: str, epoch: datetime) -> list[LogEntry]:
    """The ``threadtime`` lines of ``logcat -d``, timed in seconds since ``epoch``: with
    ``-v epoch`` (what :func:`read_truth` asks for) in seconds since 1970, else a date read
    as UTC in the epoch's year (the next one for a month before the epoch's)."""
    entries = []
    for line in text.splitlines():
        match = _THREADTIME.match(line)
        if match is None:
            continue  # "--------- beginning of main" and the like
        if match["epoch"] is not None:
            seconds = float(match["epoch"])
        else:
            year = epoch.year + (int(match["month"]) < epoch.month)
            seconds = (
                datetime.strptime(
                    f"{year}-{match['month']}-{match['day']} {match['clock']}",
                    "%Y-%m-%d %H:%M:%S.%f",
                )
                .replace(tzinfo=UTC)
                .timestamp()
            )
        entries.append(
            LogEntry(
                t=round(seconds - epoch.timestamp(), 3),
                level=match["level"],
                tag=match["tag"],
                message=match["message"],
            )
        )
    return entries


def ledger_of(
    phone: str,
    sims: Sequence[SimSpec],
    epoch: datetime,
    rows: Sequence[SmsRow],
    log: Sequence[LogEntry],
    numbers: Mapping[int, str] | None = None,
) -> PhoneTruth:
    """The phone's rows and its app's log as history events (see the module docstring).
    ``numbers``: the recipient of each server SMS id, where the harness knows it."""
    truth = PhoneTruth()
    submits: list[tuple[float, int, int]] = []  # (t, sms id, parts)
    parts_ok: dict[int, int] = {}
    for entry in log:
        if entry.tag != APP_TAG:
            continue
        if match := _LINES["start"].match(entry.message):
            truth.app.append(AppStart(t=entry.t, phone=phone, app=APP_VERSION))
        elif match := _LINES["submitted"].match(entry.message):
            submits.append((entry.t, int(match["sms_id"]), int(match["parts"])))
        elif match := _LINES["part_ok"].match(entry.message):
            of = int(match["sms_id"])
            parts_ok[of] = parts_ok.get(of, 0) + 1
        elif match := _LINES["swept"].match(entry.message):
            truth.app.append(
                TrackerTimeout(
                    t=entry.t,
                    phone=phone,
                    sms_id=int(match["sms_id"]),
                    sent=int(match["sent"]),
                    total=int(match["total"]),
                )
            )
    base = epoch.timestamp()
    used = 0  # submits before this one are spent (or never made a row)
    # by date, the submit: the framework writes a row when the send ends (onSent, onFailed)
    # but dates it when the app handed it over, the order of the app's log lines
    for row in sorted(rows, key=lambda r: (r.date, r.id)):
        t = round(row.date / 1000 - base, 3)
        slot = _slot(row.sub_id, len(sims))
        if row.type == INBOX:
            truth.inbound.append(
                InboundReceived(
                    t=t,
                    phone=phone,
                    sender=row.address,
                    body=row.body or "",
                    date=datetime.fromtimestamp(row.date / 1000, UTC).strftime(
                        "%Y-%m-%dT%H:%M:%SZ"
                    ),
                    sim_number=sims[slot].number,
                )
            )
            continue
        if row.type not in (SENT, FAILED) or row.creator not in (None, APP_PACKAGE):
            continue
        sms_id: int | None = None
        parts = 1
        for index in range(used, len(submits)):
            at, candidate, count = submits[index]
            if at > t + 1.0:  # the log's and the provider's clocks: same phone, ms apart
                break
            if numbers is None or canonical(numbers.get(candidate, "")) == canonical(row.address):
                sms_id, parts, used = candidate, count, index + 1
                break
        if sms_id is None:
            truth.unlinked += 1
        sent = parts if row.type == SENT else min(parts, parts_ok.get(sms_id or -1, 0))
        if sent == 0:
            continue  # nothing left the radio
        truth.radio.append(
            Transmission(
                t=t,
                phone=phone,
                sim_slot=slot,
                sim_number=sims[slot].number,
                recipient=row.address,
                sms_id=sms_id,
                uuid=None,
                parts=parts,
                parts_sent=sent,
                cause="app",
                submitted=t,
            )
        )
    truth.radio.sort(key=lambda entry: entry.t)
    return truth


def _slot(sub_id: int | None, count: int) -> int:
    if sub_id is None or not 1 <= sub_id <= count:
        return 0
    return sub_id - 1


def read_truth(
    device: Any,
    phone: str,
    sims: Sequence[SimSpec],
    epoch: datetime,
    numbers: Mapping[int, str] | None = None,
    *,
    until: float | None = None,
    earlier_log: str = "",
) -> PhoneTruth:
    """Read the phone's ``sent``, ``failed`` and ``inbox`` rows and the app's log over ADB,
    as history events, those dated from ``epoch`` to ``until`` seconds after it.
    ``earlier_log``: what the log held before something cleared it (a reboot)."""
    rows: list[SmsRow] = []
    until = until if until is not None else math.inf
    for box in ("sent", "failed", "inbox"):
        answer = _shell(
            device,
            [
                "content",
                "query",
                "--uri",
                f"content://sms/{box}",
                "--projection",
                ":".join(PROJECTION),
            ],
        )
        if answer.startswith("Error"):
            raise AdbUnavailable(f"{device.serial} refused to read content://sms/{box}: {answer}")
        rows += parse_rows(answer)
    text = read_log(device)
    log = parse_logcat(earlier_log + text, epoch)
    # a phone in service has records of before the run (earlier runs, its own life), and
    # may go on after it: only what is dated within the run is the run's
    since = epoch.timestamp() * 1000
    rows = [row for row in rows if since <= row.date <= since + until * 1000]
    log = [entry for entry in log if 0 <= entry.t <= until]
    return ledger_of(phone, sims, epoch, rows, log, numbers)


def read_log(device: Any) -> str:
    """The phone's log as it is now (``logcat -d``; ``-v epoch``: seconds since 1970,
    whatever the phone's time zone). A reboot clears it, and its ring buffer wraps."""
    return _shell(device, ["logcat", "-d", "-v", "threadtime", "-v", "epoch"])


def _shell(device: Any, command: list[str]) -> str:
    try:
        return str(device.shell(command, timeout=COMMAND_TIMEOUT, rstrip=False))
    except (adbutils.AdbError, OSError) as exc:
        raise AdbUnavailable(
            f"Lost {device.serial} while running {' '.join(command)}: {exc}."
        ) from exc
