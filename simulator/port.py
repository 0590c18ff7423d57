"""The simulator's only door to a gateway server: a ``typing.Protocol`` the harness supplies.

Two ways to reach the server, one per clock:

* :class:`GatewayPort` (virtual time): a virtual phone calls :meth:`GatewayPort.call` at the
  virtual time its request reaches the server and has the answer at once; the network model
  around the call (latency, a request lost on the way, a response lost on the way back) is
  the simulator's (``network.Link``). The harness implements it with real HTTP requests
  through the ASGI layer of a server in its process.
* :class:`Transport` (real time): the request goes on the wire and the phone waits on an
  event that the transport completes when the answer (or the failure) arrives, so many
  phones have requests in flight at once; the network is the wire (``network.Wire``), and a
  fault proxy on it applies the scenario's losses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import simpy

__all__ = ["GatewayPort", "Reply", "Transport"]


@dataclass(frozen=True)
class Reply:
    """What the server answered: the HTTP status and the decoded JSON body (or ``None``)."""

    status: int
    body: Any
    error: str | None = None  # status 0: "timeout" or "connection" (what the client saw)

    @property
    def ok(self) -> bool:
        """A 2xx answer (the real app treats anything else as no answer at all)."""
        return 200 <= self.status < 300


class GatewayPort(Protocol):
    """Calls one device endpoint of the gateway API (``/sms-gateway/<endpoint>``)."""

    def call(
        self,
        api_key: str,
        endpoint: str,
        body: Mapping[str, Any],
        *,
        at: float,
        auth: str = "x-api-key",
    ) -> Reply:
        """POST ``body`` as the phone with ``api_key``, the server's clock at ``at``.

        ``auth`` is how the key travels: ``"x-api-key"`` (the app's header) or ``"bearer"``
        (``Authorization: Bearer``, the bug of app 1.1's inbound worker). A transport failure
        is a ``Reply`` with status 0, never an exception.
        """
        ...


class Transport(Protocol):
    """Sends one device request on the wire; the phone waits on the event it returns."""

    def send(
        self,
        api_key: str,
        endpoint: str,
        body: Mapping[str, Any],
        *,
        auth: str,
        timeout: float,
    ) -> simpy.Event:
        """POST ``body`` as the phone with ``api_key``; the event succeeds with the
        :class:`Reply`, within ``timeout`` simulation seconds (a ``Reply`` with status 0 and
        ``error="timeout"`` then), never fails."""
        ...
