"""Device requests on the wire, for phones running on the wall clock.

:class:`HttpTransport` is the simulator's ``Transport``: each request is an asyncio task on
the ``WallClockEnvironment``'s loop (``httpx.AsyncClient``, one keep-alive pool for the whole
fleet); the phone waits on a SimPy event that the task completes through ``env.post`` when
the answer or the failure arrives. Hundreds of phones have requests in flight at once.

:class:`BlockingDevice` is a ``GatewayPort`` (``call``, blocking) for the few device
requests the harness makes itself outside the simulation: reading each phone's inbound
history after the run.

A phone's timeout is in simulation seconds; on the wire it becomes ``timeout / scale`` wall
seconds, but never less than ``MIN_WALL_TIMEOUT``: at 120x a 30 s timeout would be 0.25 s,
and a server answering in 0.3 s under load would look like a lost network.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx
import simpy

from simulator.port import Reply
from simulator.realtime import WallClockEnvironment

__all__ = ["MIN_WALL_TIMEOUT", "BlockingDevice", "HttpTransport", "device_headers"]

MIN_WALL_TIMEOUT = 5.0
MAX_CONNECTIONS = 256


def device_headers(api_key: str, auth: str) -> dict[str, str]:
    """How a phone presents its key: the app's ``X-API-Key`` or app 1.1's ``Bearer``."""
    if auth == "bearer":
        return {"Authorization": f"Bearer {api_key}"}
    return {"X-API-Key": api_key}


def _reply(response: httpx.Response) -> Reply:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    return Reply(response.status_code, data)


class BlockingDevice:
    """The device API at ``base_url``, one blocking request at a time (a ``GatewayPort``)."""

    def __init__(self, base_url: str) -> None:
        self._client = httpx.Client(base_url=base_url.rstrip("/"), timeout=60.0)
        self.requests = 0

    def call(
        self,
        api_key: str,
        endpoint: str,
        body: Mapping[str, Any],
        *,
        at: float = 0.0,
        auth: str = "x-api-key",
    ) -> Reply:
        """One device request, now, waiting for its answer (``at`` is ignored: the server
        runs on its own clock). A transport failure is a status-0 ``Reply``."""
        del at
        self.requests += 1
        try:
            response = self._client.post(
                f"/sms-gateway/{endpoint}", json=dict(body), headers=device_headers(api_key, auth)
            )
        except httpx.TimeoutException:
            return Reply(0, None, "timeout")
        except httpx.HTTPError:
            return Reply(0, None, "connection")
        return _reply(response)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


class HttpTransport:
    """The gateway's device API at ``base_url`` (the server, or a fault proxy before it)."""

    def __init__(self, env: WallClockEnvironment, base_url: str) -> None:
        self.env = env
        self.base_url = base_url.rstrip("/")
        self.requests = 0
        self._client: httpx.AsyncClient | None = None
        self.blocking = BlockingDevice(self.base_url)

    def _async_client(self) -> httpx.AsyncClient:
        if self._client is None:  # made on the environment's loop, where it is used
            limits = httpx.Limits(
                max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
            )
            self._client = httpx.AsyncClient(base_url=self.base_url, limits=limits)
        return self._client

    # -- the simulator's Transport ----------------------------------------------------------

    def send(
        self,
        api_key: str,
        endpoint: str,
        body: Mapping[str, Any],
        *,
        auth: str,
        timeout: float,
    ) -> simpy.Event:
        event = self.env.event()
        self.requests += 1
        wall_timeout = max(MIN_WALL_TIMEOUT, self.env.wall_seconds(timeout))
        self.env.loop.create_task(
            self._exchange(event, api_key, endpoint, dict(body), auth, wall_timeout)
        )
        return event

    async def _exchange(
        self,
        event: simpy.Event,
        api_key: str,
        endpoint: str,
        body: dict[str, Any],
        auth: str,
        timeout: float,
    ) -> None:
        try:
            response = await self._async_client().post(
                f"/sms-gateway/{endpoint}",
                json=body,
                headers=device_headers(api_key, auth),
                timeout=timeout,
            )
            reply = _reply(response)
        except httpx.TimeoutException:
            reply = Reply(0, None, "timeout")
        except httpx.HTTPError:
            reply = Reply(0, None, "connection")
        self.env.post(lambda: event.succeed(reply))

    def close(self) -> None:
        """Close both connection pools."""
        self.blocking.close()
        if self._client is not None and not self.env.loop.is_closed():
            self.env.loop.run_until_complete(self._client.aclose())
