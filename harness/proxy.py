"""A loopback fault proxy: a scenario's network faults applied on the wire, in real time.

Phones (virtual or real) talk HTTP/1.1 to a :class:`FaultProxy` instead of the gateway
server. It forwards every request (any method and path: device API, admin API, ``/healthz``)
with its headers and body, and passes the answer back unchanged, but for the faults of
:class:`WireFaults` and the partitions of single phones. The faults mean what
``simulator.network.Link`` means in virtual time: a request lost never reached the server; a
response lost was acted on and answered by the server, and the phone never heard back. A lost
exchange keeps the phone's connection open for ``hold`` seconds (or until the phone gives up)
and then closes it, so the phone's own timeout fires as on a lossy network.

One exchange, in order, each draw from the seeded ``rng`` made only when its probability is
not zero (as ``Link`` does): the phone partitioned -> held; ``request_loss`` -> held;
``reset`` -> closed with a TCP RST; ``latency`` +- ``jitter`` (one draw, waited on the way in
and again on the way out, as ``Link`` does) -> forwarded -> ``response_loss`` -> held; else
the answer.

Each exchange ends in one of :data:`WIRE_OUTCOMES`; the proxy counts them (``counts()``) and
hands a :class:`WireEvent` to ``record`` *on the proxy's own thread*: a caller whose state is
not thread-safe must marshal it to its own thread (``queue.Queue``,
``loop.call_soon_threadsafe``). A ``record`` that raises is logged, the proxy goes on, and
``stop()`` raises :class:`ProxyError` from the first such error.

Limitations: the draws are made in the order exchanges reach each step, so a seed replays the
same outcomes for one sequential client only. Requests and answers are buffered whole (the
gateway's bodies are small): no streaming, no protocol upgrades. ``Host`` is the upstream's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Self

import h11
import httpx

from simulator.config import NetworkSpec

from .loop_thread import LoopFailed, LoopThread

__all__ = ["WIRE_OUTCOMES", "FaultProxy", "ProxyError", "WireEvent", "WireFaults"]

logger = logging.getLogger(__name__)

# How an exchange ended: the answer reached the client; never forwarded (the server never saw
# it); the server acted and answered, the answer dropped; closed with a RST before forwarding;
# the phone cut off (never forwarded); the upstream unreachable (the client got a 502).
WIRE_OUTCOMES = (
    "forwarded",
    "request_lost",
    "response_lost",
    "reset",
    "partitioned",
    "upstream_error",
    "gated",
)

# Hop-by-hop headers (RFC 9110 section 7.6.1) describe one connection: never passed on.
_HOP_BY_HOP = frozenset(
    b"connection keep-alive proxy-connection proxy-authenticate proxy-authorization te "
    b"trailer transfer-encoding upgrade".split()
)
# httpx sets these for the upstream; an Expect is answered here (100 Continue).
_NOT_FORWARDED = _HOP_BY_HOP | {b"host", b"content-length", b"expect"}
_READ_SIZE = 65536
# Upstream connections: 64 pools of up to 16, each client connection bound to one. httpcore's
# pool scans all its connections on every request, so one pool of 1000 would be slow.
_POOLS, _POOL = 64, 16

Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, bytes, Headers, bytes]  # status, reason phrase, headers, body


class ProxyError(RuntimeError):
    """The fault proxy could not start, or its ``record`` hook failed."""


@dataclass(frozen=True)
class WireFaults:
    """The faults applied to every exchange: times in wall seconds, losses as probabilities."""

    latency: float = 0.0  # one way
    jitter: float = 0.0  # uniform +- on the latency, one draw per exchange
    request_loss: float = 0.0
    response_loss: float = 0.0
    reset: float = 0.0
    hold: float = 120.0  # how long a lost exchange keeps the client's connection open

    def __post_init__(self) -> None:
        for name in ("request_loss", "response_loss", "reset"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"WireFaults.{name} is a probability: give a number in [0, 1].")
        for name in ("latency", "jitter", "hold"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"WireFaults.{name} is in seconds: give zero or more.")

    @classmethod
    def from_network(cls, spec: NetworkSpec, *, reset: float = 0.0, hold: float = 120.0) -> Self:
        """The faults of a scenario's network, for the wire."""
        return cls(
            spec.latency, spec.latency_jitter, spec.request_loss, spec.response_loss, reset, hold
        )


