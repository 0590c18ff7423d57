"""How long the phones' requests took, per device endpoint, on the wall clock.

The history records what happened in virtual time, where the server answers in no time at
all; how long the server under test really took is a wall-clock figure only the harness
can measure, where it sends each request: around the in-process server's call (virtual
time: the server's own handling time, through its HTTP layer) or from the request leaving
to its answer arriving (real time: the server plus the wire, the fault proxy among it).

:class:`RequestTimes` collects them while the run goes on; :meth:`RequestTimes.figures` is
what ``verdicts.json`` keeps as ``request_latency`` (wall time varies from run to run, so it
stays out of the history, which is byte for byte the same for the same seed).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from reports import endpoint_of, percentile
from simulator.port import GatewayPort, Reply

__all__ = ["RequestTimes", "TimedPort"]


class RequestTimes:
    """Wall seconds of each answered device request, per endpoint (``confirm/{id}`` is one)."""

    def __init__(self) -> None:
        self._seconds: dict[str, list[float]] = defaultdict(list)

    def record(self, endpoint: str, seconds: float) -> None:
        """One request to ``endpoint`` was answered ``seconds`` after it was sent.
        (A list append: safe from the real-time transport's event-loop thread.)"""
        self._seconds[endpoint_of(endpoint)].append(seconds)

    def figures(self) -> dict[str, dict[str, float | int]]:
        """Per endpoint, in name order: ``count`` and ``p50_ms``, ``p95_ms``, ``max_ms``."""
        out: dict[str, dict[str, float | int]] = {}
        for endpoint in sorted(self._seconds):
            values = sorted(self._seconds[endpoint])
            out[endpoint] = {
                "count": len(values),
                "p50_ms": round(percentile(values, 50) * 1000, 3),
                "p95_ms": round(percentile(values, 95) * 1000, 3),
                "max_ms": round(values[-1] * 1000, 3),
            }
        return out


class TimedPort:
    """A ``GatewayPort`` that times each answered call of the port it wraps."""

    def __init__(self, port: GatewayPort, times: RequestTimes) -> None:
        self._port = port
        self._times = times

    def call(
        self,
        api_key: str,
        endpoint: str,
        body: Mapping[str, Any],
        *,
        at: float,
        auth: str = "x-api-key",
    ) -> Reply:
        """The wrapped port's call; its wall time is recorded when the server answered."""
        began = time.perf_counter()
        reply = self._port.call(api_key, endpoint, body, at=at, auth=auth)
        if reply.status:
            self._times.record(endpoint, time.perf_counter() - began)
        return reply
