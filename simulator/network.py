"""One phone's path to the gateway server: latency, a request or a response lost on the
way, and partitions.

In virtual time this component is the network: it waits the latency, draws the losses from
the phone's seeded randomness and calls the server through the port at the moment the
request arrives. (In real time the wire is the network; a fault proxy applies the same
losses there — issue 10.) What the app makes of a failure stays with the app.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Mapping
from typing import Any

import simpy

from .config import NetworkSpec
from .port import GatewayPort, Reply

__all__ = ["Link"]

# (endpoint, outcome, HTTP status): a request that failed on the way, as the app saw it
Failed = Callable[[str, str, int], None]
# (endpoint, body, reply): the server answered (even if the answer is then lost)
Observed = Callable[[str, Mapping[str, Any], Reply], None]


class Link:
    """The network between one phone and the server."""

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

    @property
    def partitioned(self) -> bool:
        """Cut off from the server right now."""
        return self.env.now < self.partitioned_until

    def partition(self, duration: float) -> float:
        """Cut the phone off for ``duration`` seconds (extending a running partition);
        returns when it ends."""
        self.partitioned_until = max(self.partitioned_until, self.env.now + duration)
        return self.partitioned_until

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
