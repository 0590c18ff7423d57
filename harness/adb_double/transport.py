"""A virtual phone served as an ADB device: the adbd transport protocol on loopback TCP.

:class:`AdbDouble` is a **test double** of a phone's ``adbd``: the real ``adb`` server
attaches it with ``adb connect 127.0.0.1:PORT`` and from then on every client (adbutils, the
``adb`` command) reaches the :class:`~.phone.PhoneModel` behind it exactly as it would reach
a phone on USB. It runs on a thread of its own with its own asyncio loop, on an ephemeral
port, and starts and stops cleanly (a context manager).

The protocol (AOSP ``packages/modules/adb/protocol.txt``; the numbers of platform-tools 29,
Debian's ``adb`` 1.0.41, ``adb.h``): messages of a 24-byte little-endian header (command,
arg0, arg1, payload length, payload checksum, command ^ 0xffffffff) and a payload.

- ``CNXN(version, maxdata, "host::...")`` from the server, answered with this device's
  ``CNXN(0x01000001, 1 MiB, "device::ro.product.name=..;ro.product.model=..;
  ro.product.device=..;features=")``. No ``AUTH``: the double requires none. Version
  0x01000001 (``A_VERSION_SKIP_CHECKSUM``) means that neither side checksums payloads any
  more; the double still sends the byte sum while the peer's version is older.
- ``OPEN(remote, 0, "service")`` -> ``OKAY(local, remote)`` (the OPEN counts as the host's
  first READY) or ``CLSE(0, remote)`` for a service the double does not serve;
  ``WRTE(local, remote, data)`` one at a time, each waiting for the peer's ``OKAY``; the
  double acknowledges each host ``WRTE`` at once; ``CLSE`` ends a stream and is not answered.
- Services: ``shell:CMD`` (the legacy raw shell: output, stdout and stderr merged, then the
  stream closes; the status reaches a client through ``; echo X4EXIT:$?``, see ``shell``),
  ``sync:`` (``sync``) and ``reboot:``. The banner advertises **no features**, so clients
  use exactly these: no ``shell_v2`` (``shell,v2:`` is refused), sync v1 (no ``stat_v2``,
  ``ls_v2``, ``sendrecv_v2``), no ``cmd``/``abb_exec`` (``adb install`` pushes and runs
  ``pm install``), no ``delayed_ack``.
- A ``reboot`` drops every connection, as a phone's adbd dies; the adb server reconnects a
  TCP device by itself (250 ms later, then every 10 s, six times) and finds the phone booted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Self

from ..loop_thread import LoopFailed, LoopThread
from .commands import run_command
from .phone import PhoneModel
from .shell import run_line
from .sync import serve_sync

__all__ = ["A_VERSION", "FEATURES", "MAX_PAYLOAD", "AdbDouble", "DoubleError"]

logger = logging.getLogger(__name__)

A_VERSION_MIN = 0x01000000
A_VERSION = 0x01000001  # A_VERSION_SKIP_CHECKSUM
MAX_PAYLOAD = 1024 * 1024
MAX_PAYLOAD_V1 = 4 * 1024  # what may be sent before the peer's CNXN said more
FEATURES: tuple[str, ...] = ()
_HEADER = struct.Struct("<6I")


def _command(name: bytes) -> int:
    return int.from_bytes(name, "little")


CNXN, OPEN, OKAY, WRTE, CLSE = (_command(n) for n in (b"CNXN", b"OPEN", b"OKAY", b"WRTE", b"CLSE"))


class DoubleError(RuntimeError):
    """The ADB test double could not start (the message says why)."""


Service = Callable[["_Stream"], Awaitable[None]]


class _Stream:
    """One stream of a connection: the service's end of it."""

    def __init__(self, conn: _Connection, local: int, remote: int) -> None:
        self.conn = conn
        self.local = local
        self.remote = remote
        self.ready = asyncio.Event()
        self.ready.set()  # an OPEN implies the host's first READY
        self.incoming = asyncio.StreamReader()
        self.task: asyncio.Task[None] | None = None

    async def read_exactly(self, size: int) -> bytes:
        """The next ``size`` bytes the host wrote to this stream."""
        return await self.incoming.readexactly(size)

    async def write(self, data: bytes) -> None:
        """Send ``data``, one message at a time, each after the host's READY."""
        limit = self.conn.max_payload
        for start in range(0, len(data), limit):
            await self.ready.wait()
            self.ready.clear()
            await self.conn.send(WRTE, self.local, self.remote, data[start : start + limit])