@dataclass(frozen=True)
class WireEvent:
    """One exchange through the proxy, as the wire saw it."""

    at: float  # wall time (time.time()) when the whole request had reached the proxy
    phone: str | None  # phone_of(key); None without a key, a phone_of or a match
    method: str
    path: str  # without the query string
    outcome: str  # one of WIRE_OUTCOMES
    status: int  # the upstream's status; 0 when it gave none
    latency_ms: float  # from the request's arrival to its outcome, holds not counted
    # response_lost, and forwarded for the phones of ``whole``: what the server was asked
    # and what it answered (for a lost answer the phone never heard it; the harness
    # records what the server did)
    request_body: bytes = b""
    response_body: bytes = b""


@dataclass
class _Peer:
    """One client connection: its HTTP/1.1 state, its streams and its upstream pool."""

    conn: h11.Connection
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pool: httpx.AsyncClient


class FaultProxy:
    """An HTTP/1.1 proxy that applies :class:`WireFaults` between phones and a gateway
    server, in a thread of its own with its own asyncio loop.

    ``phone_of(api_key)`` names the phone of a request's key (``X-API-Key`` or
    ``Authorization: Bearer``) for events and partitions. The proxy owns ``rng``: it draws
    from it on its own thread. Every public method may be called from any thread.

    It listens on ``listen`` (host, port; default a free loopback port), with TLS when
    given a server-side ``tls`` context (a real phone's app calls https only). For the
    phones ``whole`` names, ``record`` gets every forwarded exchange with its bodies, so the
    harness can see what the server handed a phone it does not run; ``rewrite(phone, path,
    body)`` may change the answer such a phone gets (``record`` keeps the server's), and
    ``gate(phone, path)`` may name a reason not to forward an exchange at all: it is
    answered 503 with that reason (outcome ``gated``).
    """

    def __init__(
        self,
        upstream: str,
        *,
        faults: WireFaults,
        rng: random.Random,
        record: Callable[[WireEvent], None] | None = None,
        phone_of: Callable[[str], str | None] | None = None,
        listen: tuple[str, int] = ("127.0.0.1", 0),
        tls: ssl.SSLContext | None = None,
        whole: Callable[[str], bool] | None = None,
        rewrite: Callable[[str, str, bytes], bytes] | None = None,
        gate: Callable[[str | None, str], str | None] | None = None,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self._listen = listen
        self._tls = tls
        self._whole = whole
        self._rewrite = rewrite
        self._gate = gate
        self.url = ""  # set by start()
        self._faults = faults
        self._rng = rng
        self._record = record
        self._phone_of = phone_of
        self._lock = threading.Lock()
        self._partitions: dict[str, float] = {}  # phone -> time.monotonic() when it heals
        self._counts = dict.fromkeys(WIRE_OUTCOMES, 0)
        self._record_error: Exception | None = None
        self._loop = LoopThread("fault-proxy", self._open, self._close)
        self._server: asyncio.Server | None = None
        self._pools: list[httpx.AsyncClient] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._accepted = 0
        self._closing = False

    def start(self) -> str:
        """Listen (by default on a free loopback port); returns the proxy's base URL."""
        if self._loop.running:
            raise ProxyError("This FaultProxy is already running; stop() it before starting it.")
        try:
            self._loop.start()
        except LoopFailed as exc:
            raise ProxyError(
                f"The proxy could not listen on {self._listen[0]}:{self._listen[1]} (see the "
                "cause); check that the address is this machine's and the port is free."
            ) from exc.__cause__
        return self.url

    def stop(self) -> None:
        """Close every open connection and stop listening; raises :class:`ProxyError` if the
        ``record`` hook failed during the run."""
        self._loop.stop()
        error, self._record_error = self._record_error, None
        if error is not None:
            raise ProxyError(
                "The fault proxy's record hook raised (see the cause); the proxy went on "
                "calling it. Make the hook safe to call from the proxy's thread."
            ) from error

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def faults(self) -> WireFaults:
        """The faults applied to exchanges that start from now on."""
        with self._lock:
            return self._faults

    def set_faults(self, faults: WireFaults) -> None:
        """Apply ``faults`` to every exchange that starts from now on."""
        with self._lock:
            self._faults = faults

    def partition(self, phone: str, seconds: float) -> None:
        """Cut ``phone`` off for ``seconds`` wall seconds (extending a running partition)."""
        with self._lock:
            end = time.monotonic() + seconds
            self._partitions[phone] = max(end, self._partitions.get(phone, end))

    def heal(self, phone: str) -> None:
        """End ``phone``'s partition now."""
        with self._lock:
            self._partitions.pop(phone, None)

    def counts(self) -> dict[str, int]:
        """How many exchanges ended in each outcome of :data:`WIRE_OUTCOMES` so far."""
        with self._lock:
            return dict(self._counts)

    # -- on the proxy's thread ----------------------------------------------------------------

    async def _open(self) -> None:
        self._closing = False
        # a backlog for the hundreds of phones that may connect at once
        host, port = self._listen
        self._server = await asyncio.start_server(
            self._serve, host, port, backlog=2048, ssl=self._tls
        )
        bound = self._server.sockets[0].getsockname()[1]
        scheme = "https" if self._tls is not None else "http"
        local = "127.0.0.1" if host in ("", "0.0.0.0") else host  # noqa: S104 - a comparison
        self.url = f"{scheme}://{local}:{bound}"
        limits = httpx.Limits(max_connections=_POOL, max_keepalive_connections=_POOL)
        tls = httpx.create_ssl_context()  # shared: each one takes milliseconds to build
        self._pools = [
            httpx.AsyncClient(
                timeout=httpx.Timeout(None, connect=10.0),  # the phone's own timeout decides
                limits=limits,
                verify=tls,
                trust_env=False,  # never through an HTTP_PROXY of the environment
            )
            for _ in range(_POOLS)
        ]

    async def _close(self) -> None:
        self._closing = True
        if self._server is not None:
            self._server.close()
        await asyncio.sleep(0)  # connections accepted just now register their tasks
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        for pool in self._pools:
            await pool.aclose()
        self._server, self._pools = None, []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client connection: its requests, one after the other (keep-alive)."""
        task = asyncio.current_task()
        if self._closing or task is None:
            writer.close()
            return
        self._tasks.add(task)
        self._accepted += 1
        peer = _Peer(
            h11.Connection(h11.SERVER), reader, writer, self._pools[self._accepted % _POOLS]
        )
        try:
            while await self._cycle(peer):
                peer.conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            await _refuse(peer, exc)
        except OSError:
            pass  # the client went away
        except asyncio.CancelledError:
            if not self._closing:
                raise  # only stop() cancels a connection; asyncio's TLS callback logs a raise
        except Exception:
            logger.exception("The fault proxy dropped a connection after an unexpected error.")
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _cycle(self, peer: _Peer) -> bool:
        """Serve one request; whether the connection can carry another."""
        request = await _next_event(peer)
        if not isinstance(request, h11.Request):
            return False  # the client closed the connection
        body = bytearray()
        while not isinstance(event := await _next_event(peer), h11.EndOfMessage):
            if not isinstance(event, h11.Data):
                return False
            body += event.data
        answer = await self._exchange(peer, request, bytes(body))
        if answer is None:
            return False
        status, reason, headers, content = answer
        response = h11.Response(status_code=status, reason=reason, headers=headers)
        await _send(peer, response, h11.Data(data=content), h11.EndOfMessage())
        return peer.conn.our_state is h11.DONE and peer.conn.their_state is h11.DONE

    async def _exchange(self, peer: _Peer, request: h11.Request, body: bytes) -> Answer | None:
        """The faults, then the upstream: the answer to write, or None when the connection
        was dropped."""
        arrived, at = time.monotonic(), time.time()
        if not request.target.startswith(b"/"):
            return _json_answer(400, "The proxy takes a path starting with '/' as the target.")
        headers = request.headers.raw_items()
        key = _api_key(headers)
        phone = self._phone_of(key) if key is not None and self._phone_of is not None else None
        faults, rng = self.faults, self._rng
        method = request.method.decode("ascii")
        path = request.target.split(b"?", 1)[0].decode("latin-1")

        def note(outcome: str, status: int = 0, answered: bytes = b"") -> None:
            elapsed = (time.monotonic() - arrived) * 1000.0
            sent = body if answered else b""
            self._note(WireEvent(at, phone, method, path, outcome, status, elapsed, sent, answered))

        shut = self._gate(phone, path) if self._gate is not None else None
        if shut is not None:
            note("gated", 503)
            return _json_answer(503, shut)
        lost = ""
        if phone is not None and self._partitioned(phone):
            lost = "partitioned"
        elif faults.request_loss and rng.random() < faults.request_loss:
            lost = "request_lost"
        elif faults.reset and rng.random() < faults.reset:
            note("reset")
            _reset(peer.writer)
            return None
        if lost:
            note(lost)
            await _hold(peer.reader, faults.hold)
            return None
        jitter = rng.uniform(-faults.jitter, faults.jitter) if faults.jitter else 0.0
        delay = max(0.0, faults.latency + jitter)
        await asyncio.sleep(delay)
        whole = phone is not None and self._whole is not None and self._whole(phone)
        if whole:  # its answer is read here: plain, whatever the phone accepts
            headers = [(k, v) for k, v in headers if k.lower() != b"accept-encoding"]
            headers.append((b"accept-encoding", b"identity"))
        try:
            answer = await self._forward(peer.pool, method, request.target, headers, body)
        except httpx.TransportError as exc:
            note("upstream_error")
            reason = str(exc) or type(exc).__name__
            return _json_answer(502, f"The gateway server {self.upstream} failed: {reason}")
        if faults.response_loss and rng.random() < faults.response_loss:
            note("response_lost", answer[0], answer[3])
            await _hold(peer.reader, faults.hold)
            return None
        await asyncio.sleep(delay)
        if not whole:
            note("forwarded", answer[0])
            return answer
        note("forwarded", answer[0], answer[3])  # what the server answered
        if self._rewrite is None or phone is None:
            return answer
        status, phrase, kept, content = answer
        changed = self._rewrite(phone, path, content)
        if changed == content:
            return answer
        kept = [(k, v) for k, v in kept if k.lower() != b"content-length"]
        return status, phrase, [*kept, (b"content-length", str(len(changed)).encode())], changed

    async def _forward(
        self, pool: httpx.AsyncClient, method: str, target: bytes, headers: Headers, body: bytes
    ) -> Answer:
        """The request to the upstream as it came; its answer as it went, raw bytes."""
        url = self.upstream + target.decode("latin-1")
        headers = _end_to_end(headers, _NOT_FORWARDED)
        response = await pool.send(
            httpx.Request(method, url, headers=headers, content=body), stream=True
        )
        try:
            content = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            await response.aclose()
        reason = response.extensions.get("reason_phrase", b"")
        return response.status_code, reason, _end_to_end(response.headers.raw, _HOP_BY_HOP), content

    def _partitioned(self, phone: str) -> bool:
        with self._lock:
            return time.monotonic() < self._partitions.get(phone, float("-inf"))

    def _note(self, event: WireEvent) -> None:
        with self._lock:
            self._counts[event.outcome] += 1
        if self._record is None:
            return
        try:
            self._record(event)
        except Exception as exc:
            logger.exception("The fault proxy's record hook raised on %s.", event)
            if self._record_error is None:
                self._record_error = exc


async def _next_event(peer: _Peer) -> object:
    """The next h11 event from the client, reading as much as it takes."""
    while (event := peer.conn.next_event()) is h11.NEED_DATA:
        if peer.conn.they_are_waiting_for_100_continue:
            await _send(peer, h11.InformationalResponse(status_code=100, headers=[]))
        peer.conn.receive_data(await peer.reader.read(_READ_SIZE))
    return event


async def _send(
    peer: _Peer, *events: h11.InformationalResponse | h11.Response | h11.Data | h11.EndOfMessage
) -> None:
    for event in events:
        if not isinstance(event, h11.Data) or event.data:  # no Data at all for HEAD, 204, 304
            peer.writer.write(peer.conn.send(event))
    await peer.writer.drain()


async def _refuse(peer: _Peer, exc: h11.RemoteProtocolError) -> None:
    """Answer a request that is not HTTP/1.1 with its 4xx status, then close."""
    if peer.conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    status, _, headers, body = _json_answer(exc.error_status_hint, f"Bad request: {exc}")
    with contextlib.suppress(h11.LocalProtocolError, OSError):
        response = h11.Response(status_code=status, headers=headers)
        await _send(peer, response, h11.Data(data=body), h11.EndOfMessage())


async def _hold(reader: asyncio.StreamReader, seconds: float) -> None:
    """Keep a lost exchange's connection open until the client gives up or ``seconds`` pass."""
    with contextlib.suppress(TimeoutError, OSError):
        async with asyncio.timeout(seconds):
            while await reader.read(_READ_SIZE):
                pass


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close the connection with a RST: SO_LINGER on with a zero timeout, then close."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _api_key(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The request's key: ``X-API-Key``, else ``Authorization: Bearer``."""
    bearer = None
    for name, value in headers:
        if name.lower() == b"x-api-key":
            return value.strip().decode("latin-1")
        scheme, _, credentials = value.partition(b" ")
        if name.lower() == b"authorization" and scheme.lower() == b"bearer":
            bearer = credentials.strip().decode("latin-1")
    return bearer


def _end_to_end(headers: Iterable[tuple[bytes, bytes]], dropped: frozenset[bytes]) -> Headers:
    """``headers`` without ``dropped`` and without those the Connection header names."""
    headers = list(headers)
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
    }
    return [(name, value) for name, value in headers if name.lower() not in dropped | named]


def _json_answer(status: int, reason: str) -> Answer:
    """The proxy's own answer: a short JSON reason."""
    body = json.dumps({"detail": reason, "source": "fault-proxy"}).encode()
    length = str(len(body)).encode()
    return status, b"", [(b"content-type", b"application/json"), (b"content-length", length)], body
