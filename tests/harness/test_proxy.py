"""The fault proxy on the wire: a real upstream (a small echo app under uvicorn), httpx
clients on loopback, and each fault as a phone would notice it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from harness.process import free_port
from harness.proxy import WIRE_OUTCOMES, FaultProxy, ProxyError, WireEvent, WireFaults
from simulator.config import NetworkSpec

PHONES = {"key-a": "a", "key-b": "b"}
SHORT = 0.5  # a client timeout for exchanges that are meant never to be answered


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.01)


class Upstream:
    """An echo server: answers every request with what it saw, and keeps a list of them."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "DELETE"])
        async def echo(path: str, request: Request) -> JSONResponse:
            entry = {
                "method": request.method,
                "path": f"/{path}",
                "query": request.url.query,
                "headers": dict(request.headers),
                "body": (await request.body()).decode(),
            }
            self.seen.append(entry)
            status = int(request.query_params.get("status", "200"))
            return JSONResponse(entry, status_code=status, headers={"X-Upstream": "echo"})

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Upstream:
        self.thread.start()
        wait_until(lambda: self.server.started)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with Upstream() as server:
        yield server


Make = Callable[..., tuple[FaultProxy, list[WireEvent]]]


@pytest.fixture
def make_proxy(upstream: Upstream) -> Iterator[Make]:
    """Start a proxy in front of the echo server (or ``to``); stopped after the test."""
    proxies: list[FaultProxy] = []

    def make(
        faults: WireFaults | None = None, seed: int = 1, to: str | None = None
    ) -> tuple[FaultProxy, list[WireEvent]]:
        events: list[WireEvent] = []
        proxy = FaultProxy(
            to or upstream.url,
            faults=faults or WireFaults(),
            rng=random.Random(seed),
            record=events.append,
            phone_of=PHONES.get,
        )
        proxy.start()
        proxies.append(proxy)
        return proxy, events

    yield make
    for proxy in proxies:
        proxy.stop()


def device(key: str, bearer: bool = False) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if bearer else {"X-API-Key": key}


def test_everything_passes_through_unchanged(make_proxy: Make, upstream: Upstream) -> None:
    proxy, events = make_proxy()
    with httpx.Client(base_url=proxy.url, timeout=10) as client:
        hop = {"Connection": "keep-alive, X-Hop", "X-Hop": "1", "X-Custom": "kept"}
        poll = client.post(
            "/sms-gateway/poll?x=1", headers={**device("key-a"), **hop}, json={"limit": 3}
        )
        refused = client.post(
            "/sms-gateway/heartbeat?status=401", headers=device("key-b", bearer=True), json={}
        )
        admin = client.get("/admin/phones", headers={"Authorization": "Bearer admin"})
        health = client.get("/healthz")

    assert poll.status_code == 200
    assert poll.headers["x-upstream"] == "echo"
    seen = poll.json()
    assert (seen["method"], seen["path"], seen["query"]) == ("POST", "/sms-gateway/poll", "x=1")
    assert seen["body"] == '{"limit":3}'
    assert seen["headers"]["x-api-key"] == "key-a"
    assert seen["headers"]["x-custom"] == "kept"
    assert "x-hop" not in seen["headers"]
    assert seen["headers"]["host"] == upstream.url.removeprefix("http://")
    assert refused.status_code == 401
    assert refused.json()["headers"]["authorization"] == "Bearer key-b"
    assert admin.json()["path"] == "/admin/phones" and health.json()["path"] == "/healthz"
    assert [(e.phone, e.method, e.path, e.outcome, e.status) for e in events] == [
        ("a", "POST", "/sms-gateway/poll", "forwarded", 200),
        ("b", "POST", "/sms-gateway/heartbeat", "forwarded", 401),
        (None, "GET", "/admin/phones", "forwarded", 200),
        (None, "GET", "/healthz", "forwarded", 200),
    ]
    assert proxy.counts() == {**dict.fromkeys(WIRE_OUTCOMES, 0), "forwarded": 4}


