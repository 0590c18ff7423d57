"""Reading typed values out of parsed TOML, collecting every problem on the way.

The units of the scenario format live here too: durations (``90``, ``"90s"``, ``"1h30m"``),
shares (``0.25``, ``"25%"``) and the evenly spread choice of phones that a share makes.
A converter turns one raw value into a typed one or raises ``Invalid`` with the reason; the
``Checker`` applies converters to the keys of a table, records a ``Problem`` (file, line,
field, reason) for each failure and carries on with a fallback, so that one load reports
everything that is wrong with a file.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import date, datetime, time
from types import MappingProxyType
from typing import TypeGuard, TypeVar

from .errors import Problem, ScenarioError
from .locate import KeyLines, Location, dotted

__all__ = [
    "ABSENT",
    "Checker",
    "Invalid",
    "boolean",
    "choice",
    "evenly_spread",
    "format_duration",
    "integer",
    "is_number",
    "parse_duration",
    "parse_share",
    "positive_duration",
    "probability",
    "show",
    "suggest",
    "text",
]

T = TypeVar("T")
Convert = Callable[[object], T]
Table = Mapping[str, object]

_UNITS = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[dhms])+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")

# A table that is missing or is not a table: its keys are not reported missing one by one.
ABSENT: Table = MappingProxyType({})


class Invalid(ValueError):
    """A raw value does not fit; ``reason`` says how (``"must be ..., not 'x'"``).

    A ValueError, so that callers of ``parse_duration`` and ``parse_share`` need not know it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def show(value: object) -> str:
    """A raw TOML value as the author wrote it, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return repr(value)


def suggest(name: str, known: Collection[str]) -> str:
    """``"; did you mean 'count'?"`` when ``name`` looks like a misspelt known name."""
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def is_number(value: object) -> TypeGuard[int | float]:
    """A TOML integer or float (``true`` is not a number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as ``"90s"``, ``"5m"``, ``"2h"``, ``"1h30m"``.

    Raises ValueError (its message says what is accepted) for anything else.
    """
    if is_number(value):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.fullmatch(value.strip()):
        seconds = sum(
            float(amount) * _UNITS[unit] for amount, unit in _DURATION_PART.findall(value)
        )
    else:
        raise Invalid(
            "must be a duration: seconds as a number, or a string such as '90s', '5m', "
            f"'2h', '1d' or '1h30m', not {show(value)}"
        )
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise Invalid(f"must be a duration of zero or more seconds, not {show(value)}")
    return seconds


def format_duration(seconds: float) -> str:
    """Seconds written the way a scenario file writes them: ``"1h30m"``, ``"90s"``."""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    rest, out = int(seconds), ""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out or "0s"


def parse_share(value: object) -> float:
    """A fraction from 0 to 1, from a number (``0.25``) or a percentage (``"25%"``).

    Raises ValueError (its message says what is accepted) for anything else.
    """
    if is_number(value):
        fraction = float(value)
    elif isinstance(value, str) and (match := _PERCENT.fullmatch(value.strip())):
        fraction = float(match.group(1)) / 100
    else:
        raise Invalid(
            f"must be a share: a number from 0 to 1 or a percentage such as '25%', "
            f"not {show(value)}"
        )
    if not 0.0 <= fraction <= 1.0:
        raise Invalid(f"must be a share from 0 to 1 (0% to 100%), not {show(value)}")
    return fraction


def evenly_spread(count: int, fraction: float) -> tuple[int, ...]:
    """Which of ``count`` items (0-based) a share picks: ``k`` of them, evenly spread.

    ``k = round(fraction * count)``, but at least one when the share is above zero; the
    picked indices are ``round(i * count / k)`` for ``i`` in ``0 .. k-1``, so the first item
    is always among them and the choice never depends on a random draw.
    """
    if fraction <= 0 or count <= 0:
        return ()
    k = min(count, max(1, round(fraction * count)))
    return tuple(round(i * count / k) for i in range(k))


# -- converters ---------------------------------------------------------------------------


def integer(low: int, high: int | None = None) -> Convert[int]:
    """An integer from ``low`` to ``high`` (no upper bound when ``high`` is None)."""
    bounds = f"from {low:,} to {high:,}" if high is not None else f"of at least {low:,}"

    def convert(value: object) -> int:
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and value >= low
            and (high is None or value <= high)
        ):
            return value
        raise Invalid(f"must be an integer {bounds}, not {show(value)}")

    return convert


def probability(value: object) -> float:
    """A probability from 0 to 1."""
    if is_number(value) and 0.0 <= float(value) <= 1.0:
        return float(value)
    raise Invalid(f"must be a probability from 0 to 1, not {show(value)}")


def positive_duration(value: object) -> float:
    """A duration longer than zero."""
    seconds = parse_duration(value)
    if seconds <= 0:
        raise Invalid(f"must be a duration longer than zero, not {show(value)}")
    return seconds


def boolean(value: object) -> bool:
    """``true`` or ``false``."""
    if isinstance(value, bool):
        return value
    raise Invalid(f"must be true or false, not {show(value)}")


def text(value: object) -> str:
    """A string that is not blank."""
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, str):
        raise Invalid("must not be empty")
    raise Invalid(f"must be a string, not {show(value)}")


def choice(allowed: Sequence[str]) -> Convert[str]:
    """One of ``allowed``."""

    def convert(value: object) -> str:
        if isinstance(value, str) and value in allowed:
            return value
        listed = ", ".join(repr(name) for name in allowed)
        hint = suggest(value, allowed) if isinstance(value, str) else ""
        raise Invalid(f"must be one of {listed}, not {show(value)}{hint}")

    return convert


# -- the checker --------------------------------------------------------------------------


class Checker:
    """Applies converters to the tables of one file and keeps every problem it finds."""

    def __init__(self, file: str, lines: KeyLines) -> None:
        self.file = file
        self.lines = lines
        self.problems: list[Problem] = []

    def report(self, location: Location, reason: str) -> None:
        """Record a problem at ``location``."""
        self.problems.append(
            Problem(self.file, self.lines.line_of(location), dotted(location), reason)
        )

    def raise_problems(self) -> None:
        """Raise one ScenarioError for everything recorded so far, if anything was."""
        if self.problems:
            # In the order of the file; problems of the file as a whole (no line) first.
            ordered = sorted(self.problems, key=lambda problem: problem.line or 0)
            raise ScenarioError(ordered)

    def table(self, value: object, location: Location, keys: Collection[str]) -> Table:
        """``value`` as a table with no keys but ``keys``; ABSENT when it is not a table."""
        if not isinstance(value, Mapping):
            header = f"[{dotted(location)}]" if location else "a table"
            if isinstance(value, list):
                self.report(location, f"must be a single table {header}, not an array")
            else:
                self.report(location, f"must be a table, not {show(value)}")
            return ABSENT
        for key in value:
            if key not in keys:
                hint = suggest(key, keys) or f"; allowed: {', '.join(keys)}"
                self.report((*location, key), f"unknown key {key!r}{hint}")
        return value

    def section(self, top: Table, name: str, keys: Collection[str], *, required: str = "") -> Table:
        """Top-level table ``[name]``, checked for unknown keys; ABSENT when absent.

        ``required`` (what the table needs) makes its absence a problem.
        """
        if name not in top:
            if required:
                self.report((name,), f"missing required table [{name}]; {required}")
            return ABSENT
        return self.table(top[name], (name,), keys)

    def before(self, location: Location, at: float, end: float | None, why: str) -> None:
        """Report a time ``at`` that is not before ``end`` (``max_duration``; None: unknown)."""
        if end is not None and at >= end:
            self.report(
                location,
                f"({format_duration(at)}) is not before max_duration ({format_duration(end)}): "
                f"{why}",
            )

    def tables(self, value: object, location: Location) -> list[Table]:
        """``value`` as an array of tables (``[[name]]``); the bad elements are left out."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.report(
                location,
                f"must be an array of tables [[{dotted(location)}]], not {show(value)}",
            )
            return []
        out: list[Table] = []
        for index, item in enumerate(value):
            if isinstance(item, Mapping):
                out.append(item)
            else:
                self.report((*location, index), f"must be a table, not {show(item)}")
        return out

    def get(self, table: Table, location: Location, key: str, convert: Convert[T], default: T) -> T:
        """The converted value of an optional ``key``; ``default`` when absent or wrong."""
        if key not in table:
            return default
        try:
            return convert(table[key])
        except Invalid as bad:
            self.report((*location, key), bad.reason)
            return default

    def need(
        self, table: Table, location: Location, key: str, convert: Convert[T], fallback: T
    ) -> T:
        """The converted value of a required ``key``; ``fallback`` (after a problem) if not."""
        if key not in table:
            if table is not ABSENT:  # else the table itself was reported
                self.report((*location, key), f"missing required key {key!r}")
            return fallback
        return self.get(table, location, key, convert, fallback)

    def names(
        self,
        table: Table,
        location: Location,
        key: str,
        convert: Convert[str],
        default: tuple[str, ...],
    ) -> tuple[str, ...]:
        """An array of strings, each checked by ``convert``; duplicates are problems too."""
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, list):
            self.report((*location, key), f"must be an array of strings, not {show(value)}")
            return default
        out: list[str] = []
        for index, item in enumerate(value):
            try:
                name = convert(item)
            except Invalid as bad:
                self.report((*location, key, index), bad.reason)
                continue
            if name in out:
                self.report((*location, key, index), f"{name!r} is listed twice")
                continue
            out.append(name)
        return tuple(out)
