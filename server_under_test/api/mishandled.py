"""Defect B22: device inputs the reference server mishandles, answered as it answers them.

The reference reads device bodies with ``dict.get`` and checks few types
(``sms_modules/sms_gateway/controllers/gateway_api.py`` of Varyshop/sms-gateway, cited
below as ``:line``). Some malformed values raise inside its handlers, whose catch-all
answers HTTP 500 with the exception's text; one well-formed request gets an answer that
lacks a field. ``MISHANDLED`` holds, per endpoint, a rule that finds such an input in the
parsed body and gives the reference's answer.

With the switch ``B22`` on, :func:`as_the_reference` (a dependency of every device route,
after the API key check, which the reference also does first) answers such an input the
reference's way, before validation or any service runs, so nothing is applied. (The
reference keeps what its handler wrote before it raised: the heartbeat of :88-91, the
inbox items before the bad one, as :679-681 rolls nothing back. No oracle reads those.)
With the switch off it does nothing, and validation answers 400 / 422 naming the field.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request

from .deps import GatewayDep, PhoneDep

__all__ = ["MISHANDLED", "ReferenceAnswer", "as_the_reference"]

log = logging.getLogger(__name__)


class ReferenceAnswer(Exception):
    """The reference's answer to an input it mishandles, sent as it is (``api/errors.py``)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {body}")
        self.status = status
        self.body = body


Rule = Callable[[Mapping[str, Any]], ReferenceAnswer | None]


def _crash(error: str) -> ReferenceAnswer:
    """The catch-all of every device handler: 500 with the exception's text."""
    return ReferenceAnswer(500, {"success": False, "error": error})


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int_fails(value: Any) -> bool:
    """Whether Python's ``int()`` raises on ``value`` (a JSON value)."""
    try:
        int(value)
    except (TypeError, ValueError):
        return True
    return False


def _bad_items(body: Mapping[str, Any], key: str) -> ReferenceAnswer | None:
    # A non-empty list passes the handler's guard; each item is then read with .get(), so
    # the first one that is not an object raises AttributeError.
    items = body.get(key)
    if not items or not isinstance(items, list):
        return None
    for item in items:
        if not isinstance(item, dict):
            return _crash(f"'{type(item).__name__}' object has no attribute 'get'")
    return None


def _heartbeat(body: Mapping[str, Any]) -> ReferenceAnswer | None:
    # :86 reads unsynced_count unchecked and :93 compares a truthy one with 10: a string
    # (or a list, an object) raises TypeError, answered 500 at :129-131.
    count = body.get("unsynced_count")
    if count and not _number(count):
        return _crash(f"'>' not supported between instances of '{type(count).__name__}' and 'int'")
    return None


def _pending(body: Mapping[str, Any]) -> ReferenceAnswer | None:
    # :146 caps the limit with min(limit, 100) unchecked. A value that is not a number
    # raises TypeError there; a boolean or a negative number reaches the SQL LIMIT of the
    # pre-cancel query (:188), which PostgreSQL refuses. Either way :291-294 answers 500.
    if "limit" not in body:
        return None
    limit = body["limit"]
    if isinstance(limit, bool):
        return _crash("argument of LIMIT must be type bigint, not type boolean")
    if not _number(limit):
        return _crash(f"'<' not supported between instances of 'int' and '{type(limit).__name__}'")
    if limit < 0:
        return _crash("LIMIT must not be negative")
    return None


def _reconcile(body: Mapping[str, Any]) -> ReferenceAnswer | None:
    # :451-460: no known ids (absent or an empty list) is answered at once, without the
    # not_found_ids every other answer of :486-491 carries.
    known = body.get("known_ids", [])
    if isinstance(known, list) and not known:
        return ReferenceAnswer(200, {"success": True, "already_confirmed_ids": [], "stuck_ids": []})
    return None


def _inbound_history(body: Mapping[str, Any]) -> ReferenceAnswer | None:
    # :696-697 pass limit and offset to int(), and :700 calls .strip() on search (a null
    # one included), with no check; :737-739 answers the error 500.
    for key in ("limit", "offset"):
        if key in body and _int_fails(body[key]):
            value = body[key]
            if isinstance(value, str):
                return _crash(f"invalid literal for int() with base 10: {value!r}")
            return _crash(
                "int() argument must be a string, a bytes-like object or a real number, "
                f"not '{type(value).__name__}'"
            )
    if "search" in body and not isinstance(body["search"], str):
        return _crash(f"'{type(body['search']).__name__}' object has no attribute 'strip'")
    return None


# Endpoint (the path after /sms-gateway/) -> how the reference mishandles its body. The
# batches' answers (:421-424, :679-681) are the catch-all's 500 too.
MISHANDLED: dict[str, Rule] = {
    "heartbeat": _heartbeat,
    "pending": _pending,
    "confirm-batch": lambda body: _bad_items(body, "results"),  # :379-380
    "reconcile": _reconcile,
    "inbound-batch": lambda body: _bad_items(body, "messages"),  # :600-601
    "inbound-history": _inbound_history,
}


async def as_the_reference(request: Request, gateway: GatewayDep, _phone: PhoneDep) -> None:
    """With ``B22`` on, raise the reference's answer to a body it mishandles."""
    if not gateway.ctx.settings.defect("B22"):
        return
    route = request.scope.get("route")
    rule = MISHANDLED.get(getattr(route, "path", "").removeprefix("/sms-gateway/"))
    if rule is None:
        return
    # The route has parsed the body already (malformed JSON never gets here); this reads
    # that parse again.
    body: Any = await request.json() if await request.body() else {}
    answer = rule(body) if isinstance(body, dict) else None
    if answer is not None:
        log.info("B22: %s answered as the reference does: %s", request.url.path, answer)
        raise answer