def test_a_lost_request_never_reaches_the_server(make_proxy: Make, upstream: Upstream) -> None:
    proxy, events = make_proxy(WireFaults(request_loss=1.0, hold=30))
    with pytest.raises(httpx.TimeoutException):
        httpx.post(f"{proxy.url}/sms-gateway/poll", headers=device("key-a"), timeout=SHORT)
    assert upstream.seen == []
    assert [(e.phone, e.outcome, e.status) for e in events] == [("a", "request_lost", 0)]

    proxy.set_faults(WireFaults())
    assert httpx.post(f"{proxy.url}/sms-gateway/poll", headers=device("key-a")).status_code == 200
    assert len(upstream.seen) == 1


def test_a_lost_response_was_acted_on_by_the_server(make_proxy: Make, upstream: Upstream) -> None:
    proxy, events = make_proxy(WireFaults(response_loss=1.0, hold=30))
    with pytest.raises(httpx.TimeoutException):
        httpx.post(f"{proxy.url}/sms-gateway/confirm", headers=device("key-b"), timeout=SHORT)
    wait_until(lambda: len(upstream.seen) == 1)
    assert upstream.seen[0]["path"] == "/sms-gateway/confirm"
    assert [(e.phone, e.outcome, e.status) for e in events] == [("b", "response_lost", 200)]


def test_a_reset_fails_the_client_at_once(make_proxy: Make, upstream: Upstream) -> None:
    proxy, events = make_proxy(WireFaults(reset=1.0))
    with pytest.raises(httpx.TransportError) as caught:
        httpx.post(f"{proxy.url}/sms-gateway/poll", headers=device("key-a"), timeout=30)
    assert not isinstance(caught.value, httpx.TimeoutException)
    assert upstream.seen == []
    assert [e.outcome for e in events] == ["reset"]


def test_a_partition_cuts_off_one_phone_until_it_heals(make_proxy: Make) -> None:
    proxy, events = make_proxy()

    def status(key: str, bearer: bool = False) -> int | None:
        try:
            url = f"{proxy.url}/sms-gateway/poll"
            return httpx.post(url, headers=device(key, bearer), timeout=SHORT).status_code
        except httpx.TimeoutException:
            return None

    proxy.partition("a", 60)
    proxy.partition("a", 0.01)  # extends, never shortens
    assert status("key-a") is None
    assert status("key-a", bearer=True) is None
    assert status("key-b") == 200
    proxy.heal("a")
    assert status("key-a") == 200
    assert [(e.phone, e.outcome) for e in events] == [
        ("a", "partitioned"),
        ("a", "partitioned"),
        ("b", "forwarded"),
        ("a", "forwarded"),
    ]

    proxy.partition("b", 3.0)
    assert status("key-b") is None
    wait_until(lambda: status("key-b") == 200)  # the partition ends by itself


def test_latency_is_waited_both_ways(make_proxy: Make) -> None:
    proxy, events = make_proxy(WireFaults(latency=0.2, jitter=0.05))
    started = time.monotonic()
    response = httpx.get(f"{proxy.url}/healthz", timeout=30)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert 0.3 <= elapsed < 20
    assert events[0].latency_ms >= 300


def test_the_same_seed_draws_the_same_losses(make_proxy: Make, upstream: Upstream) -> None:
    """For one sequential client the draws are request_loss, then response_loss when the
    request got through, as in simulator.network.Link."""
    faults = WireFaults(request_loss=0.3, response_loss=0.3, hold=0.05)
    rng = random.Random(7)
    expected = [
        "request_lost"
        if rng.random() < 0.3
        else "response_lost"
        if rng.random() < 0.3
        else "forwarded"
        for _ in range(30)
    ]

    def run(seed: int) -> list[str]:
        proxy, events = make_proxy(faults, seed=seed)
        with httpx.Client(base_url=proxy.url, timeout=10) as client:
            for _ in range(30):
                # the short hold closes the connection of a lost exchange
                with contextlib.suppress(httpx.TransportError):
                    client.post("/sms-gateway/poll", headers=device("key-a"))
        return [e.outcome for e in events]

    first = run(7)
    assert first == expected
    assert len(upstream.seen) == 30 - first.count("request_lost")
    assert run(7) == first
    assert run(8) != first


