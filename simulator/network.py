"""One phone's path to the gateway server: latency, a request or a response lost on the
way, and partitions.

Two implementations of :class:`Network`, one per clock:

* :class:`Link` (virtual time) is the network: it waits the latency, draws the losses from
  the phone's seeded randomness and calls the server through the port at the moment the
  request arrives.
* :class:`Wire` (real time): the wire is the network. The request goes out through the
  harness's transport and the phone waits for the answer; latency and losses happen on the
  wire (the harness's fault proxy applies the scenario's ``[network]`` there).

A partition is the phone's own network gone (mobile data off, no signal): the app sees no
connectivity and fails at once, under either clock. What the app makes of a failure stays
with the app.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Mapping
from typing import Any, Protocol

import simpy

from .config import NetworkSpec
from .port import GatewayPort, Reply, Transport

__all__ = ["Link", "Network", "Wire"]

# (endpoint, outcome, HTTP status): a request that failed on the way, as the app saw it
Failed = Callable[[str, str, int], None]
# (endpoint, body, reply): the server answered (even if the answer is then lost)
Observed = Callable[[str, Mapping[str, Any], Reply], None]


class Network(Protocol):
    """What a phone's app needs of its network."""

    api_key: str
    partitioned_until: float  # when the running partition ends (the past: none)

    @property
    def partitioned(self) -> bool:
        """Cut off from the server right now."""
        ...

    def partition(self, duration: float) -> float:
        """Cut the phone off for ``duration`` seconds; returns when it ends."""
        ...

    def exchange(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        auth: str,
        timeout: float,
        failed: Failed,
        observed: Observed,
    ) -> Generator[Any, Any, Reply | None]:
        """One POST: the 2xx reply once it is back, or ``None``."""
        ...


class _Partitions:
    env: simpy.Environment
    partitioned_until: float

    @property
    def partitioned(self) -> bool:
        """Cut off from the server right now."""
        return self.env.now < self.partitioned_until

    def partition(self, duration: float) -> float:
        """Cut the phone off for ``duration`` seconds (extending a running partition);
        returns when it ends."""
        self.partitioned_until = max(self.partitioned_until, self.env.now + duration)
        return self.partitioned_until


class Link(_Partitions):
    """The simulated network between one phone and the server (virtual time)."""

    def __init__(
        self,
        env: simpy.Environment,
        spec: NetworkSpec,
        port: GatewayPort,
        api_key: str,
        rng: random.Random,
    ) -> None:
        self.env = env
        self.spec = spec
        self.port = port
        self.api_key = api_key
        self.rng = rng
        self.partitioned_until = 0.0

    def exchange(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        auth: str,
        timeout: float,
        failed: Failed,
        observed: Observed,
    ) -> Generator[Any, Any, Reply | None]:
        """One POST: the reply once it is back, or ``None`` after ``timeout`` when either
        way was lost (and at once, with the server's status, when it was not 2xx)."""
        env, spec = self.env, self.spec
        jitter = spec.latency_jitter
        latency = spec.latency + (self.rng.uniform(-jitter, jitter) if jitter else 0.0)
        yield env.timeout(latency)
        if spec.request_loss and self.rng.random() < spec.request_loss:
            failed(endpoint, "request_lost", 0)
            yield env.timeout(timeout)
            return None
        if spec.connection_reset and self.rng.random() < spec.connection_reset:
            failed(endpoint, "reset", 0)  # an IOException at once; the server saw nothing
            return None
        reply = self.port.call(self.api_key, endpoint, body, at=env.now, auth=auth)
        observed(endpoint, body, reply)
        if spec.response_loss and self.rng.random() < spec.response_loss:
            failed(endpoint, "response_lost", reply.status)
            yield env.timeout(timeout)
            return None
        if not reply.ok:
            failed(endpoint, "refused", reply.status)
        yield env.timeout(latency)
        return reply if reply.ok else None


class Wire(_Partitions):
    """The real network between one phone and the server (real time)."""

    def __init__(self, env: simpy.Environment, transport: Transport, api_key: str) -> None:
        self.env = env
        self.transport = transport
        self.api_key = api_key
        self.partitioned_until = 0.0

    def exchange(
        self,
        endpoint: str,
        body: Mapping[str, Any],
        auth: str,
        timeout: float,
        failed: Failed,
        observed: Observed,
    ) -> Generator[Any, Any, Reply | None]:
        """One POST on the wire: the reply once it is back, or ``None`` when the client
        timed out, the connection failed, or the server did not answer 2xx."""
        answer = yield self.transport.send(self.api_key, endpoint, body, auth=auth, timeout=timeout)
        reply: Reply = answer
        if reply.status == 0:
            failed(endpoint, reply.error or "connection", 0)
            return None
        observed(endpoint, body, reply)
        if not reply.ok:
            failed(endpoint, "refused", reply.status)
            return None
        return reply
