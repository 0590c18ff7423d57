"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection, Row

from ..errors import Unauthorized
from ..fcm import Waker
from ..services import campaigns
from ..services.context import Context
from ..services.phones import authenticate
from ..services.wakeups import WakeUps
from ..storage.database import Database

__all__ = ["AdminDep", "Gateway", "GatewayDep", "PhoneDep"]


@dataclass(frozen=True)
class Gateway:
    """What the app holds: the database, the services' context, the phone waker and the
    wake-up service that debounces its pushes."""

    db: Database
    ctx: Context
    waker: Waker
    wakeups: WakeUps

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One database transaction, committed before the response is sent; the campaigns
        whose SMS it ended or added are completed (or reopened) just before the commit."""
        with self.db.begin() as conn, campaigns.completing(conn, self.ctx):
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only transaction (no write lock on SQLite)."""
        with self.db.read() as conn:
            yield conn


def get_gateway(request: Request) -> Gateway:
    """The app's gateway."""
    gateway: Gateway = request.app.state.gateway
    return gateway


GatewayDep = Annotated[Gateway, Depends(get_gateway)]


async def _body_api_key(request: Request) -> str | None:
    # request.json() is the route's own parse (a TextSafeRequest: no lone surrogates).
    try:
        data: Any = await request.json() if await request.body() else {}
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    params = data.get("params")
    for source in (params if isinstance(params, dict) else {}, data):
        key = source.get("api_key")
        if isinstance(key, str) and key:
            return key
    return None


async def authenticated_phone(
    request: Request,
    gateway: GatewayDep,
    x_api_key: Annotated[str | None, Header(description="The phone's API key")] = None,
) -> Row[Any]:
    """The phone whose key came in ``X-API-Key`` (or ``api_key`` in the JSON body)."""
    key = x_api_key or await _body_api_key(request)

    def lookup() -> Row[Any]:
        with gateway.reading() as conn:
            return authenticate(conn, key)

    return await run_in_threadpool(lookup)


PhoneDep = Annotated[Row[Any], Depends(authenticated_phone)]


def require_admin(
    gateway: GatewayDep,
    authorization: Annotated[str | None, Header(description="Bearer <admin token>")] = None,
) -> None:
    """Admin routes need ``Authorization: Bearer <admin token>``."""
    expected = gateway.ctx.settings.admin_token
    if expected is None:
        raise Unauthorized(
            "The admin API is disabled: start the server with an admin token "
            "(hil serve --admin-token ... or HIL_ADMIN_TOKEN)."
        )
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Missing admin token: send Authorization: Bearer <admin token>.")
    if not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthorized("Invalid admin token.")


AdminDep = Depends(require_admin)