def test_an_upstream_that_is_down_gets_a_502(make_proxy: Make) -> None:
    proxy, events = make_proxy(to=f"http://127.0.0.1:{free_port()}")
    response = httpx.post(f"{proxy.url}/sms-gateway/poll", headers=device("key-a"), timeout=30)
    assert response.status_code == 502
    assert response.json()["detail"]
    assert [(e.phone, e.outcome, e.status) for e in events] == [("a", "upstream_error", 0)]


def test_300_concurrent_requests_are_all_answered(make_proxy: Make, upstream: Upstream) -> None:
    proxy, _ = make_proxy(WireFaults(latency=0.1))

    async def burst() -> list[int]:
        # 10 clients of 30 connections: httpx's pool slows down with hundreds in one
        limits = httpx.Limits(max_connections=30)
        clients = [
            httpx.AsyncClient(base_url=proxy.url, timeout=60, limits=limits) for _ in range(10)
        ]
        calls = [
            clients[n % 10].post("/sms-gateway/poll", headers=device("key-a"), json={"n": n})
            for n in range(300)
        ]
        try:
            return [response.status_code for response in await asyncio.gather(*calls)]
        finally:
            for client in clients:
                await client.aclose()

    assert asyncio.run(burst()) == [200] * 300
    assert proxy.counts()["forwarded"] == 300
    assert len(upstream.seen) == 300


@pytest.mark.parametrize(
    "garbage",
    [b"NOT HTTP AT ALL\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"],
)
def test_malformed_http_gets_a_400_and_a_closed_connection(
    make_proxy: Make, garbage: bytes
) -> None:
    proxy, events = make_proxy()
    host, port = proxy.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(garbage)
        answer = b""
        while chunk := sock.recv(4096):  # until the proxy closes the connection
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert events == []
    assert httpx.get(f"{proxy.url}/healthz", timeout=30).status_code == 200


def test_stop_closes_held_connections(make_proxy: Make) -> None:
    proxy, events = make_proxy(WireFaults(request_loss=1.0, hold=300))
    failures: list[Exception] = []

    def held() -> None:
        try:
            httpx.post(f"{proxy.url}/sms-gateway/poll", headers=device("key-a"), timeout=120)
        except Exception as exc:
            failures.append(exc)

    clients = [threading.Thread(target=held) for _ in range(5)]
    for thread in clients:
        thread.start()
    wait_until(lambda: len(events) == 5)
    proxy.stop()
    for thread in clients:
        thread.join(60)
    assert len(failures) == 5
    assert all(isinstance(f, httpx.TransportError) for f in failures)
    assert not any(isinstance(f, httpx.TimeoutException) for f in failures)


def test_a_failing_record_hook_is_raised_by_stop(upstream: Upstream) -> None:
    def record(event: WireEvent) -> None:
        raise RuntimeError("broken hook")

    proxy = FaultProxy(upstream.url, faults=WireFaults(), rng=random.Random(1), record=record)
    with pytest.raises(ProxyError, match="record hook"), proxy:
        assert httpx.get(f"{proxy.url}/healthz", timeout=30).status_code == 200


def test_wire_faults_are_checked_and_follow_the_network_spec() -> None:
    with pytest.raises(ValueError, match="probability"):
        WireFaults(request_loss=1.5)
    with pytest.raises(ValueError, match="seconds"):
        WireFaults(latency=-1)
    spec = NetworkSpec(latency=0.2, latency_jitter=0.1, request_loss=0.05, response_loss=0.02)
    assert WireFaults.from_network(spec, hold=15) == WireFaults(0.2, 0.1, 0.05, 0.02, 0.0, 15)
