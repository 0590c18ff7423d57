"""Finding the line of a field in the raw TOML text, for error messages.

``tomllib`` gives values without positions, so the loader reads the text once more, line
by line, and notes where every table header and every key first appears. A field is a
location such as ``("faults", 2, "kind")``: the key ``kind`` below the third ``[[faults]]``
header. A location that has no line of its own (an entry of an inline table, an element of
an array, a key that is missing) takes the line of its nearest ancestor that has one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = ["KeyLines", "Location", "dotted", "too_deep"]

Location = tuple[str | int, ...]

_KEY = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_ARRAY_HEADER = re.compile(rf"\s*\[\[\s*({_DOTTED})\s*\]\]")
_TABLE_HEADER = re.compile(rf"\s*\[\s*({_DOTTED})\s*\]")
_KEY_LINE = re.compile(rf"\s*({_DOTTED})\s*=")
_PART = re.compile(_KEY)
_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _parts(dotted_key: str) -> list[str]:
    names = []
    for match in _PART.finditer(dotted_key):
        name = match.group(0)
        names.append(name[1:-1] if name[0] in "\"'" else name)
    return names


def too_deep(text: str, limit: int) -> int | None:
    """The line where arrays and inline tables first nest deeper than ``limit``; else None.

    Brackets inside strings and comments do not count. ``tomllib`` reads nested values
    recursively, so a file nested thousands deep would exhaust Python's stack.
    """
    depth, line, i, size = 0, 1, 0, len(text)
    while i < size:
        ch = text[i]
        if ch == "\n":
            line += 1
        elif ch == "#":
            end = text.find("\n", i)
            i = size if end < 0 else end
            continue
        elif ch in "\"'":
            quote = ch * 3 if text.startswith(ch * 3, i) else ch
            i += len(quote)
            while i < size and not text.startswith(quote, i):
                if text[i] == "\\" and quote[0] == '"':
                    i += 1
                elif text[i] == "\n":
                    if len(quote) == 1:
                        break  # an unterminated string: tomllib reports it
                    line += 1
                i += 1
            i += len(quote)
            continue
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return line
        elif ch in "]}":
            depth = max(0, depth - 1)
        i += 1
    return None


def dotted(location: Location) -> str:
    """``("faults", 2, "kind")`` as ``"faults[2].kind"``."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if _BARE.fullmatch(part) else f'"{part}"'
            text += f".{name}" if text else name
    return text


class KeyLines:
    """Where each table header and key of one TOML text first appears (1-based lines)."""

    def __init__(self, text: str) -> None:
        self._lines: dict[Location, int] = {}
        arrays: dict[Location, int] = {}  # array-of-tables location -> its last index
        table: Location = ()
        quote: str | None = None  # inside a multi-line string opened by this delimiter

        def resolve(names: Sequence[str]) -> Location:
            # Names below an array of tables mean its latest element.
            out: list[str | int] = []
            for name in names:
                out.append(name)
                if tuple(out) in arrays:
                    out.append(arrays[tuple(out)])
            return tuple(out)

        for number, line in enumerate(text.splitlines(), start=1):
            if quote is not None:
                if line.count(quote) % 2 == 1:
                    quote = None
                continue
            if match := _ARRAY_HEADER.match(line):
                names = _parts(match.group(1))
                array = (*resolve(names[:-1]), names[-1])
                arrays[array] = arrays.get(array, -1) + 1
                table = (*array, arrays[array])
                self._note(array, number)
                self._note(table, number)
            elif match := _TABLE_HEADER.match(line):
                table = resolve(_parts(match.group(1)))
                self._note(table, number)
            elif match := _KEY_LINE.match(line):
                names = _parts(match.group(1))
                for depth in range(1, len(names) + 1):
                    self._note((*table, *names[:depth]), number)
            for delimiter in ('"""', "'''"):
                if line.count(delimiter) % 2 == 1:
                    quote = delimiter
                    break

    def _note(self, location: Location, number: int) -> None:
        self._lines.setdefault(location, number)

    def line_of(self, location: Location) -> int | None:
        """The line of ``location``, else of its nearest ancestor in the text, else None."""
        for end in range(len(location), 0, -1):
            number = self._lines.get(location[:end])
            if number is not None:
                return number
        return None
