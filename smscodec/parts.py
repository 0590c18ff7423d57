"""Split an outgoing SMS into parts exactly as Android does, and count them.

Mirrors ``SmsManager.divideMessage`` / ``SmsMessage.calculateLength`` /
``GsmAlphabet.countGsmSeptetsUsingTables`` with the default GSM 03.38 tables only (no national
language shift tables, no carrier 7-bit translation, EMS support assumed). See
``docs/segments.md`` for the rules and where the reference server's approximation (defect B18)
differs.

Python strings hold code points while Android counts UTF-16 code units, so UCS-2 costs are
computed per code point (2 for one outside the BMP) rather than by ``len``.
"""

from __future__ import annotations

import re
from typing import Final, Literal, TypeAlias

__all__ = [
    "GSM7_BASIC",
    "GSM7_EXTENSION",
    "GSM7_MULTI_PART_SEPTETS",
    "GSM7_SINGLE_PART_SEPTETS",
    "UCS2_MULTI_PART_UNITS",
    "UCS2_SINGLE_PART_UNITS",
    "Encoding",
    "count_parts",
    "encoding_of",
    "reference_segment_count",
    "septets",
    "split_parts",
]

Encoding: TypeAlias = Literal["GSM-7", "UCS-2"]
"""The data coding Android picks for the whole message: ``"GSM-7"`` or ``"UCS-2"``."""

