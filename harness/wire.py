"""Device requests on the wire, for phones running on the wall clock.

:class:`HttpTransport` is the simulator's ``Transport``: each request is an asyncio task on
the ``WallClockEnvironment``'s loop; the phone waits on a SimPy event that the task completes
through ``env.post`` when the answer or the failure arrives. Hundreds of phones have requests
in flight at once, on at most ``MAX_CONNECTIONS`` keep-alive HTTP/1.1 connections that any
phone's next request reuses (the most recently used first).

It speaks HTTP/1.1 itself (``h11`` on asyncio streams, as the fault proxy does) rather than
through ``httpx.AsyncClient``: one process drives thousands of phones only if a request
costs it little CPU, and httpx's async stack cost about three times as much per request
(3.7-4.6 against 1.3 ms of CPU, event-loop wake-ups included; part of it is httpcore
importing the absent ``sniffio`` again for every lock it makes), and a pool of hundreds of
connections more still (httpcore scans every connection and waiting request whenever one
starts or ends): BENCHMARKS.md, "Virtual phones in real time". Plain ``http`` and
``https`` (certificates checked as httpx checks them); no proxy from the environment, no
redirects, no compression: a gateway's device API needs none.

:class:`BlockingDevice` is a ``GatewayPort`` (``call``, blocking, httpx) for the few device
requests the harness makes itself outside the simulation: reading each phone's inbound
history after the run.

A phone's timeout is in simulation seconds; on the wire it becomes ``timeout / scale`` wall
seconds, but never less than ``MIN_WALL_TIMEOUT``: at 120x a 30 s timeout would be 0.25 s,
and a server answering in 0.3 s under load would look like a lost network. The timeout
covers the whole exchange: waiting for a connection, connecting, sending, the answer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import h11
import httpx
import simpy

from simulator.port import Reply
from simulator.realtime import WallClockEnvironment

from .timing import RequestTimes

__all__ = [
    "DEVICE_PATH",
    "KEEPALIVE_EXPIRY",
    "MAX_CONNECTIONS",
    "MIN_WALL_TIMEOUT",
    "BlockingDevice",
    "HttpTransport",
    "device_headers",
]

DEVICE_PATH = "/sms-gateway/"  # the device API's endpoints are under it
MIN_WALL_TIMEOUT = 5.0
MAX_CONNECTIONS = 512
# Idle connections are dropped before uvicorn's 5 s keep-alive timeout closes them, so a
# request is never written to a connection the server is closing at that moment.
KEEPALIVE_EXPIRY = 2.0
_READ_SIZE = 65536


def device_headers(api_key: str, auth: str) -> dict[str, str]:
    """How a phone presents its key: the app's ``X-API-Key`` or app 1.1's ``Bearer``."""
    if auth == "bearer":
        return {"Authorization": f"Bearer {api_key}"}
    return {"X-API-Key": api_key}


def _reply(status: int, content: bytes) -> Reply:
    try:
        data = json.loads(content) if content else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = None
    return Reply(status, data)


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
                f"{DEVICE_PATH}{endpoint}", json=dict(body), headers=device_headers(api_key, auth)
            )
        except httpx.TimeoutException:
            return Reply(0, None, "timeout")
        except httpx.HTTPError:
            return Reply(0, None, "connection")
        return _reply(response.status_code, response.content)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


@dataclass(eq=False)
class _Connection:
    """One HTTP/1.1 connection to the server: its streams and its protocol state."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    protocol: h11.Connection
    idle_since: float = 0.0

    def close(self) -> None:
        self.writer.close()