class _Connection:
    """One TCP connection from the adb server: its handshake and its streams."""

    def __init__(
        self, double: AdbDouble, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.double = double
        self.reader = reader
        self.writer = writer
        self.version = A_VERSION_MIN
        self.max_payload = MAX_PAYLOAD_V1
        self.online = False
        self.streams: dict[int, _Stream] = {}
        self._next_id = 0

    async def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        check = 0 if self.version >= A_VERSION else sum(data) & 0xFFFFFFFF
        header = _HEADER.pack(command, arg0, arg1, len(data), check, command ^ 0xFFFFFFFF)
        self.writer.write(header + data)
        await self.writer.drain()

    async def run(self) -> None:
        """Read messages until the server goes away or breaks the protocol."""
        try:
            while True:
                header = await self.reader.readexactly(_HEADER.size)
                command, arg0, arg1, length, _check, magic = _HEADER.unpack(header)
                if magic != command ^ 0xFFFFFFFF or length > MAX_PAYLOAD:
                    logger.warning("adb double: a bad message header; closing the connection")
                    return
                payload = await self.reader.readexactly(length)
                await self._handle(command, arg0, arg1, payload)
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            for stream in list(self.streams.values()):
                self._drop(stream)
            self.writer.close()

    async def _handle(self, command: int, arg0: int, arg1: int, payload: bytes) -> None:
        if command == CNXN:
            await self._connect(arg0, arg1)
        elif not self.online:
            return  # anything before CNXN is ignored (protocol.txt)
        elif command == OPEN and arg0 and not arg1:
            await self._open(arg0, payload.rstrip(b"\0").decode("utf-8", "replace"))
        elif command == OKAY and arg0 and arg1:
            stream = self.streams.get(arg1)
            if stream is not None:
                stream.ready.set()
        elif command == WRTE and arg0 and arg1:
            stream = self.streams.get(arg1)
            if stream is not None:
                stream.incoming.feed_data(payload)
                await self.send(OKAY, stream.local, stream.remote)
        elif command == CLSE and arg1:
            stream = self.streams.get(arg1)
            if stream is not None:
                self._drop(stream)

    async def _connect(self, version: int, max_payload: int) -> None:
        self.version = min(version, A_VERSION)
        self.max_payload = min(max_payload, MAX_PAYLOAD)
        self.online = True
        with self.double.phone.lock:
            props = self.double.phone.props()
        banner = "device::" + "".join(
            f"{key}={props[key]};"
            for key in ("ro.product.name", "ro.product.model", "ro.product.device")
        )
        banner += "features=" + ",".join(FEATURES)
        # Sent with a checksum: the server may not know yet that it may skip it.
        data = banner.encode()
        header = _HEADER.pack(CNXN, A_VERSION, MAX_PAYLOAD, len(data), sum(data), CNXN ^ 0xFFFFFFFF)
        self.writer.write(header + data)
        await self.writer.drain()

    async def _open(self, remote: int, destination: str) -> None:
        service = self.double.service(destination)
        if service is None:
            logger.info("adb double: refused the service %r", destination)
            await self.send(CLSE, 0, remote)
            return
        self._next_id += 1
        stream = _Stream(self, self._next_id, remote)
        self.streams[stream.local] = stream
        await self.send(OKAY, stream.local, remote)
        stream.task = asyncio.create_task(self._serve(stream, service))

    async def _serve(self, stream: _Stream, service: Service) -> None:
        try:
            await service(stream)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except Exception:
            # A bug of the double: say so in the log and close the stream, so that the
            # client fails at once instead of waiting for an answer that never comes.
            logger.exception("adb double: the service of stream %d failed", stream.local)
        if self.streams.pop(stream.local, None) is not None:
            with contextlib.suppress(ConnectionError):
                await self.send(CLSE, stream.local, stream.remote)

    def _drop(self, stream: _Stream) -> None:
        self.streams.pop(stream.local, None)
        stream.incoming.feed_eof()
        if stream.task is not None and stream.task is not asyncio.current_task():
            stream.task.cancel()


class AdbDouble:
    """A :class:`PhoneModel` served as an ADB device on ``127.0.0.1`` (a test double).

    ``start()`` returns the serial the adb server will know it by (``127.0.0.1:PORT``);
    attach it with ``adb connect SERIAL`` (or ``adbutils.AdbClient.connect``). Every public
    method may be called from any thread.
    """

    def __init__(self, phone: PhoneModel) -> None:
        self.phone = phone
        self.serial = ""  # set by start()
        self._loop = LoopThread("adb-double", self._open, self._close)
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], _Connection] = {}
        self.connections_accepted = 0

    @property
    def port(self) -> int:
        """The TCP port it listens on (0 before ``start()``)."""
        return int(self.serial.rpartition(":")[2] or 0)

    def start(self) -> str:
        """Listen on a free loopback port; returns the device's serial ``127.0.0.1:PORT``."""
        if self._loop.running:
            raise DoubleError("This AdbDouble is already running; stop() it first.")
        try:
            self._loop.start()
        except LoopFailed as exc:
            raise DoubleError(
                "The ADB test double could not listen on 127.0.0.1 (see the cause); check "
                "that loopback sockets are allowed here."
            ) from exc.__cause__
        return self.serial

    def stop(self) -> None:
        """Close every connection and stop listening."""
        self._loop.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def drop_connections(self) -> None:
        """Cut every connection now, as a phone that loses power (the server reconnects)."""
        if self._loop.running:
            self._loop.call(self._drop_all())

    def service(self, destination: str) -> Service | None:
        """The service an OPEN asks for, or ``None`` for one the double does not serve."""
        if destination.startswith("shell:") and destination != "shell:":
            return partial(self._shell, destination.removeprefix("shell:"))
        if destination == "sync:":
            return partial(serve_sync, model=self.phone)
        if destination.startswith("reboot:"):
            return self._reboot
        return None

    # -- on the double's thread ----------------------------------------------------------------

    async def _shell(self, line: str, stream: _Stream) -> None:
        def run() -> tuple[bytes, bool]:
            with self.phone.lock:
                outcome = run_line(line, partial(run_command, self.phone))
            return outcome.out.encode(), outcome.reboot

        output, reboot = await asyncio.to_thread(run)
        await stream.write(output)
        if reboot:
            await self._drop_all()

    async def _reboot(self, stream: _Stream) -> None:
        with self.phone.lock:
            self.phone.boot()
        await self._drop_all()

    async def _open(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.serial = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None:
            writer.close()
            return
        self.connections_accepted += 1
        self._connections[task] = _Connection(self, reader, writer)
        try:
            await self._connections[task].run()
        finally:
            self._connections.pop(task, None)

    async def _drop_all(self) -> None:
        # Abort the sockets rather than cancel the tasks: the connection ends as when the
        # phone dies, and its task ends normally (asyncio 3.11 logs a cancelled one).
        tasks = [task for task in self._connections if task is not asyncio.current_task()]
        for conn in list(self._connections.values()):
            conn.writer.transport.abort()
        if tasks:  # wait, not gather: a reboot's stream cancelled meanwhile cancels no other
            await asyncio.wait(tasks)

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._drop_all()
        if self._server is not None:
            await self._server.wait_closed()
        self._server = None
