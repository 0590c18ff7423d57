"""The server under test in this process, reached through its HTTP layer with httpx.

Virtual time: before each request the server's ``ManualClock`` is set to the simulation's
time, then the request goes through the ASGI app (routing, JSON, auth, status codes) on a
private event loop. Pushes the server sends go to the simulator's FCM model through
:class:`SimWaker`, after the server's wake-up service debounced them per phone, as it does
for a served server's ``FirebaseWaker``.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import anyio.to_thread
import httpx

from server_under_test import (
    ManualClock,
    SeededIds,
    Settings,
    create_app,
)
from server_under_test.fcm import WakeTarget
from simulator.port import Reply

from .control import AdminError

__all__ = ["AdminError", "InProcessGateway", "SimWaker"]

T = TypeVar("T")

ADMIN_TOKEN = "hil-run-admin"  # noqa: S105 - a fixed token of an in-process, throwaway server


async def _run_inline(func: Callable[..., T], *args: Any, **_: Any) -> T:
    """``anyio.to_thread.run_sync`` without the thread (see ``InProcessGateway._send``)."""
    return func(*args)


class SimWaker:
    """The server's FCM waker, forwarding each push to the simulated FCM service.

    It only pushes: the server's wake-up service has already debounced the wake-ups, as it
    does for a served server's ``FirebaseWaker``.
    """

    def __init__(self) -> None:
        self.push: Any = None  # set to World.fcm.push once the world exists
        self.closed = False

    def wake(self, targets: Sequence[WakeTarget], at: datetime) -> list[int]:
        """Push to each target; return the ids whose token FCM does not know."""
        if self.push is None or self.closed:
            return []
        return [t.phone_id for t in targets if not self.push(t.token)]

    def close(self) -> None:
        """Later pushes do nothing."""
        self.closed = True


class InProcessGateway:
    """A gateway server built in this process, with a manual clock at ``start + t``."""

    def __init__(self, settings: Settings, *, start: datetime, seed: int) -> None:
        self.start = start
        self.clock = ManualClock(start)
        self.waker = SimWaker()
        self.app = create_app(
            settings,
            clock=self.clock,
            ids=SeededIds(random.Random(f"{seed}:server")),  # noqa: S311
            waker=self.waker,
        )
        self.loop = asyncio.new_event_loop()
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://gateway.test"
        )
        self._lifespan: AbstractAsyncContextManager[Any] = self.app.router.lifespan_context(
            self.app
        )
        self.loop.run_until_complete(self._lifespan.__aenter__())
        self.requests = 0

    def close(self) -> None:
        """Stop the app (its lifespan) and the loop."""
        self.loop.run_until_complete(self._lifespan.__aexit__(None, None, None))
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()

    def at(self, t: float) -> None:
        """Set the server's clock to virtual time ``t``."""
        self.clock.set(self.start + timedelta(seconds=t))

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        self.requests += 1
        # Requests in virtual time come one at a time, so the worker threads that run the
        # server's sync handlers would only add two thread handoffs (and a thread start per
        # request, as each request is its own event-loop run): run them inline meanwhile.
        threaded = anyio.to_thread.run_sync
        anyio.to_thread.run_sync = _run_inline  # type: ignore[assignment]
        try:
            return self.loop.run_until_complete(self.client.request(method, path, **kw))
        finally:
            anyio.to_thread.run_sync = threaded

    # -- the simulator's port -------------------------------------------------------------

    def call(
        self,
        api_key: str,
        endpoint: str,
        body: Mapping[str, Any],
        *,
        at: float,
        auth: str = "x-api-key",
    ) -> Reply:
        """One device request at virtual time ``at``."""
        self.at(at)
        if auth == "bearer":
            headers = {"Authorization": f"Bearer {api_key}"}
        else:
            headers = {"X-API-Key": api_key}
        try:
            response = self._send(
                "POST", f"/sms-gateway/{endpoint}", headers=headers, json=dict(body)
            )
        except httpx.HTTPError:
            return Reply(0, None)
        try:
            data = response.json()
        except json.JSONDecodeError:
            data = None
        return Reply(response.status_code, data)

    # -- admin ------------------------------------------------------------------------------

    def send_admin(self, method: str, path: str, *, at: float, **kw: Any) -> httpx.Response:
        """An admin call at virtual time ``at`` (``harness.control.AdminSend``)."""
        self.at(at)
        return self._send(
            method, f"/admin{path}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, **kw
        )

    def admin(
        self, method: str, path: str, *, at: float, expect: int = 200, **kw: Any
    ) -> httpx.Response:
        """An admin call; a status other than ``expect`` raises :class:`AdminError`."""
        response = self.send_admin(method, path, at=at, **kw)
        if response.status_code != expect:
            raise AdminError(
                f"{method} /admin{path} answered {response.status_code}: {response.text[:500]}"
            )
        return response