class HttpTransport:
    """The gateway's device API at ``base_url`` (the server, or a fault proxy before it)."""

    def __init__(
        self, env: WallClockEnvironment, base_url: str, *, tls: ssl.SSLContext | None = None
    ) -> None:
        """``tls``: the CAs an https ``base_url`` is checked against (default: certifi's,
        as httpx's)."""
        self.env = env
        self.base_url = base_url.rstrip("/")
        url = httpx.URL(self.base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"The device API's URL must be http:// or https://, got {base_url!r}.")
        self._host = url.host
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._authority = url.netloc
        self._prefix = url.raw_path.rstrip(b"/")
        self._tls: ssl.SSLContext | None = (
            (tls or httpx.create_ssl_context()) if url.scheme == "https" else None
        )
        self.requests = 0
        self.timings = RequestTimes()  # wall time from sending to the answer, per endpoint
        self._idle: collections.deque[_Connection] = collections.deque()
        self._busy: set[_Connection] = set()
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)  # bound to the loop at first use
        self.blocking = BlockingDevice(self.base_url)

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
        headers = [(k.encode(), v.encode()) for k, v in device_headers(api_key, auth).items()]
        # the JSON httpx writes (compact, UTF-8), so the bytes on the wire do not change
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        began = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                reply = await self._post(f"{DEVICE_PATH}{endpoint}", headers, content)
            self.timings.record(endpoint, time.perf_counter() - began)
        except TimeoutError:
            reply = Reply(0, None, "timeout")
        except (OSError, h11.ProtocolError):
            reply = Reply(0, None, "connection")
        except Exception as exc:  # a bug here: the phone's process raises it, the run stops
            self.env.post(functools.partial(event.fail, exc))
            return
        self.env.post(lambda: event.succeed(reply))

    # -- HTTP/1.1 ---------------------------------------------------------------------------

    async def _post(self, path: str, headers: list[tuple[bytes, bytes]], body: str) -> Reply:
        """One POST on a connection of its own; the connection is kept for the next request
        when both sides finished the exchange cleanly, else closed."""
        async with self._slots:
            conn = self._reuse() or await self._connect()
            self._busy.add(conn)
            try:
                reply = await self._cycle(conn, path, headers, body.encode())
            except BaseException:  # a failure or a timeout: the connection's state is unknown
                conn.close()
                raise
            finally:
                self._busy.discard(conn)
            protocol = conn.protocol
            if protocol.our_state is h11.DONE and protocol.their_state is h11.DONE:
                protocol.start_next_cycle()
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            else:
                conn.close()
            return reply

    def _reuse(self) -> _Connection | None:
        """The most recently used idle connection still fit for a request, if any."""
        stale = time.monotonic() - KEEPALIVE_EXPIRY
        while self._idle and self._idle[0].idle_since < stale:
            self._idle.popleft().close()
        while self._idle:
            conn = self._idle.pop()
            if not conn.reader.at_eof() and not conn.writer.is_closing():
                return conn
            conn.close()  # the server closed it while it was idle
        return None

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(
            self._host,
            self._port,
            ssl=self._tls,
            server_hostname=self._host if self._tls else None,
        )
        return _Connection(reader, writer, h11.Connection(h11.CLIENT))

    async def _cycle(
        self, conn: _Connection, path: str, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> Reply:
        protocol = conn.protocol
        request = h11.Request(
            method=b"POST",
            target=self._prefix + path.encode(),
            headers=[
                (b"host", self._authority),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"accept", b"application/json"),
                *headers,
            ],
        )
        conn.writer.write(
            protocol.send(request)
            + protocol.send(h11.Data(data=body))
            + protocol.send(h11.EndOfMessage())
        )
        await conn.writer.drain()
        status, content = 0, bytearray()
        while True:
            event = protocol.next_event()
            if event is h11.NEED_DATA:
                protocol.receive_data(await conn.reader.read(_READ_SIZE))
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                content += event.data
            elif isinstance(event, h11.EndOfMessage):
                return _reply(status, bytes(content))
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionResetError("The server closed the connection without answering.")

    def close(self) -> None:
        """Close every connection and the blocking client."""
        self.blocking.close()
        conns = [*self._idle, *self._busy]
        self._idle.clear()
        self._busy.clear()
        loop = self.env.loop
        if conns and not loop.is_closed() and not loop.is_running():
            loop.run_until_complete(_close_all(conns))


async def _close_all(conns: list[_Connection]) -> None:
    for conn in conns:
        conn.close()
    for conn in conns:
        with contextlib.suppress(OSError):
            await conn.writer.wait_closed()
