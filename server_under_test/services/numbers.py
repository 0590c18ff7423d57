"""Phone numbers in E.164, normalised with the ``phonenumbers`` library.

Bulk enqueue normalises 100 000 numbers in one call, so numbers that already look like
E.164 skip the full parse (parsing and re-formatting a valid E.164 number returns it
unchanged), and the rest are cached.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

__all__ = ["to_e164"]

_E164 = re.compile(r"\+[1-9]\d{6,14}")


def to_e164(number: str | None, region: str = "CZ") -> str | None:
    """Return ``number`` in E.164 (``+420777123456``), or ``None`` if it is not a number.

    National numbers are read in ``region`` (ISO 3166 code): ``777 123 456`` in ``CZ``
    becomes ``+420777123456``. Spaces, dashes, dots and brackets are ignored.
    """
    if not number:
        return None
    stripped = number.strip()
    if _E164.fullmatch(stripped):
        return stripped
    return _parse(stripped, region)


@lru_cache(maxsize=65536)
def _parse(number: str, region: str) -> str | None:
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