GSM7_BASIC: Final[frozenset[str]] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"  # 0x1B (ESC) sits between Ξ and Æ and is not a character
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""The 127 characters of the GSM 03.38 default alphabet (1 septet each)."""

GSM7_EXTENSION: Final[frozenset[str]] = frozenset("\f^{}\\[~]|€")
"""The default extension table, reached through ESC (2 septets each)."""

GSM7_SINGLE_PART_SEPTETS: Final = 160
"""Septets in a message that is sent as one part."""
GSM7_MULTI_PART_SEPTETS: Final = 153
"""Septets per part of a concatenated message (the 6-octet UDH takes 7 septets)."""
UCS2_SINGLE_PART_UNITS: Final = 70
"""UTF-16 code units in a UCS-2 message sent as one part (140 octets)."""
UCS2_MULTI_PART_UNITS: Final = 67
"""UTF-16 code units per part of a concatenated UCS-2 message (134 octets)."""

_GSM7_ALL: Final = GSM7_BASIC | GSM7_EXTENSION
_GSM7_EXTENSION_RE: Final = re.compile("[" + re.escape("".join(sorted(GSM7_EXTENSION))) + "]")
# A character outside the BMP, or a surrogate pair left as two code points (e.g. decoded with
# "surrogatepass"): either is one character to Android and costs 2 UTF-16 units.
_UCS2_PAIR_RE: Final = re.compile("[\U00010000-\U0010ffff]|[\ud800-\udbff][\udc00-\udfff]")
_ASTRAL_RE: Final = re.compile("[\U00010000-\U0010ffff]")
_ASCII_GSM7_BASIC: Final = bytes(sorted(ord(c) for c in GSM7_BASIC if c.isascii()))
_ASCII_GSM7_EXTENSION: Final = bytes(sorted(ord(c) for c in GSM7_EXTENSION if c.isascii()))
_ASCII_GSM7_ALL: Final = _ASCII_GSM7_BASIC + _ASCII_GSM7_EXTENSION
# Shorter bodies fit one part whatever they contain: 35 code points are at most 70 septets or
# 70 UTF-16 units. Lets count_parts skip the alphabet scan for short texts.
_ALWAYS_ONE_PART: Final = UCS2_SINGLE_PART_UNITS // 2


def encoding_of(body: str) -> Encoding:
    """Return the encoding Android uses for ``body``.

    GSM-7 iff every character is in the basic or extension table; a single other character
    makes the whole message UCS-2.
    """
    return "GSM-7" if _GSM7_ALL.issuperset(body) else "UCS-2"


def septets(body: str) -> int:
    """Return the GSM-7 length of ``body`` in septets (extension characters count 2).

    Raises ``ValueError`` naming the first character outside the GSM-7 tables and its index
    (in code points) when ``body`` is not GSM-7.
    """
    if GSM7_BASIC.issuperset(body):
        return len(body)
    if not _GSM7_ALL.issuperset(body):
        for index, char in enumerate(body):
            if char not in _GSM7_ALL:
                raise ValueError(
                    f"Body is not GSM-7: {char!r} (U+{ord(char):04X}) at index {index} is in "
                    "neither the GSM 03.38 basic nor the extension table; it is sent as UCS-2."
                )
    return len(body) + len(_GSM7_EXTENSION_RE.findall(body))


def split_parts(body: str) -> list[str]:
    """Return the parts Android sends for ``body``, in order.

    ``"".join(split_parts(body)) == body`` always holds. An empty body gives ``[""]`` (one
    part, the count ``calculateLength`` reports); note that a real ``divideMessage("")`` returns
    no parts and ``sendTextMessage`` refuses an empty body, so a virtual phone must model that
    failure itself.
    """
    ends = _part_ends(body)
    parts: list[str] = []
    start = 0
    for end in ends:
        parts.append(body[start:end])
        start = end
    return parts


def count_parts(body: str) -> int:
    """Return ``len(split_parts(body))`` without building the parts where it can.

    Built for bulk enqueue: the common cases (short texts, pure-ASCII texts, texts of basic GSM
    characters, UCS-2 texts without emoji) are answered by C-level scans and arithmetic; only a
    multi-part body with escapes or emoji walks its 2-unit characters.
    """
    length = len(body)
    if length <= _ALWAYS_ONE_PART:
        return 1
    if body.isascii():
        # bytes.translate(None, delete) is the cheapest C-level scan: what it leaves are the
        # characters outside the deleted set. Roughly 4x faster than frozenset.issuperset.
        raw = body.encode("ascii")
        if not raw.translate(None, _ASCII_GSM7_BASIC):
            return _parts_for(length, GSM7_SINGLE_PART_SEPTETS, GSM7_MULTI_PART_SEPTETS)
        if raw.translate(None, _ASCII_GSM7_ALL):
            # Some ASCII character (a backtick, a control character) is not GSM-7: UCS-2, and
            # every ASCII character is one UTF-16 unit.
            return _parts_for(length, UCS2_SINGLE_PART_UNITS, UCS2_MULTI_PART_UNITS)
        escapes = length - len(raw.translate(None, _ASCII_GSM7_EXTENSION))
        if length + escapes <= GSM7_SINGLE_PART_SEPTETS:
            return 1
        return len(_gsm7_ends(body))
    if GSM7_BASIC.issuperset(body):
        # Every septet costs 1, so no escape pair can move a boundary: plain division is exact.
        return _parts_for(length, GSM7_SINGLE_PART_SEPTETS, GSM7_MULTI_PART_SEPTETS)
    if _GSM7_ALL.issuperset(body):
        return len(_gsm7_ends(body))
    try:
        # Strict encoding doubles as the check for surrogate code points (it refuses them).
        units = len(body.encode("utf-16-le")) // 2
    except UnicodeEncodeError:
        return len(_ucs2_ends(body))
    if units <= UCS2_SINGLE_PART_UNITS:
        return 1
    if units == length:
        # No character outside the BMP: one unit per code point, no pair to keep whole.
        return _parts_for(length, UCS2_SINGLE_PART_UNITS, UCS2_MULTI_PART_UNITS)
    heavy = [match.span() for match in _ASTRAL_RE.finditer(body)]
    return len(_greedy_ends(length, heavy, UCS2_MULTI_PART_UNITS))


def reference_segment_count(body: str | None) -> int:
    """Return the reference server's segment estimate for ``body`` (defect B18).

    Reproduces the approximation copied from Odoo's SMS widget, for comparison only: GSM7 iff
    every character is in the *basic* table (extension characters make it UNICODE); length is
    ``len(body) + body.count("\\n")`` in code points; 160/153 or 70/67 per segment. Empty or
    ``None`` gives 1.
    """
    if not body:
        return 1
    nbr_char = len(body) + body.count("\n")
    if GSM7_BASIC.issuperset(body):
        count = _parts_for(nbr_char, GSM7_SINGLE_PART_SEPTETS, GSM7_MULTI_PART_SEPTETS)
    else:
        count = _parts_for(nbr_char, UCS2_SINGLE_PART_UNITS, UCS2_MULTI_PART_UNITS)
    return max(1, count)


def _parts_for(size: int, single: int, multi: int) -> int:
    return 1 if size <= single else -(-size // multi)


def _part_ends(body: str) -> list[int]:
    """Return the end index (exclusive, in code points) of every part."""
    if _GSM7_ALL.issuperset(body):
        return _gsm7_ends(body)
    return _ucs2_ends(body)


def _gsm7_ends(body: str) -> list[int]:
    length = len(body)
    heavy = [match.span() for match in _GSM7_EXTENSION_RE.finditer(body)]
    if length + len(heavy) <= GSM7_SINGLE_PART_SEPTETS:
        return [length]
    return _greedy_ends(length, heavy, GSM7_MULTI_PART_SEPTETS)


def _ucs2_ends(body: str) -> list[int]:
    length = len(body)
    if _utf16_units(body) <= UCS2_SINGLE_PART_UNITS:
        return [length]
    heavy = [match.span() for match in _UCS2_PAIR_RE.finditer(body)]
    return _greedy_ends(length, heavy, UCS2_MULTI_PART_UNITS)


def _greedy_ends(length: int, heavy: list[tuple[int, int]], limit: int) -> list[int]:
    """Cut ``length`` code points into parts of at most ``limit`` units, greedily.

    Every code point costs 1 unit except the ``heavy`` spans (start, stop), which cost 2 and
    must stay whole. Same result as Android's per-character walk
    (``GsmAlphabet.findGsmSeptetLimitIndex``, ``SmsMessageBase.findNextUnicodePosition``): a
    part ends before the first character that would overflow it, so a heavy span straddling
    the limit moves whole to the next part. Walking span by span instead of character by
    character keeps bodies with a few escapes or emoji cheap.
    """
    ends: list[int] = []
    used = 0
    cursor = 0
    for start, stop in heavy:
        light = start - cursor
        while used + light > limit:
            taken = limit - used
            cursor += taken
            light -= taken
            ends.append(cursor)
            used = 0
        used += light
        cursor = start
        if used + 2 > limit:
            ends.append(cursor)
            used = 0
        used += 2
        cursor = stop
    light = length - cursor
    while used + light > limit:
        taken = limit - used
        cursor += taken
        light -= taken
        ends.append(cursor)
        used = 0
    ends.append(length)
    return ends


def _utf16_units(body: str) -> int:
    # "surrogatepass" so that a lone surrogate counts its one unit instead of raising.
    return len(body.encode("utf-16-le", "surrogatepass")) // 2
