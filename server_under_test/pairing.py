"""QR pairing: the code the real Android app scans to learn the server's URL and its key.

The app reads a QR code whose text is the JSON object
``{"type": "sms_gateway", "url": "<server base url>", "api_key": "<the phone's key>"}``
(exactly these three keys, in this order). This module builds that text and draws it as a
PNG or as Unicode half blocks for a terminal.

The app rewrites ``http://`` to ``https://`` before it calls the server, so a code with an
``http://`` URL pairs only when a TLS-terminating proxy answers on that host.
"""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import urlsplit

# qrcode ships no type information (no py.typed); its few calls are wrapped below.
import qrcode  # type: ignore[import-untyped]
import qrcode.image.pil  # type: ignore[import-untyped]
from sqlalchemy import Row

from .errors import Conflict, InvalidInput

__all__ = ["check_url", "pairing_payload", "phone_pairing_payload", "qr_png", "qr_terminal"]

PAYLOAD_TYPE = "sms_gateway"
MAX_URL_LENGTH = 2048

# Two modules share one character cell (top half, bottom half); the key is (top, bottom),
# True for a light module. Light modules are drawn as ink and dark ones as blank cells,
# so that on a terminal's usual dark background the code comes out dark-on-light, the
# way a camera expects it, with the light quiet zone framing it.
_HALF_BLOCKS = {
    (True, True): "\u2588",  # full block
    (True, False): "\u2580",  # upper half block
    (False, True): "\u2584",  # lower half block
    (False, False): " ",
}


def check_url(url: str) -> str:
    """The server base URL for a pairing code, or ``InvalidInput`` saying what is wrong.

    It must be ``http://`` or ``https://`` with a host, and carry no query or fragment,
    since the app appends the API paths to it; a trailing ``/`` is dropped for the same
    reason. Note that the app rewrites ``http://`` to ``https://``, so an ``http`` URL
    works only behind a TLS-terminating proxy.
    """
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"The pairing url is longer than {MAX_URL_LENGTH} characters.")
    if any(ch.isspace() for ch in url):
        raise InvalidInput(f"The pairing url {url!r} contains whitespace; give a plain URL.")
    try:
        parts = urlsplit(url)
        # .port raises ValueError for a port that is not a number in 0..65535.
        _ = parts.port
    except ValueError as exc:
        raise InvalidInput(f"The pairing url {url!r} is not a valid URL: {exc}.") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"The pairing url {url!r} must be an http:// or https:// URL with a host, "
            "e.g. https://gateway.example.com."
        )
    if parts.query or parts.fragment:
        raise InvalidInput(
            f"The pairing url {url!r} must not have a query or fragment: the app appends "
            "the API paths to it."
        )
    return url.rstrip("/")


def pairing_payload(url: str, api_key: str) -> str:
    """The text of the pairing QR code for a server at ``url`` and a phone's ``api_key``.

    ``url`` is checked with ``check_url`` (``InvalidInput`` if it is not http(s) with a
    host). The app rewrites ``http://`` to ``https://``, so pairing with an ``http`` URL
    works only behind a TLS-terminating proxy.
    """
    if not api_key:
        raise InvalidInput("The phone has no API key to pair with; rotate its key first.")
    fields = {"type": PAYLOAD_TYPE, "url": check_url(url), "api_key": api_key}
    # Compact separators keep the code smaller, so easier to scan; ASCII-only text (an
    # internationalised host is \u-escaped) spares scanners guessing the byte encoding.
    return json.dumps(fields, separators=(",", ":"))


def phone_pairing_payload(phone: Row[Any], url: str) -> str:
    """The pairing text for a phone row, or ``Conflict`` if the phone is archived.

    An archived phone's key is refused by the device API, so a code for it would pair the
    app with a server that then rejects every call.
    """
    if not phone.active:
        raise Conflict(
            f"Gateway phone {phone.id} ({phone.name}) is archived; re-activate it first "
            f'(PATCH /admin/phones/{phone.id} with {{"active": true}}) to pair it.'
        )
    return pairing_payload(url, str(phone.api_key))


def _qr(payload: str) -> Any:
    """The QR code of ``payload``: error correction M, a quiet zone of 4 modules."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4)
    code.add_data(payload)
    code.make(fit=True)
    return code


def qr_png(payload: str) -> bytes:
    """``payload`` as a QR code in a PNG image (error correction M, a border of 4)."""
    image = _qr(payload).make_image(image_factory=qrcode.image.pil.PilImage)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def qr_terminal(payload: str) -> str:
    """``payload`` as a QR code drawn with Unicode half blocks, one line per two rows.

    Light modules (the quiet zone included) are drawn as blocks, dark ones as spaces: on
    a terminal with a dark background, the usual case, a phone camera reads it off the
    screen as a normal dark-on-light code. On a light background it comes out inverted,
    which not every scanner reads; use the PNG there.
    """
    matrix: list[list[bool]] = [[bool(m) for m in row] for row in _qr(payload).get_matrix()]
    if len(matrix) % 2:
        # An odd number of rows: pad with a light row, which only widens the quiet zone.
        matrix.append([False] * len(matrix[0]))
    lines = [
        "".join(_HALF_BLOCKS[(not t, not b)] for t, b in zip(top, bottom, strict=True))
        for top, bottom in zip(matrix[::2], matrix[1::2], strict=True)
    ]
    return "\n".join(lines) + "\n"
