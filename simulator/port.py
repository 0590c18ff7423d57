"""The simulator's only door to a gateway server: a ``typing.Protocol`` the harness supplies.

A virtual phone calls :meth:`GatewayPort.call` at the virtual time its request reaches the
server; the network model around the call (latency, a request lost on the way, a response
lost on the way back) is the simulator's business, not the port's. The harness implements
the port with real HTTP requests (in-process in virtual time, over the wire in real time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["GatewayPort", "Reply"]


@dataclass(frozen=True)
class Reply:
    """What the server answered: the HTTP status and the decoded JSON body (or ``None``)."""

    status: int
    body: Any

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
