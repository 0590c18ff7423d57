"""The request body at the edge: its size limit, and text that UTF-8 cannot hold.

* ``BodyLimit`` (ASGI middleware) answers 413 to a body above ``Settings.max_body_bytes``
  before the app reads it: at once when ``Content-Length`` says so, else as soon as the
  streamed chunks pass the limit.
* ``TextSafeRoute`` parses JSON bodies with every lone UTF-16 surrogate (``"\\ud83d"``,
  the half of an emoji that a multipart SMS split) replaced by U+FFFD, the replacement
  character, so that no text reaching the services, the database or a hash is unencodable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimit", "TextSafeRequest", "TextSafeRoute", "replace_lone_surrogates"]

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON escape of a surrogate; a body without one has none to replace (pairs are joined
# by the parser, so only lone ones survive it).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _clean(text: str) -> str:
    return _SURROGATE.sub(REPLACEMENT, text)


def replace_lone_surrogates(value: Any) -> Any:
    """``value`` (parsed JSON) with each lone surrogate in its strings and keys as U+FFFD."""
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, list):
        return [replace_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_clean(k): replace_lone_surrogates(v) for k, v in value.items()}
    return value


class TextSafeRequest(Request):
    """A request whose ``json()`` holds no lone surrogate."""

    async def json(self) -> Any:
        """The parsed body, lone surrogates replaced (``json.JSONDecodeError`` if malformed)."""
        if not hasattr(self, "_json"):
            body = await self.body()
            data = json.loads(body)
            if _SURROGATE_ESCAPE.search(body):
                data = replace_lone_surrogates(data)
            self._json = data
        return self._json


class TextSafeRoute(APIRoute):
    """A route that hands its handler a ``TextSafeRequest``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The usual handler, called with the text-safe request."""
        handler = super().get_route_handler()

        async def text_safe_handler(request: Request) -> Response:
            return await handler(TextSafeRequest(request.scope, request.receive))

        return text_safe_handler


def _too_large(limit: int) -> str:
    return (
        f"The request body is larger than this server's limit of {limit} bytes; "
        "split it into smaller requests (or raise the server's max_body_bytes)."
    )


class BodyLimit:
    """ASGI middleware: 413 for a request body above ``max_bytes``, before it is read whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse at once on ``Content-Length``; else count the streamed bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            response = JSONResponse(
                {"success": False, "error": _too_large(limit)},
                status_code=413,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # The route's body reading re-raises an HTTPException as it is, and the
                    # app's handler answers it in the usual error shape.
                    raise HTTPException(413, _too_large(limit), headers={"Connection": "close"})
            return message

        await self.app(scope, counting_receive, send)
