"""harness.timing: the wall time of the phones' requests, per endpoint, for verdicts.json."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.timing import RequestTimes, TimedPort
from simulator.port import Reply


class _Port:
    """Answers ``pending`` and ``confirm/<id>``; anything else never reaches the server."""

    def call(
        self, api_key: str, endpoint: str, body: Mapping[str, Any], *, at: float, auth: str = ""
    ) -> Reply:
        return Reply(0, None, "connection") if endpoint == "heartbeat" else Reply(200, {})


def test_answered_requests_are_timed_per_endpoint_ids_folded() -> None:
    times = RequestTimes()
    port = TimedPort(_Port(), times)
    for endpoint in ("pending", "confirm/1", "confirm/22", "heartbeat"):
        assert port.call("k", endpoint, {}, at=0.0).status in (0, 200)
    figures = times.figures()
    assert list(figures) == ["confirm/{id}", "pending"]  # the unanswered heartbeat is not timed
    assert figures["confirm/{id}"]["count"] == 2 and figures["pending"]["count"] == 1
    assert 0 <= figures["pending"]["p50_ms"] <= figures["pending"]["max_ms"]


def test_the_figures_are_nearest_rank_percentiles_in_milliseconds() -> None:
    times = RequestTimes()
    for ms in range(1, 21):
        times.record("pending", ms / 1000)
    assert times.figures()["pending"] == {
        "count": 20,
        "p50_ms": 10.0,
        "p95_ms": 19.0,
        "max_ms": 20.0,
    }
